// Command benchserver serves the side-by-side benchmark's application with
// one session contender, for the load driver (cmd/loadgen) to measure.
//
// Usage:
//
//	benchserver -contender bare|rawredis|rawrueidis|scs|gorilla|stickless -addr 127.0.0.1:8080 -redis 127.0.0.1:6379 [-pprof]
//
// The endpoints are those of contender.Handler. With -pprof, the
// net/http/pprof handlers answer under /debug/pprof/ (outside the session
// middleware). It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/stickless/stickless/bench/contender"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		os.Exit(1)
	}
}

// Run parses args, serves until ctx is done, and shuts down.
func Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("benchserver", flag.ContinueOnError)
	name := fs.String("contender", "stickless", "session contender: "+strings.Join(contender.Names, "|"))
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback)")
	redisAddr := fs.String("redis", "127.0.0.1:6379", "Redis host:port")
	withPprof := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := contender.New(cctx, *name, *redisAddr)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()

	app := contender.Handler(c)
	var h http.Handler = app
	if *withPprof {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.Handle("/", app)
		h = mux
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
