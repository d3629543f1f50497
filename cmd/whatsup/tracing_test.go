package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestOTLPFlag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"},
		{"https://otel.internal:4318/", "https://otel.internal:4318/v1/traces"},
		{"http://127.0.0.1:4318/custom/path", "http://127.0.0.1:4318/custom/path"},
	} {
		if got, err := checkOTLP(tc.in); err != nil || got != tc.want {
			t.Errorf("checkOTLP(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"127.0.0.1:4318", "grpc://x:4317", "http://"} {
		if _, err := parseFlags([]string{"-otlp-endpoint", bad}, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("-otlp-endpoint %q: %v, want a usage error", bad, err)
		}
	}
}

// collector receives OTLP/HTTP trace exports, as an OpenTelemetry
// collector does, and keeps their spans.
type collector struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad export", 400)
		return
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				c.services = append(c.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(b)
}

// TestRunExportsTraces runs the demo with -otlp-endpoint, logs in, and
// checks what reaches the collector when the demo stops: the request's
// server span, and the session store calls as its children.
func TestRunExportsTraces(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	t.Setenv("STICKLESS_REDIS_URL", "")
	t.Setenv("STICKLESS_SECRETS", "")
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-addr", "127.0.0.1:0", "-insecure-cookie", "-otlp-endpoint", srv.URL}, logs)
	}()
	var base string
	err := testenv.Eventually(10*time.Second, 10*time.Millisecond, func() error {
		m := startedURL.FindStringSubmatch(logs.String())
		if m == nil {
			return errors.New("not started yet")
		}
		base = m[1]
		return nil
	})
	if err != nil {
		cancel()
		t.Fatalf("%v\n%s", err, logs)
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/login", url.Values{"name": {"ann"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	cancel() // Run flushes the spans as it stops
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	var login *tracepb.Span
	byName := map[string][]*tracepb.Span{}
	for _, s := range col.spans {
		byName[s.Name] = append(byName[s.Name], s)
		if s.Name == "POST /login" {
			login = s
		}
	}
	if login == nil || login.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Fatalf("no server span POST /login among %d spans", len(col.spans))
	}
	for _, name := range []string{"stickless.store.UserSessions", "stickless.store.Create"} {
		ss := byName[name]
		if len(ss) != 1 || !bytes.Equal(ss[0].ParentSpanId, login.SpanId) || !bytes.Equal(ss[0].TraceId, login.TraceId) {
			t.Errorf("%s: %d spans, want 1, child of POST /login", name, len(ss))
		}
	}
	var events []string
	for _, e := range login.Events {
		events = append(events, e.Name)
	}
	if got := strings.Join(events, ","); got != "stickless.session.created,stickless.session.login" {
		t.Errorf("POST /login events %q", got)
	}
	if len(col.services) == 0 || col.services[0] != "whatsup" {
		t.Errorf("service.name %v, want whatsup", col.services)
	}
}
