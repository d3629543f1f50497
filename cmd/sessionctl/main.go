// Command sessionctl is the operator's tool for the sessions that stickless
// keeps in Redis: list and end a user's sessions, count sessions, prune the
// user indexes, and rotate the cookie signing keys.
//
// Usage:
//
//	sessionctl [-redis URL] [-prefix P] [-json] COMMAND [ARGS]
//
//	list USER          the user's sessions: handle, created, last seen, expires, user agent
//	revoke USER HANDLE ends one session of the user (HANDLE from list)
//	revoke-all USER    ends all the user's sessions and prints how many
//	stats              sessions, bound users, sizes, sessions expiring within the hour
//	prune              removes stale entries from the user indexes
//	keys add FILE      puts a new signing key first in the secrets file
//	keys retire FILE   drops every key of the secrets file but the first two
//
// The Redis URL comes from -redis or the environment variable
// STICKLESS_REDIS_URL (which keeps a password out of ps), in the forms
// that whatsup accepts. Exit codes: 0 success, 1 failure, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "sessionctl:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "sessionctl:", err)
		os.Exit(1)
	}
}
