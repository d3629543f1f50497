package otelsession_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/otelsession"
	"github.com/stickless/stickless/session"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

var testKey = []byte("otelsession test signing key, 32 bytes+")

// recordingStore is the memstore, which also notes every key it is called
// with (to look for them in the spans) and fails while down is set.
type recordingStore struct {
	*memstore.Store
	keys []string
	down atomic.Bool
}

var errDown = errors.New("store down")

func (s *recordingStore) Load(ctx context.Context, key string, lim session.Limits) (session.Record, bool, error) {
	s.keys = append(s.keys, key)
	if s.down.Load() {
		return session.Record{}, false, errDown
	}
	return s.Store.Load(ctx, key, lim)
}

func (s *recordingStore) Save(ctx context.Context, w session.Write) (bool, error) {
	s.keys = append(s.keys, w.Key, w.From)
	return s.Store.Save(ctx, w)
}

// app is a Manager whose handlers run inside a request span started by an
// outer middleware, as otelhttp's handler does.
type app struct {
	t        *testing.T
	exporter *tracetest.InMemoryExporter
	tracer   trace.Tracer
	store    *recordingStore
	m        *session.Manager
	h        http.Handler
}

func newApp(t *testing.T) *app {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	a := &app{t: t, exporter: exp, tracer: tp.Tracer("test"), store: &recordingStore{Store: memstore.New(memstore.Options{})}}
	t.Cleanup(func() { a.store.Close() })
	a.m = session.New(a.store, session.Config{Keys: [][]byte{testKey}, Logger: slog.New(slog.DiscardHandler),
		Observer: otelsession.New(otelsession.Options{TracerProvider: tp})})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		s.Login("ann-the-user")
		s.Put("secret", "the-value-42")
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		v, _ := session.FromContext(r.Context()).String("secret")
		io.WriteString(w, v)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Destroy()
	})
	inner := a.m.Handler(mux)
	a.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := a.tracer.Start(r.Context(), r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		inner.ServeHTTP(w, r.WithContext(ctx))
	})
	return a
}

// do sends one request and returns its answer and the spans it made.
func (a *app) do(method, path string, cookie *http.Cookie) (*http.Response, []sdktrace.ReadOnlySpan) {
	a.exporter.Reset()
	req := httptest.NewRequest(method, path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec.Result(), a.spans()
}

func (a *app) spans() []sdktrace.ReadOnlySpan { return a.exporter.GetSpans().Snapshots() }

// named returns the spans named name.
func named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value.String()
		}
	}
	return ""
}

func eventNames(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, e := range s.Events() {
		out = append(out, e.Name)
	}
	return out
}

func TestSpans(t *testing.T) {
	a := newApp(t)
	type storeSpan struct{ op, result string }
	cases := []struct {
		name    string
		method  string
		path    string
		cookie  string // "", "valid" or "forged"
		outcome string
		store   []storeSpan
		events  []string
	}{
		{"login", "POST", "/login", "", "none",
			[]storeSpan{{"UserSessions", "ok"}, {"Create", "ok"}}, []string{"stickless.session.created", "stickless.session.login"}},
		{"read", "GET", "/read", "valid", "live", []storeSpan{{"Load", "ok"}}, nil},
		{"forged cookie", "GET", "/read", "forged", "invalid", nil, nil},
		{"logout", "POST", "/logout", "valid", "live",
			[]storeSpan{{"Load", "ok"}, {"Destroy", "ok"}}, []string{"stickless.session.destroyed"}},
		{"after logout", "GET", "/read", "valid", "missing", []storeSpan{{"Load", "not_found"}}, nil},
	}
	var valid *http.Cookie
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *http.Cookie
			switch tc.cookie {
			case "valid":
				c = valid
			case "forged":
				f := *valid
				f.Value = f.Value[:len(f.Value)-3] + "AAA"
				c = &f
			}
			resp, spans := a.do(tc.method, tc.path, c)
			if resp.StatusCode != 200 {
				t.Fatalf("%s %s: %s", tc.method, tc.path, resp.Status)
			}
			if tc.name == "login" {
				valid = resp.Cookies()[0]
			}
			reqSpans := named(spans, tc.method+" "+tc.path)
			if len(reqSpans) != 1 {
				t.Fatalf("%d request spans, want 1 (spans: %d)", len(reqSpans), len(spans))
			}
			rs := reqSpans[0]
			if got := attr(rs, otelsession.OutcomeKey); got != tc.outcome {
				t.Errorf("outcome attribute %q, want %q", got, tc.outcome)
			}
			if got := eventNames(rs); strings.Join(got, ",") != strings.Join(tc.events, ",") {
				t.Errorf("request span events %v, want %v", got, tc.events)
			}
			if len(spans) != 1+len(tc.store) {
				t.Errorf("%d spans, want the request's and %d store calls", len(spans), len(tc.store))
			}
			for _, want := range tc.store {
				got := named(spans, "stickless.store."+want.op)
				if len(got) != 1 {
					t.Errorf("%d spans of %s, want 1", len(got), want.op)
					continue
				}
				s := got[0]
				if s.Parent().SpanID() != rs.SpanContext().SpanID() || s.SpanContext().TraceID() != rs.SpanContext().TraceID() {
					t.Errorf("%s: parent %v, want the request span %v", want.op, s.Parent().SpanID(), rs.SpanContext().SpanID())
				}
				if op, res := attr(s, otelsession.OperationKey), attr(s, otelsession.ResultKey); op != want.op || res != want.result {
					t.Errorf("%s: operation %q result %q, want %q %q", want.op, op, res, want.op, want.result)
				}
				if s.SpanKind() != trace.SpanKindClient {
					t.Errorf("%s: kind %v, want client", want.op, s.SpanKind())
				}
				if s.StartTime().Before(rs.StartTime()) || s.EndTime().After(rs.EndTime()) || s.EndTime().Before(s.StartTime()) {
					t.Errorf("%s: from %v to %v, outside its request's %v to %v", want.op, s.StartTime(), s.EndTime(), rs.StartTime(), rs.EndTime())
				}
			}
		})
	}
}

