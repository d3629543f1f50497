package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// skipWrite is memstore with a deliberate bug: Incr answers the new value
// and never writes it, and so does CompareAndSwap, through which
// Session.Incr increments an encrypted value.
type skipWrite struct{ *memstore.Store }

func (s skipWrite) Incr(ctx context.Context, key, field string, n int64, lim session.Limits) (int64, bool, error) {
	rec, found, err := s.Load(ctx, key, lim)
	if err != nil || !found {
		return 0, found, err
	}
	v, _ := strconv.ParseInt(string(rec.Values[field]), 10, 64)
	return v + n, true, nil
}

func (s skipWrite) CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lim session.Limits) (bool, bool, error) {
	_, found, err := s.Load(ctx, key, lim)
	return found && err == nil, found, err
}

// keepOnDestroy is memstore with a deliberate bug: Destroy (logout,
// revoke) does nothing.
type keepOnDestroy struct{ *memstore.Store }

func (keepOnDestroy) Destroy(context.Context, string) error { return nil }

// TestCheckFindsBug runs the soak's virtual users for a moment against an
// app of the library over memstore, with the routes of cmd/whatsup that
// they use, and checks the history they recorded: linearizable with
// memstore as it is, not with a deliberate bug.
func TestCheckFindsBug(t *testing.T) {
	for _, tc := range []struct {
		name string
		bug  func(*memstore.Store) session.Store
	}{
		{"memstore", nil},
		{"increment that skips its write", func(s *memstore.Store) session.Store { return skipWrite{s} }},
		{"logout that keeps the session", func(s *memstore.Store) session.Store { return keepOnDestroy{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := memstore.New(memstore.Options{})
			defer ms.Close()
			var store session.Store = ms
			if tc.bug != nil {
				store = tc.bug(ms)
			}
			srv := httptest.NewServer(soakApp(session.New(store, session.Config{InsecureCookie: true, Keys: [][]byte{[]byte(randHex())}})))
			defer srv.Close()

			hist := newHistory()
			l := newLoad(srv.URL, newRecorder(), hist)
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Go(func() { l.user(ctx, i, 20*time.Millisecond) })
			}
			wg.Wait()
			l.tr.CloseIdleConnections()

			dir := t.TempDir()
			r := checkHistory(hist.partitions(), checkConfig{timeout: 10 * time.Second, workers: 2, dir: dir, prefix: "t-"})
			incrs, revokes := 0, 0
			for _, p := range hist.partitions() {
				for _, op := range p.ops {
					switch op.Input.(opIn).kind {
					case opIncr:
						if op.Output.(opOut).alive {
							incrs++
						}
					case opRevoke:
						revokes++
					}
				}
			}
			t.Logf("%d partitions, %d operations (%d acknowledged increments): %d linearizable, %d not, %d timed out, checked in %v",
				r.partitions, r.ops, incrs, r.linearizable, len(r.illegal), len(r.timedOut), r.took)
			if incrs < 20 || revokes < 3 {
				t.Fatalf("only %d acknowledged increments and %d revokes: the load did too little to tell", incrs, revokes)
			}
			if len(r.timedOut) > 0 {
				t.Errorf("timed out: %v", r.timedOut)
			}
			switch {
			case tc.bug != nil && len(r.illegal) == 0:
				t.Error("every partition linearizable, with the bug")
			case tc.bug != nil:
				for _, v := range r.illegal {
					b, err := os.ReadFile(v.file)
					if err != nil || !strings.Contains(string(b), v.p.ops[0].Metadata.(string)) {
						t.Errorf("visualization of %s: %q, %v", v.p.name, v.file, err)
					}
				}
			case tc.bug == nil && len(r.illegal) > 0:
				for _, v := range r.illegal {
					for _, op := range v.p.ops {
						t.Logf("%s: %d..%d %s %v", v.p.name, op.Call, op.Return, describeOp(op.Input.(opIn), op.Output.(opOut)), op.Metadata)
					}
				}
				t.Errorf("%d partitions not linearizable with memstore", len(r.illegal))
			}
		})
	}
}

// soakApp serves the routes of cmd/whatsup that the virtual users call,
// as whatsup answers them.
func soakApp(m *session.Manager) http.Handler {
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, err error) {
		if err == session.ErrGone {
			reply(w, http.StatusUnauthorized, nil)
			return
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "503 store unavailable", http.StatusServiceUnavailable)
	}
	// api needs a login, as whatsup's requireAPI.
	api := func(h func(http.ResponseWriter, *http.Request, *session.Session)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s := session.FromContext(r.Context())
			if err := s.Load(r.Context()); err != nil {
				fail(w, err)
				return
			}
			if s.User() == "" {
				reply(w, http.StatusUnauthorized, nil)
				return
			}
			h(w, r, s)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		name := r.FormValue("name")
		err := s.Login(name)
		if err == nil {
			err = s.Put("user_name", name)
		}
		if err == nil {
			err = s.Commit(r.Context())
		}
		if err != nil {
			fail(w, err)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		err := s.Destroy()
		if err == nil {
			err = s.Commit(r.Context())
		}
		if err != nil {
			fail(w, err)
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /api/whoami", func(w http.ResponseWriter, r *http.Request) {
		var user *string
		if u := session.FromContext(r.Context()).User(); u != "" {
			user = &u
		}
		reply(w, http.StatusOK, map[string]*string{"user": user})
	})
	mux.HandleFunc("GET /api/session", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, session.FromContext(r.Context()).Values())
	})
	mux.HandleFunc("POST /api/session", api(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		var kv map[string]json.RawMessage
		json.NewDecoder(r.Body).Decode(&kv)
		set := map[string][]byte{}
		for k, v := range kv {
			set[k] = v
		}
		err := s.PutMany(set)
		if err == nil {
			err = s.Commit(r.Context())
		}
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, s.Values())
	}))
	mux.HandleFunc("POST /api/incr", api(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		var req struct{ Key string }
		json.NewDecoder(r.Body).Decode(&req)
		v, err := s.Incr(r.Context(), req.Key, 1)
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, map[string]int64{"value": v})
	}))
	mux.HandleFunc("GET /api/sessions", api(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		list, err := s.Sessions(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		type entry struct {
			Handle  string `json:"handle"`
			Current bool   `json:"current"`
		}
		out := []entry{}
		for _, in := range list {
			out = append(out, entry{in.Handle, in.Current})
		}
		reply(w, http.StatusOK, map[string]any{"sessions": out})
	}))
	mux.HandleFunc("POST /api/sessions/revoke", api(func(w http.ResponseWriter, r *http.Request, s *session.Session) {
		var req struct{ Handle string }
		json.NewDecoder(r.Body).Decode(&req)
		ok, err := m.Revoke(r.Context(), s.User(), req.Handle)
		if err != nil {
			fail(w, err)
			return
		}
		code := http.StatusOK
		if !ok {
			code = http.StatusNotFound
		}
		reply(w, code, map[string]bool{"revoked": ok})
	}))
	return m.Handler(mux)
}
