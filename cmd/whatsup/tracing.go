package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// checkOTLP checks -otlp-endpoint and returns the URL that the exporter
// posts to: the path /v1/traces, OTLP's, when the flag gives none.
func checkOTLP(endpoint string) (string, error) {
	if endpoint == "" {
		return "", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: -otlp-endpoint %q: want an http:// or https:// URL such as http://127.0.0.1:4318", errUsage, endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// startTracing returns, when -otlp-endpoint is set, a tracer provider
// that sends the spans in batches to that endpoint over OTLP/HTTP, and a
// func that flushes and stops it. It returns a nil provider when tracing
// is off.
func (o *opsOptions) startTracing(instance string, log *slog.Logger) (*sdktrace.TracerProvider, func(), error) {
	if o.otlpURL == "" {
		return nil, func() {}, nil
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(o.otlpURL))
	if err != nil {
		return nil, nil, fmt.Errorf("-otlp-endpoint: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "whatsup"),
			attribute.String("service.instance.id", instance),
		)),
	)
	log.Info("tracing", "otlp_endpoint", o.otlpURL)
	return tp, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("tracing shutdown", "err", err)
		}
	}, nil
}

// traced wraps h with otelhttp's server spans when tp is set: the
// session's store calls are their children.
func traced(h http.Handler, tp *sdktrace.TracerProvider) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "whatsup", otelhttp.WithTracerProvider(tp),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}
