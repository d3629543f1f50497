package redisstore

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/session"
)

// TestLimits: every write that would pass MaxSize or MaxFields is refused
// with ErrTooLarge by the script that writes, and writes nothing; a
// renewal that would pass them leaves the old session as it was.
func TestLimits(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	s := newStore(t, srv.URL(), Options{})
	ctx := t.Context()
	lim := session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour, MaxSize: 100, MaxFields: 3}
	big := strings.Repeat("x", 60)

	// base is a session of 2 fields and 4+60 bytes.
	base := func(t *testing.T) string {
		k := newKey()
		if err := s.tcreate(ctx, k, session.Write{Set: vals("a", "1", "bb", big)}, lim); err != nil {
			t.Fatal(err)
		}
		return k
	}
	load := func(t *testing.T, k string) map[string]string {
		rec, ok, err := s.Load(ctx, k, lim)
		if err != nil || !ok {
			t.Fatalf("Load: %v %v", ok, err)
		}
		m := map[string]string{}
		for f, v := range rec.Values {
			m[f] = string(v)
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		call  func(k string) error
		check func(t *testing.T, k string)
	}{
		{"create too large", func(string) error {
			return s.tcreate(ctx, newKey(), session.Write{Set: vals("a", big, "b", big)}, lim)
		}, nil},
		{"create too many fields", func(string) error {
			return s.tcreate(ctx, newKey(), session.Write{Set: vals("a", "1", "b", "2", "c", "3", "d", "4")}, lim)
		}, nil},
		{"update too large", func(k string) error {
			_, err := s.tupdate(ctx, k, session.Write{Set: vals("c", big)}, lim)
			return err
		}, nil},
		{"update too many fields", func(k string) error {
			_, err := s.tupdate(ctx, k, session.Write{Set: vals("c", "1", "d", "2")}, lim)
			return err
		}, nil},
		{"renew too large", func(k string) error {
			_, err := s.trenew(ctx, k, newKey(), session.Write{Set: vals("c", big)}, lim)
			return err
		}, nil},
		{"incr past the field count", func(k string) error {
			if _, err := s.tupdate(ctx, k, session.Write{Set: vals("c", "1")}, lim); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Incr(ctx, k, "n", 1, lim)
			return err
		}, func(t *testing.T, k string) {
			if m := load(t, k); len(m) != 3 || m["n"] != "" {
				t.Errorf("values after the refused Incr: %v", m)
			}
		}},
		{"incr past the size", func(k string) error {
			// 1+2 ("n" = 99) + 1+96 = 100 bytes; 101 once n reaches 100.
			if _, err := s.tupdate(ctx, k, session.Write{Clear: true, Set: vals("n", "99", "c", strings.Repeat("y", 96))}, lim); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.Incr(ctx, k, "n", 1, lim)
			return err
		}, func(t *testing.T, k string) {
			if m := load(t, k); m["n"] != "99" {
				t.Errorf("n after the refused Incr = %q, want 99", m["n"])
			}
		}},
		{"cas too large", func(k string) error {
			_, _, err := s.CompareAndSwap(ctx, k, "a", []byte("1"), []byte(big), lim)
			return err
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := base(t)
			before := load(t, k)
			keys := len(srv.Keys(t))
			if err := tc.call(k); !errors.Is(err, session.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if tc.check != nil {
				tc.check(t, k)
				return
			}
			if got := load(t, k); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("values after the refused write = %v, want %v", got, before)
			}
			if n := len(srv.Keys(t)); n != keys {
				t.Errorf("%d keys after the refused write, want %d", n, keys)
			}
		})
	}

	// Within the limits: replacing a value counts its new size only, and
	// a Clear drops the old values before the count.
	k := base(t)
	if ok, err := s.tupdate(ctx, k, session.Write{Set: vals("bb", big+"zz")}, lim); err != nil || !ok {
		t.Fatalf("replace: %v %v", ok, err)
	}
	if ok, err := s.tupdate(ctx, k, session.Write{Clear: true, Set: vals("c", big, "d", "1", "e", "2")}, lim); err != nil || !ok {
		t.Fatalf("clear and set: %v %v", ok, err)
	}
	// A name both deleted and set counts once: 3 fields and 1 new is 4.
	if _, err := s.tupdate(ctx, k, session.Write{Del: []string{"d"}, Set: vals("d", "3", "f", "4")}, lim); !errors.Is(err, session.ErrTooLarge) {
		t.Errorf("a delete and set of one name plus a new one, at MaxFields: %v, want ErrTooLarge", err)
	}
	if ok, err := s.tupdate(ctx, k, session.Write{Del: []string{"d"}, Set: vals("d", "3")}, lim); err != nil || !ok {
		t.Fatalf("delete and set of one name at MaxFields: %v %v", ok, err)
	}
	if ok, err := s.trenew(ctx, k, newKey(), session.Write{Del: []string{"c"}, Set: vals("f", big)}, lim); err != nil || !ok {
		t.Fatalf("renew within the limits: %v %v", ok, err)
	}
}

