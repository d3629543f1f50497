package logthrottle

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64                    { return c.ns.Load() }
func (c *fakeClock) add(d time.Duration)           { c.ns.Add(int64(d)) }
func newFake() *fakeClock                          { c := &fakeClock{}; c.ns.Store(1); return c }
func (l *Limiter) withClock(c *fakeClock) *Limiter { l.clock = c.now; return l }

func TestLimiterConcurrent(t *testing.T) {
	clk := newFake()
	l := NewLimiter(time.Minute).withClock(clk)
	const n = 1000
	var passed, reported atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if ok, s := l.Allow(); ok {
				passed.Add(1)
				reported.Add(s)
			}
		})
	}
	wg.Wait()
	if passed.Load() != 1 || reported.Load() != 0 {
		t.Fatalf("%d concurrent events in one interval: %d passed (reporting %d suppressed), want 1 (0)", n, passed.Load(), reported.Load())
	}
	if ok, _ := l.Allow(); ok {
		t.Fatal("an event passed before the interval was over")
	}
	clk.add(time.Minute)
	ok, s := l.Allow()
	if !ok || s != n {
		t.Fatalf("after the interval: ok=%v suppressed=%d, want true %d", ok, s, n)
	}
	if ok, _ := l.Allow(); ok {
		t.Fatal("a second event passed in the new interval")
	}
	clk.add(time.Minute)
	if ok, s := l.Allow(); !ok || s != 1 {
		t.Fatalf("third interval: ok=%v suppressed=%d, want true 1", ok, s)
	}
}

func TestLimiterZeroIntervalPassesAll(t *testing.T) {
	l := NewLimiter(0)
	for range 10 {
		if ok, s := l.Allow(); !ok || s != 0 {
			t.Fatalf("interval 0: ok=%v suppressed=%d", ok, s)
		}
	}
}

// lines returns the lines b holds.
func lines(b *testenv.Buffer) []string { return strings.Split(strings.TrimSpace(b.String()), "\n") }

func TestHandler(t *testing.T) {
	clk := newFake()
	var buf testenv.Buffer
	h := NewHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), 10*time.Second, nil)
	h.st.clock = clk.now
	h.st.overflow.clock = clk.now
	log := slog.New(h).With("instance", "i1")

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				log.Error("session store call failed", "op", "Load", "err", "connection refused")
			}
		})
	}
	wg.Wait()
	log.Info("not throttled")
	log.Info("not throttled")
	log.Warn("another message")
	if got := lines(&buf); len(got) != 4 {
		t.Fatalf("200 errors, 2 infos and 1 other warning wrote %d lines, want 4:\n%s", len(got), strings.Join(got, "\n"))
	}
	clk.add(10 * time.Second)
	log.Error("session store call failed", "op", "Load", "err", "connection refused")
	got := lines(&buf)
	last := got[len(got)-1]
	if !strings.Contains(last, "suppressed=") || !strings.Contains(last, "instance=i1") || !strings.Contains(last, "op=Load") {
		t.Fatalf("the line after the interval: %q, want a suppressed count and its attributes", last)
	}
	// Every refused record is counted once: mostly on the line after the
	// interval, but one refused while the first line was being let
	// through (another goroutine lost the race for it) is counted on that
	// first line.
	total := 0
	for _, line := range got {
		if _, v, ok := strings.Cut(line, "suppressed="); ok {
			n, err := strconv.Atoi(strings.Fields(v)[0])
			if err != nil {
				t.Fatalf("suppressed= in %q: %v", line, err)
			}
			total += n
		}
	}
	if total != 199 {
		t.Fatalf("the lines count %d suppressed records, want 199:\n%s", total, strings.Join(got, "\n"))
	}
}

func TestHandlerBoundsItsMessages(t *testing.T) {
	clk := newFake()
	var buf testenv.Buffer
	h := NewHandler(slog.NewTextHandler(&buf, nil), time.Minute, slog.LevelError)
	h.st.clock = clk.now
	h.st.overflow.clock = clk.now
	for i := range 2 * maxKeys {
		h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelError, fmt.Sprint("message ", i), 0))
	}
	if n := h.st.n.Load(); n != maxKeys {
		t.Fatalf("%d messages tracked, want the bound %d", n, maxKeys)
	}
	// maxKeys lines for the tracked messages, one for all the others.
	if got := len(lines(&buf)); got != maxKeys+1 {
		t.Fatalf("%d lines written, want %d", got, maxKeys+1)
	}
}

func BenchmarkHandlerSuppressed(b *testing.B) {
	h := NewHandler(slog.NewTextHandler(&bytes.Buffer{}, nil), time.Hour, nil)
	log := slog.New(h)
	log.Error("down") // the one that passes
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			log.Error("down")
		}
	})
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(time.Hour)
	l.Allow()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow()
		}
	})
}
