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
//     for [session.Manager.Revoke] and the other calls made outside a
//     request. With no span there, it is a root span: the batched
//     liveness checks behind [session.Session.Done] are roots, one per
//     check.
//   - the request's outcome, stickless.session.outcome ("none", "invalid",
//     "live", "missing"), as an attribute of the request's span;
//   - the session events as events of the span in the context, named
//     "stickless.session.<event>": created, login, renewed, destroyed,
//     revoked, evicted, too_large. An event of a call whose context holds
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
// With a no-op tracer provider (the global default until an SDK is set)
// the observer costs no allocation on the read path; the figures are in
// the repository's docs/observability.md.
package otelsession

import (
	"context"
	"sync"
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
	t := &tracer{tracer: tp.Tracer(ScopeName)}
	return session.Observer{Request: t.request, StoreCall: t.storeCall, Event: t.event}
}

type tracer struct {
	tracer trace.Tracer
	// Per label value, what a report needs, built on first use so that
	// later reports do not allocate.
	ops      sync.Map // op -> *opSpan
	outcomes sync.Map // outcome -> attribute.KeyValue
	events   sync.Map // event -> string (the event's name)
}

// opSpan is the name and the start options of the spans of one op, by
// result.
type opSpan struct {
	name    string
	byRes   sync.Map // result -> []trace.SpanStartOption
	attrsOp attribute.KeyValue
}

func (t *tracer) op(op string) *opSpan {
	if v, ok := t.ops.Load(op); ok {
		return v.(*opSpan)
	}
	v, _ := t.ops.LoadOrStore(op, &opSpan{name: "stickless.store." + op, attrsOp: OperationKey.String(op)})
	return v.(*opSpan)
}

func (o *opSpan) options(result string) []trace.SpanStartOption {
	if v, ok := o.byRes.Load(result); ok {
		return v.([]trace.SpanStartOption)
	}
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(o.attrsOp, ResultKey.String(result)),
		nil, // the start time, set per call on a copy
	}
	v, _ := o.byRes.LoadOrStore(result, opts)
	return v.([]trace.SpanStartOption)
}

// storeCall records a span that began d ago and ends now.
func (t *tracer) storeCall(ctx context.Context, op, result string, d time.Duration) {
	end := time.Now()
	o := t.op(op)
	base := o.options(result)
	var opts [3]trace.SpanStartOption
	copy(opts[:], base)
	opts[2] = trace.WithTimestamp(end.Add(-d))
	_, span := t.tracer.Start(ctx, o.name, opts[:]...)
	if !span.IsRecording() {
		return // nothing to end: spare the end's options
	}
	if result == "unavailable" {
		span.SetStatus(codes.Error, "session store unavailable")
	}
	span.End(trace.WithTimestamp(end))
}

func (t *tracer) request(ctx context.Context, outcome string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	v, ok := t.outcomes.Load(outcome)
	if !ok {
		v, _ = t.outcomes.LoadOrStore(outcome, OutcomeKey.String(outcome))
	}
	span.SetAttributes(v.(attribute.KeyValue))
}

func (t *tracer) event(ctx context.Context, e string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	v, ok := t.events.Load(e)
	if !ok {
		v, _ = t.events.LoadOrStore(e, "stickless.session."+e)
	}
	span.AddEvent(v.(string))
}
