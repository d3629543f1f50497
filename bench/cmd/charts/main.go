// Command charts draws the charts of saved results again, without
// measuring anything: each .json file that loadgen, loadgen -c10k-streams
// or soak saved gets its .svg beside it.
//
// Usage (from the bench module; `make charts` redraws docs/charts/):
//
//	go run ./cmd/charts FILE.json...
package main

import (
	"fmt"
	"os"

	"github.com/stickless/stickless/bench/chart"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: charts FILE.json... (results saved by loadgen or soak)")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		svg, err := chart.Redraw(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "charts:", err)
			failed = true
			continue
		}
		fmt.Println(svg)
	}
	if failed {
		os.Exit(1)
	}
}