// storedSize is the size and field count of a session hash as the session
// package measures it: each value's name plus its value. It checks that
// the running size in the metadata agrees.
func storedSize(t testing.TB, r redistest.Reply) (size, fields int) {
	t.Helper()
	for i := 0; i+1 < len(r.Elems); i += 2 {
		if f := r.Elems[i].Str; f == redislayout.MetaField {
			md, err := redislayout.ParseMeta(r.Elems[i+1].Str)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if md.Size != size || md.Count != fields {
					t.Errorf("metadata counts %d bytes in %d values, the hash holds %d in %d", md.Size, md.Count, size, fields)
				}
			}()
		} else {
			size += len(f) + len(r.Elems[i+1].Str)
			fields++
		}
	}
	return size, fields
}

// parallelWrites sends 1,000 writes of 16 KiB, each to a different key of
// one logged-in session, 64 at a time, alternately through two instances
// (two Managers, two stores), while it samples the stored session; the
// stored session never passes the Manager's MaxSize (64 KiB) nor
// MaxFields, however the requests interleave.
func parallelWrites(t *testing.T, url string, keys func(testing.TB) []string, node func(key string) *redistest.Server) {
	a := newInstance(t, url, 5*time.Second, nil)
	b := newInstance(t, url, 5*time.Second, nil)
	c := &client{}
	must(t, c.do(a.h, "POST", "/login?u=ann"), 200, "login")
	sks := sessionKeys(keys(t))
	if len(sks) != 1 {
		t.Fatalf("session keys after login: %v", sks)
	}
	sk := sks[0]
	srv := node(sk)
	const maxSize, maxFields = 64 << 10, 256 // the Manager's defaults
	value := strings.Repeat("v", 16<<10)

	var biggest, most atomic.Int64
	sample := func() {
		size, fields := storedSize(t, srv.DoOK(t, "HGETALL", sk))
		for cur := biggest.Load(); int64(size) > cur && !biggest.CompareAndSwap(cur, int64(size)); cur = biggest.Load() {
		}
		for cur := most.Load(); int64(fields) > cur && !most.CompareAndSwap(cur, int64(fields)); cur = most.Load() {
		}
	}
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				sample()
				time.Sleep(time.Millisecond)
			}
		}
	})
	const writes, parallel = 1000, 64
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range writes {
		sem <- struct{}{}
		in := a
		if i%2 == 1 {
			in = b
		}
		wg.Go(func() {
			defer func() { <-sem }()
			code := c.with().do(in.h, "POST", put(fmt.Sprintf("k%d", i), value)).StatusCode
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	sample()
	size, fields := storedSize(t, srv.DoOK(t, "HGETALL", sk))
	t.Logf("%d writes of 16 KiB: statuses %v; stored session %d bytes in %d fields at the end, at most %d bytes and %d fields while they ran (MaxSize %d)",
		writes, statuses, size, fields, biggest.Load(), most.Load(), maxSize)
	if biggest.Load() > int64(maxSize) {
		t.Errorf("the stored session reached %d bytes, past MaxSize %d", biggest.Load(), maxSize)
	}
	if most.Load() > maxFields {
		t.Errorf("the stored session reached %d fields, past MaxFields %d", most.Load(), maxFields)
	}
	if size < 3*(16<<10) {
		t.Errorf("the stored session holds %d bytes: fewer than the 3 values of 16 KiB that fit", size)
	}
	if got := must(t, c.do(b.h, "GET", "/whoami"), 200, "read after the burst"); got != "ann" {
		t.Errorf("whoami after the burst = %q, want ann", got)
	}
}

func TestParallelWritesLimit(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	parallelWrites(t, srv.URL(), srv.Keys, func(string) *redistest.Server { return srv })
}

func TestParallelWritesLimitCluster(t *testing.T) {
	cs := redistest.Cluster(t, 3)
	url := cs.URL()
	parallelWrites(t, url, cs.Keys, func(key string) *redistest.Server { return cs.NodeFor(t, key) })
}
