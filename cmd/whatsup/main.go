// Command whatsup is the stickless demo: the Tornado recipe it started from
// (login, "What's up, <name>?", logout), done right, plus a page of the
// user's sessions with "log out everywhere". Run several instances behind
// a round-robin load balancer on one Redis and a user may land on any of
// them at every request.
//
// Usage:
//
//	whatsup [flags]
//
// Run whatsup -h for the flags.
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
	err := Run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "whatsup:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "whatsup:", err)
		os.Exit(1)
	}
}
