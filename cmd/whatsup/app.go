package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stickless/stickless/session"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{"static": staticURL}).ParseFS(templateFS, "templates/*.html"))

// maxBody bounds every request body: larger ones get 413.
const maxBody = 64 << 10

// app is the demo's HTTP side: one per process.
type app struct {
	m        *session.Manager
	instance string
	streams  *streams      // GET /api/events (events.go)
	reauth   time.Duration // "log out everywhere" needs a login younger than this
	health   health        // GET /healthz
}

// defaultReauth is how recent a login "log out everywhere" needs (OWASP
// ASVS 3.7.1): an action on every session of the user asks for a fresh
// authentication, so that a forgotten logged-in browser cannot do it.
const defaultReauth = 15 * time.Minute

func newApp(m *session.Manager, instance string) *app {
	return &app{m: m, instance: instance, streams: newStreams(eventsConfig{}, libraryWatch), reauth: defaultReauth}
}

// handler returns the whole HTTP handler: the X-Instance header, the
// cross-origin check, the body limit and the session middleware around the
// routes.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	login := a.m.RequireLogin

	mux.HandleFunc("GET /{$}", a.requirePage(a.home))
	mux.HandleFunc("GET /login", a.loginForm)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	// Ending sessions needs a fresh login (ASVS 3.3.4, 3.7.1).
	recent, recentAPI := a.m.RequireRecentLogin(a.reauth), a.m.RequireRecentLoginAPI(a.reauth)
	mux.Handle("GET /sessions", login(http.HandlerFunc(a.sessionsPage)))
	mux.Handle("POST /sessions/revoke", recent(http.HandlerFunc(a.revokeForm)))
	mux.Handle("POST /logout-others", recent(http.HandlerFunc(a.logoutOthers)))
	mux.Handle("POST /logout-everywhere", recent(http.HandlerFunc(a.logoutEverywhere)))

	mux.HandleFunc("GET /api/whoami", a.whoami)
	mux.HandleFunc("GET /api/session", a.getSession)
	// Writes need a login: an anonymous client stores nothing.
	mux.HandleFunc("POST /api/session", a.requireAPI(a.mergeSession))
	mux.HandleFunc("GET /api/sessions", a.requireAPI(a.listSessions))
	mux.Handle("POST /api/sessions/revoke", recentAPI(http.HandlerFunc(a.revokeAPI)))
	mux.HandleFunc("GET /api/events", a.events)
	mux.HandleFunc("POST /api/incr", a.requireAPI(a.incrAPI))
	mux.HandleFunc("GET /healthz", a.healthz)

	var h http.Handler = a.m.Handler(mux)
	h = http.NewCrossOriginProtection().Handler(h)
	return a.common(withStatic(h))
}

// common sets X-Instance and nosniff on every response and bounds request
// bodies.
func (a *app) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance", a.instance)
		// No answer is ever sniffed into another type (a JSON answer
		// holding user data rendered as HTML, for one).
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// requirePage is RequireLogin for a handler func.
func (a *app) requirePage(h http.HandlerFunc) http.HandlerFunc {
	return a.m.RequireLogin(h).ServeHTTP
}

// requireAPI lets through requests of a logged-in user and answers 401 JSON
// to the others, whatever their Accept header.
func (a *app) requireAPI(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if err := s.Load(r.Context()); err != nil {
			session.Error(w, r, err)
			return
		}
		if s.User() == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login required"})
			return
		}
		h(w, r)
	}
}

// errorAnswer is the demo's session.Config.ErrorFunc: the library's
// answers to a store that cannot answer (503) and to a full session (413),
// as JSON for the API and as text for pages. It never shows err, which may
// describe the store.
func errorAnswer(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := http.StatusInternalServerError, "internal error"
	switch {
	case errors.Is(err, session.ErrStoreUnavailable):
		code, msg = http.StatusServiceUnavailable, "the session store is not answering; please retry shortly"
	case errors.Is(err, session.ErrTooLarge):
		code, msg = http.StatusRequestEntityTooLarge, "the session would grow past its limits (size or number of keys); nothing was changed"
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	http.Error(w, strconv.Itoa(code)+" "+msg, code)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// render writes a page; templates are parsed at start-up, so a failure here
// is a write error to a gone client.
func (a *app) render(w http.ResponseWriter, code int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	// Styles and the script are files under /static/ (static.go): no
	// inline style or script is needed, nor allowed. frame-ancestors: no
	// framing (clickjacking; X-Frame-Options for old browsers);
	// form-action: forms post to this origin only; base-uri: no <base>
	// injected to redirect relative URLs.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	w.WriteHeader(code)
	pages.ExecuteTemplate(w, name, data)
}

// healthz answers GET /healthz: ok when the store answers, else 503. The
// answer comes from a check at most healthEvery old, so that the store
// sees at most one call per interval from this instance however many
// clients ask, and a change of the store's health shows within it.
func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	if err := a.health.check(r.Context(), a.m); err != nil {
		session.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

const healthEvery = time.Second

// health is the last store check of /healthz.
type health struct {
	mu  sync.Mutex // held during a check: the requests meanwhile wait for it
	at  time.Time  // when the last check ended
	err error
}

func (h *health) check(ctx context.Context, m *session.Manager) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < healthEvery {
		return h.err
	}
	h.err = m.Healthy(ctx)
	h.at = time.Now()
	return h.err
}
