package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/stickless/stickless/otelsession"
	"github.com/stickless/stickless/prom"
	"github.com/stickless/stickless/session"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// opsOptions are the operations flags: metrics, log format, trusted
// proxies.
type opsOptions struct {
	metricsAddr  string
	logJSON      bool
	trustedProxy string
	trusted      []netip.Prefix // parsed from trustedProxy
	otlpEndpoint string
	otlpURL      string // checked otlpEndpoint, with its path (tracing.go)
}

func (o *opsOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "`address` of a separate listener that serves Prometheus /metrics (e.g. 127.0.0.1:9101); default: none. Never expose it through the public proxy")
	fs.BoolVar(&o.logJSON, "log-json", false, "write the logs, audit records included, as JSON lines instead of text")
	fs.StringVar(&o.otlpEndpoint, "otlp-endpoint", "", "`URL` of an OpenTelemetry collector's OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318) to send a trace span per request and per session store call to; default: none")
	fs.StringVar(&o.trustedProxy, "trusted-proxy", "", "`CIDR[,CIDR...]` of proxies whose X-Forwarded-For gives the client address in the audit log; default: none, the peer address is the client")
}

// check validates and parses the flags once parsed.
func (o *opsOptions) check() error {
	if o.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
			return fmt.Errorf("%w: -metrics-addr %q: %v", errUsage, o.metricsAddr, err)
		}
	}
	otlpURL, err := checkOTLP(o.otlpEndpoint)
	if err != nil {
		return err
	}
	o.otlpURL = otlpURL
	trusted, err := parsePrefixes(o.trustedProxy)
	if err != nil {
		return fmt.Errorf("%w: -trusted-proxy: %v", errUsage, err)
	}
	o.trusted = trusted
	return nil
}

// parsePrefixes parses comma-separated CIDRs; a bare address counts as a
// single host.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// handler returns the process's log handler: text or JSON lines on w.
func (o *opsOptions) handler(w io.Writer) slog.Handler {
	if o.logJSON {
		return slog.NewJSONHandler(w, nil)
	}
	return slog.NewTextHandler(w, nil)
}

// clientAddr returns the client address of r for the audit log: the peer
// address, or, when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not itself a trusted proxy (the left-most ones
// are whatever the client chose to send).
func (o *opsOptions) clientAddr(r *http.Request) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if len(o.trusted) == 0 || !o.isTrusted(host) {
		return host
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			hop := strings.TrimSpace(parts[j])
			if hop == "" {
				continue
			}
			if _, err := netip.ParseAddr(hop); err != nil {
				return hop // not an address: report it as it came, the proxy chain is broken here
			}
			if !o.isTrusted(hop) {
				return hop
			}
			host = hop
		}
	}
	return host
}

func (o *opsOptions) isTrusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range o.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sessionConfig adds the operations settings to cfg: the metrics and
// tracing observers, the audit log and the client address.
func (o *opsOptions) sessionConfig(cfg session.Config, log *slog.Logger, metrics *prom.Metrics, tp *sdktrace.TracerProvider) session.Config {
	var obs []session.Observer
	if metrics != nil {
		obs = append(obs, metrics.Observer())
	}
	if tp != nil {
		obs = append(obs, otelsession.New(otelsession.Options{TracerProvider: tp}))
	}
	cfg.Observer = session.MultiObserver(obs...)
	cfg.AuditLog = log.With("log", "audit")
	cfg.ClientAddr = o.clientAddr
	return cfg
}

// startMetrics serves /metrics on its own listener when -metrics-addr is
// set. It returns the metrics to feed (nil when off) and a func that stops
// the listener.
func (o *opsOptions) startMetrics(log *slog.Logger) (*prom.Metrics, func(), error) {
	if o.metricsAddr == "" {
		return nil, func() {}, nil
	}
	reg := prom.NewRegistry()
	metrics := prom.New(reg, prom.Options{})
	ln, err := net.Listen("tcp", o.metricsAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", prom.Handler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "err", err)
		}
	}()
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	return metrics, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
