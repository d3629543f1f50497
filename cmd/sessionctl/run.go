package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

// errUsage marks errors in the command line: exit code 2.
var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// env is what every command gets: the common flags and the outputs.
type env struct {
	redisURL string
	prefix   string
	json     bool
	timeout  time.Duration
	stdout   io.Writer
	stderr   io.Writer
}

// register adds the common flags to fs: they are accepted before and after
// the command's name.
func (e *env) register(fs *flag.FlagSet) {
	fs.StringVar(&e.redisURL, "redis", e.redisURL, "Redis `URL` of the session store (forms as for whatsup -redis); default: env STICKLESS_REDIS_URL")
	fs.StringVar(&e.prefix, "prefix", e.prefix, "`prefix` of the store's Redis keys (redisstore.Options.Prefix)")
	fs.BoolVar(&e.json, "json", e.json, "print JSON instead of a table")
	fs.DurationVar(&e.timeout, "timeout", e.timeout, "bound on each Redis call")
}

const usageText = `Usage: sessionctl [flags] COMMAND [ARGS]

Commands:
  list USER          the user's sessions: handle, created, last seen, expires, user agent
  revoke USER HANDLE end one session of the user (HANDLE as list shows it)
  revoke-all USER    end every session of the user and print how many
  stats              sessions, bound users, total and largest size, expiring within the hour
  prune              remove stale entries from the user indexes
  keys add FILE      generate a signing key and put it first in the secrets file
  keys retire FILE   drop every key of the secrets file but the first two

Flags (before or after the command):
`

// command is one subcommand: it parses its own arguments.
type command func(ctx context.Context, e *env, args []string) error

var commands = map[string]command{
	"list":       runList,
	"revoke":     runRevoke,
	"revoke-all": runRevokeAll,
	"stats":      runStats,
	"prune":      runPrune,
	"keys":       runKeys,
}

// Run runs sessionctl with args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{prefix: redisstore.DefaultPrefix, timeout: 10 * time.Second, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("sessionctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageErr("no command given")
	}
	name := fs.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		return usageErr("unknown command %q (want list, revoke, revoke-all, stats, prune or keys)", name)
	}
	if e.redisURL == "" {
		e.redisURL = os.Getenv("STICKLESS_REDIS_URL")
	}
	return cmd(ctx, e, fs.Args()[1:])
}

// parseArgs parses a command's arguments: the common flags may come among
// them; want is the names of the positional arguments.
func (e *env) parseArgs(name string, args []string, want ...string) ([]string, error) {
	fs := flag.NewFlagSet("sessionctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	e.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sessionctl %s [flags]", name)
		for _, w := range want {
			fmt.Fprintf(fs.Output(), " %s", w)
		}
		fmt.Fprintln(fs.Output())
		fs.PrintDefaults()
	}
	// Flags and positional arguments in any order.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != len(want) {
		return nil, usageErr("%s wants %s, got %d argument(s)", name, strings.Join(want, " "), len(pos))
	}
	if e.timeout <= 0 {
		return nil, usageErr("-timeout must be positive")
	}
	return pos, nil
}

// needRedis checks that a Redis URL was given.
func (e *env) needRedis() error {
	if e.redisURL == "" {
		return usageErr("no Redis: give -redis URL or set STICKLESS_REDIS_URL")
	}
	if _, err := redisstore.ParseURL(e.redisURL); err != nil {
		return usageErr("-redis: %v", err)
	}
	return nil
}

// admin opens the store and a session.Admin over it, for the commands
// that use the public session API: no signing key is needed. Each call is
// bounded by -timeout through its context.
func (e *env) admin(ctx context.Context) (*session.Admin, func(), error) {
	if err := e.needRedis(); err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	store, err := redisstore.NewFromURL(cctx, e.redisURL, redisstore.Options{Prefix: e.prefix, FailFast: true})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach Redis: %w", err)
	}
	a := session.NewAdmin(store, session.Config{
		StoreTimeout: e.timeout,
		Logger:       slog.New(slog.DiscardHandler), // the errors come back to us
	})
	return a, func() { store.Close() }, nil
}

// printJSON writes v as indented JSON on stdout.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
