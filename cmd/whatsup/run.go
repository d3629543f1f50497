package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/stickless/stickless/internal/logthrottle"
	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

// errUsage marks errors in the command line: exit code 2.
var errUsage = errors.New("usage")

// options are the command-line settings of whatsup.
type options struct {
	addr            string
	instance        string
	redisURL        string
	secretsFile     string
	insecureCookie  bool
	idleTimeout     time.Duration
	absoluteTimeout time.Duration
	storeTimeout    time.Duration
	headerTimeout   time.Duration
	reauth          time.Duration
	clientCache     bool
	clearValues     bool
	waitReplicas    int
	maxStreams      int
	ops             opsOptions // metrics, log format, trusted proxies (ops.go)
	accessLog       bool
	writeStatic     string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("whatsup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8000", "`address` to listen on")
	fs.StringVar(&o.instance, "instance", "", "instance `name` sent in the X-Instance header (default hostname:port)")
	fs.StringVar(&o.redisURL, "redis", "", "Redis `URL` of the shared session store: redis://[user:pass@]host:port[/db], rediss:// (TLS);\nCluster: redis://host:port?addr=host2:port2; Sentinel: redis://sentinel:26379?addr=sentinel2:26379&master_set=mymaster;\ndefault: env STICKLESS_REDIS_URL (which keeps a password out of ps); empty keeps sessions in this process (memstore)")
	fs.StringVar(&o.secretsFile, "secrets-file", "", "`file` of cookie signing keys, one per line (32+ characters), the first signs; default: env STICKLESS_SECRETS, comma-separated")
	fs.BoolVar(&o.insecureCookie, "insecure-cookie", false, "development only: plain-HTTP cookie (no Secure attribute, no __Host- prefix)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", session.DefaultIdleTimeout, "end a session after this long without a request")
	fs.DurationVar(&o.absoluteTimeout, "absolute-timeout", session.DefaultAbsoluteTimeout, "end a session this long after login")
	fs.DurationVar(&o.storeTimeout, "store-timeout", session.DefaultStoreTimeout, "bound on every session store call")
	fs.DurationVar(&o.headerTimeout, "read-header-timeout", defaultReadHeaderTimeout, "cut off a client that has not sent its request headers within this time")
	fs.IntVar(&o.waitReplicas, "wait-replicas", 0, "with -redis: a logout or revoke waits (up to 500 ms) until this many replicas have it, so that a failover cannot bring the session back (redisstore.Options.WaitReplicas)")
	fs.BoolVar(&o.clientCache, "client-cache", false, "with -redis: serve reads of unchanged sessions from a client-side cache (redisstore.Options.ClientCache)")
	fs.BoolVar(&o.clearValues, "disable-encryption", false, "store session values in clear (session.Config.DisableEncryption); default: encrypted under a key only each session's cookie unlocks")
	fs.IntVar(&o.maxStreams, "max-streams", defaultMaxStreams, "event streams (GET /api/events) this instance holds at once, about 47 KiB each; past it 503 with Retry-After")
	fs.DurationVar(&o.reauth, "reauth-after", defaultReauth, "\"log out everywhere\" asks to log in again when the login is older than this")
	o.ops.register(fs)
	fs.BoolVar(&o.accessLog, "access-log", false, "log one line per request (method, path, status, bytes, duration)")
	fs.StringVar(&o.writeStatic, "write-static", "", "write the static files under their content-hashed names into `dir` for nginx's /static/, then exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: whatsup [flags]\n\nThe stickless demo app. Flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-idle-timeout", o.idleTimeout}, {"-absolute-timeout", o.absoluteTimeout}, {"-store-timeout", o.storeTimeout}, {"-read-header-timeout", o.headerTimeout}} {
		if d.v <= 0 {
			return o, fmt.Errorf("%w: %s must be positive, got %v", errUsage, d.name, d.v)
		}
	}
	if o.maxStreams <= 0 {
		return o, fmt.Errorf("%w: -max-streams must be positive, got %d", errUsage, o.maxStreams)
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return o, fmt.Errorf("%w: -addr %q: %v", errUsage, o.addr, err)
	}
	if err := o.ops.check(); err != nil {
		return o, err
	}
	if o.instance == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(o.addr)
		o.instance = host + ":" + port
	}
	return o, nil
}

