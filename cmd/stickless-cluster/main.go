// Command stickless-cluster runs the stickless demo in its real topology on
// 127.0.0.1, in the foreground: Redis (standalone, Sentinel or Cluster, with
// ACL authentication), several whatsup instances sharing it, nginx
// round-robin in front, and Prometheus scraping the instances when they
// serve metrics. It prints the topology and its URLs; Ctrl-C (SIGINT) or
// SIGTERM stops every process it started.
//
// `make cluster` runs it through deploy/cluster.sh, which installs the
// servers first. It takes no flags: its settings are the environment
// variables listed in deploy/cluster.sh and in docs/topology.md, read by
// [settingsFromEnv].
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}
