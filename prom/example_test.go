package prom_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/stickless/stickless/prom"
	"github.com/stickless/stickless/session"
)

func ExampleNew() {
	reg := prom.NewRegistry() // with the Go runtime and process collectors
	metrics := prom.New(reg, prom.Options{})
	cfg := session.Config{Observer: metrics.Observer()} // plus Keys, for session.New

	// What a Manager reports: here by hand, two forged cookies and a read.
	ctx := context.Background()
	cfg.Observer.Request(ctx, "invalid")
	cfg.Observer.Request(ctx, "invalid")
	cfg.Observer.Request(ctx, "live")
	cfg.Observer.StoreCall(ctx, session.OpLoad, session.ResultOK, 300*time.Microsecond)

	// The scrape, as prom.Handler serves it on /metrics.
	rec := httptest.NewRecorder()
	prom.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "stickless_session_requests_total{") ||
			strings.HasPrefix(l, `stickless_store_operation_duration_seconds_count{op="Load",result="ok"}`) {
			fmt.Println(l)
		}
	}
	// Output:
	// stickless_session_requests_total{outcome="invalid"} 2
	// stickless_session_requests_total{outcome="live"} 1
	// stickless_session_requests_total{outcome="missing"} 0
	// stickless_session_requests_total{outcome="none"} 0
	// stickless_store_operation_duration_seconds_count{op="Load",result="ok"} 1
}