// Run runs the demo until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	// Errors that repeat (the store down makes every request log one)
	// are written once per logInterval per message, with a count.
	log := slog.New(logthrottle.NewHandler(o.ops.handler(stderr), logInterval, slog.LevelWarn)).With("instance", o.instance)
	if o.writeStatic != "" {
		written, err := writeStatic(o.writeStatic)
		log.Info("static files written", "dir", o.writeStatic, "new", written)
		return err
	}
	if o.redisURL == "" {
		// From the environment, the URL (and its password) stays out of ps.
		o.redisURL = os.Getenv("STICKLESS_REDIS_URL")
	}

	keys, err := loadKeys(o.secretsFile, os.Getenv("STICKLESS_SECRETS"))
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		if o.redisURL != "" {
			return fmt.Errorf("%w: with -redis every instance must share the signing keys: give -secrets-file or STICKLESS_SECRETS", errUsage)
		}
		keys = [][]byte{randomKey()}
		log.Warn("no -secrets-file or STICKLESS_SECRETS: using a random signing key; sessions will not survive a restart")
	}
	metrics, stopMetrics, err := o.ops.startMetrics(log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	tp, stopTracing, err := o.ops.startTracing(o.instance, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	ropts := o.redisOptions()
	if o.clientCache && metrics != nil {
		ropts.OnCacheRead = metrics.CacheRead
	}
	cfg := o.ops.sessionConfig(session.Config{
		Keys:            keys,
		InsecureCookie:  o.insecureCookie,
		IdleTimeout:     o.idleTimeout,
		AbsoluteTimeout: o.absoluteTimeout,
		StoreTimeout:    o.storeTimeout,
		Logger:          log,

		DisableEncryption: o.clearValues,
		ErrorFunc:         errorAnswer,
	}, log, metrics, tp)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ropts.Logger = log
	store, closeStore, err := openStore(ctx, o.redisURL, ropts)
	if err != nil {
		return err
	}
	defer closeStore()

	m := session.New(store, cfg)
	a := newApp(m, o.instance)
	a.reauth = o.reauth
	a.streams = newStreams(eventsConfig{MaxPerInstance: o.maxStreams}, libraryWatch)
	var handler http.Handler = a.handler()
	if o.accessLog {
		handler = accessLog(log, handler)
	}
	srv := newServer(o, traced(handler, tp), log)
	srv.RegisterOnShutdown(a.closeStreams)
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	storeName := "memstore (in this process)"
	if o.redisURL != "" {
		storeName = "redis"
	}
	log.Info("whatsup started", "url", "http://"+ln.Addr().String(), "store", storeName,
		"idle_timeout", o.idleTimeout, "absolute_timeout", o.absoluteTimeout, "insecure_cookie", o.insecureCookie)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("whatsup stopping")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	log.Info("whatsup stopped")
	return nil
}

// redisOptions returns the store options that the flags set.
func (o *options) redisOptions() redisstore.Options {
	ropts := redisstore.Options{ClientCache: o.clientCache}
	if o.waitReplicas > 0 {
		ropts.WaitReplicas, ropts.WaitTimeout = o.waitReplicas, 500*time.Millisecond
	}
	return ropts
}

// loadKeys reads the signing keys from the file or, when no file is
// given, from env (see session.ParseKeys). It returns no key when neither
// is given.
func loadKeys(file, env string) ([][]byte, error) {
	src, what := env, "STICKLESS_SECRETS"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%w: -secrets-file: %v", errUsage, err)
		}
		src, what = string(b), "-secrets-file "+file
	} else if env == "" {
		return nil, nil
	}
	keys, err := session.ParseKeys(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errUsage, what, err)
	}
	return keys, nil
}

func randomKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

// openStore returns the session store: Redis when url is set (standalone,
// Sentinel or Cluster, see redisstore.ParseURL), else the embedded memstore.
func openStore(ctx context.Context, url string, opts redisstore.Options) (session.Store, func(), error) {
	if url == "" {
		s := memstore.New(memstore.Options{})
		return s, func() { s.Close() }, nil
	}
	if _, err := redisstore.ParseURL(url); err != nil {
		return nil, nil, fmt.Errorf("%w: -redis: %v", errUsage, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// A Redis that does not answer yet is no error: the store connects in
	// the background, and the instance answers 503 until it has.
	s, err := redisstore.NewFromURL(ctx, url, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("the Redis of -redis: %w", err)
	}
	return s, func() { s.Close() }, nil
}