func TestStoreUnavailable(t *testing.T) {
	a := newApp(t)
	resp, _ := a.do("POST", "/login", nil)
	a.store.down.Store(true)
	resp, spans := a.do("GET", "/read", resp.Cookies()[0])
	if resp.StatusCode != 503 {
		t.Fatalf("read with the store down: %s, want 503", resp.Status)
	}
	loads := named(spans, "stickless.store.Load")
	if len(loads) != 1 {
		t.Fatalf("%d Load spans, want 1", len(loads))
	}
	if got := attr(loads[0], otelsession.ResultKey); got != "unavailable" {
		t.Errorf("result %q, want unavailable", got)
	}
	if st := loads[0].Status(); st.Code != codes.Error {
		t.Errorf("status %v, want Error", st)
	}
	// A load that failed reports no outcome.
	if got := attr(named(spans, "GET /read")[0], otelsession.OutcomeKey); got != "" {
		t.Errorf("outcome %q on a failed load, want none", got)
	}
}

// TestOutsideARequest: calls made with the caller's context are children
// of the caller's span; with no span there they are roots.
func TestOutsideARequest(t *testing.T) {
	a := newApp(t)
	for range 2 {
		a.do("POST", "/login", nil)
	}
	a.exporter.Reset()
	ctx, parent := a.tracer.Start(context.Background(), "admin: log out ann everywhere")
	n, err := a.m.RevokeAll(ctx, "ann-the-user")
	parent.End()
	if err != nil || n != 2 {
		t.Fatalf("RevokeAll: %d, %v; want 2 sessions", n, err)
	}
	spans := a.spans()
	ps := named(spans, "admin: log out ann everywhere")[0]
	du := named(spans, "stickless.store.DestroyUser")
	if len(du) != 1 || du[0].Parent().SpanID() != ps.SpanContext().SpanID() {
		t.Errorf("DestroyUser spans %d, want 1, child of the caller's", len(du))
	}
	if got := eventNames(ps); strings.Join(got, ",") != "stickless.session.revoked,stickless.session.revoked" {
		t.Errorf("caller span events %v, want two revoked", got)
	}

	a.exporter.Reset()
	if _, err := a.m.Sessions(context.Background(), "ann-the-user"); err != nil {
		t.Fatal(err)
	}
	us := named(a.spans(), "stickless.store.UserSessions")
	if len(us) != 1 || us[0].Parent().IsValid() {
		t.Errorf("UserSessions with no span in the context: %d spans, want 1 root", len(us))
	}
}

// TestNoSecrets runs every kind of call and looks for the cookie, the
// store keys, the user and the value in every name and attribute.
func TestNoSecrets(t *testing.T) {
	a := newApp(t)
	var all []sdktrace.ReadOnlySpan
	resp, spans := a.do("POST", "/login", nil)
	all = append(all, spans...)
	cookie := resp.Cookies()[0]
	for _, p := range []string{"GET /read", "POST /logout", "GET /read"} {
		method, path, _ := strings.Cut(p, " ")
		_, spans := a.do(method, path, cookie)
		all = append(all, spans...)
	}
	secrets := []string{"ann-the-user", "the-value-42"}
	for _, k := range a.store.keys {
		if k != "" {
			secrets = append(secrets, k)
		}
	}
	// Any 16 characters of the cookie: a token in any encoding of it.
	for i := 0; i+16 <= len(cookie.Value); i += 8 {
		secrets = append(secrets, cookie.Value[i:i+16])
	}
	if len(a.store.keys) < 3 {
		t.Fatalf("the store saw %d keys; the test needs some", len(a.store.keys))
	}
	var texts []string
	for _, s := range all {
		texts = append(texts, s.Name(), s.Status().Description)
		for _, kv := range s.Attributes() {
			texts = append(texts, string(kv.Key)+"="+kv.Value.String())
		}
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			for _, kv := range e.Attributes {
				texts = append(texts, string(kv.Key)+"="+kv.Value.String())
			}
		}
	}
	if len(texts) < 20 {
		t.Fatalf("only %d texts in %d spans", len(texts), len(all))
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a span carries a secret: %q contains %q", text, s)
			}
		}
	}
}
