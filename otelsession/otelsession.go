// Package otelsession traces stickless sessions with OpenTelemetry. It
// implements [session.Observer] with go.opentelemetry.io/otel, in a module
// of its own so that applications that do not trace do not have
// OpenTelemetry in their module graph.
//
//	obs := otelsession.New(otelsession.Options{TracerProvider: tp})
//	m := session.New(store, session.Config{Keys: keys, Observer: obs})
//	http.ListenAndServe(addr, otelhttp.NewHandler(m.Handler(mux), "whatsup"))
//
// What it records:
//
//   - a span per session store call, named "stickless.store.<op>" (op as
//     in [session.Observer]: Load, Create, Update, Renew, Destroy, Incr,
//     CompareAndSwap, UserSessions, DestroyUser, Live), of kind client,
//     with the attributes stickless.store.operation and
//     stickless.store.result ("ok", "not_found", "unavailable"; the span's
//     status is Error for "unavailable"). It is a child of the span in the
//     call's context: the request's span when an HTTP middleware such as
//     otelhttp runs outside [session.Manager.Handler], the caller's span
//     for [session.Admin.Revoke] and the other calls made outside a
//     request. With no span there, it is a root span: the batched
//     liveness checks behind [session.Session.Done] are roots, one per
//     check.
//   - the request's outcome, stickless.session.outcome ("none", "invalid",
//     "live", "missing"), as an attribute of the request's span;
//   - the session events as events of the span in the context, named
//     "stickless.session.<event>": created, login, renewed, destroyed,
//     revoked, evicted, too_large, unreadable. An event of a call whose context holds
//     no span is not recorded.
//
// No token, store key, value or user name is ever put in a span: a trace
// backend is read by more people than the session store.
//
// The 503s that the store causes show as the request span's status code
// (otelhttp records it) and as store spans whose result is "unavailable".
//
// # Cost
//
// With a no-op tracer provider (the global default until an SDK is set),
// a store call costs three or four small allocations (the span's start options,
// its start time, and the context that the no-op tracer returns) and
// little else; the other reports cost nothing. The figures, against no
// observer and against a recording SDK, are in the repository's
// docs/operations.md, "Traces".
package otelsession

import (
	"context"
	"time"

	"github.com/stickless/stickless/session"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer that makes the
// spans.
const ScopeName = "github.com/stickless/stickless/otelsession"

// The attribute keys.
const (
	OperationKey = attribute.Key("stickless.store.operation")
	ResultKey    = attribute.Key("stickless.store.result")
	OutcomeKey   = attribute.Key("stickless.session.outcome")
)

// Options configures [New]. The zero value is the default of each field.
type Options struct {
	// TracerProvider makes the tracer of the spans. default: the global
	// provider, otel.GetTracerProvider(), which forwards to the provider
	// that otel.SetTracerProvider sets, also after New.
	TracerProvider trace.TracerProvider
}

// New returns the Observer that traces the sessions of a Manager; put it in
// session.Config.Observer, alone or with others through
// [session.MultiObserver]. Several Managers may share it.
func New(opts Options) session.Observer {
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	t := &tracer{tracer: tp.Tracer(ScopeName), ops: map[session.Op]*opSpans{},
		outcomes: map[session.Outcome]attribute.KeyValue{}, events: map[session.Event]string{}}
	for _, op := range session.Ops() {
		t.ops[op] = newOpSpans(op)
	}
	for _, o := range session.Outcomes() {
		t.outcomes[o] = OutcomeKey.String(string(o))
	}
	for _, e := range session.Events() {
		t.events[e] = eventName(e)
	}
	return session.Observer{Request: t.request, StoreCall: t.storeCall, Event: t.event}
}

// tracer holds, per label value, what a report needs, built by New so that
// reports do not allocate for it; the maps are read-only after New. A
// value that New does not know (from a later stickless) is built on the
// fly.
type tracer struct {
	tracer   trace.Tracer
	ops      map[session.Op]*opSpans
	outcomes map[session.Outcome]attribute.KeyValue
	events   map[session.Event]string
}

// opSpans are the name and the start options of the spans of one op, by
// result.
type opSpans struct {
	name  string
	byRes map[session.Result][]trace.SpanStartOption
}

func newOpSpans(op session.Op) *opSpans {
	o := &opSpans{name: "stickless.store." + string(op), byRes: map[session.Result][]trace.SpanStartOption{}}
	for _, r := range session.Results() {
		o.byRes[r] = startOptions(op, r)
	}
	return o
}

func startOptions(op session.Op, r session.Result) []trace.SpanStartOption {
	return []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(OperationKey.String(string(op)), ResultKey.String(string(r))),
	}
}

func eventName(e session.Event) string { return "stickless.session." + string(e) }

// storeCall records a span that began d ago and ends now.
func (t *tracer) storeCall(ctx context.Context, op session.Op, result session.Result, d time.Duration) {
	end := time.Now()
	o, ok := t.ops[op]
	if !ok {
		o = newOpSpans(op)
	}
	base, ok := o.byRes[result]
	if !ok {
		base = startOptions(op, result)
	}
	var opts [3]trace.SpanStartOption
	copy(opts[:], base)
	opts[2] = trace.WithTimestamp(end.Add(-d))
	_, span := t.tracer.Start(ctx, o.name, opts[:]...)
	if !span.IsRecording() {
		return // nothing to end: spare the end's options
	}
	if result == session.ResultUnavailable {
		span.SetStatus(codes.Error, "session store unavailable")
	}
	span.End(trace.WithTimestamp(end))
}

func (t *tracer) request(ctx context.Context, outcome session.Outcome) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	kv, ok := t.outcomes[outcome]
	if !ok {
		kv = OutcomeKey.String(string(outcome))
	}
	span.SetAttributes(kv)
}

func (t *tracer) event(ctx context.Context, e session.Event) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	name, ok := t.events[e]
	if !ok {
		name = eventName(e)
	}
	span.AddEvent(name)
}
