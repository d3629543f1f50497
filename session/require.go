package session

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RequireLogin returns middleware, to be used inside [Manager.Handler], that
// lets through only requests whose session is bound to a user
// ([Session.Login]), for pages. An anonymous request that asks for JSON
// (its Accept header names application/json) gets 401; any other gets a
// 303 redirect to Config.LoginURL, with the original path and query of a
// GET in the "next" parameter. API routes, whose clients may send any Accept header
// (curl sends */*), use [Manager.RequireLoginAPI]. A store that cannot
// answer gives 503.
func (m *Manager) RequireLogin(next http.Handler) http.Handler {
	return m.require(next, "RequireLogin", false, 0)
}

// RequireLoginAPI is [Manager.RequireLogin] for API routes: an anonymous
// request gets 401 with a JSON body {"error":"login required"}, whatever
// its Accept header, never a redirect.
func (m *Manager) RequireLoginAPI(next http.Handler) http.Handler {
	return m.require(next, "RequireLoginAPI", true, 0)
}

// RequireRecentLogin returns middleware, to be used inside
// [Manager.Handler], for actions that need a fresh authentication (OWASP
// ASVS 3.7.1), such as "log out everywhere" or a change of password: it
// lets through only requests whose user logged in ([Session.Login]) less
// than maxAge ago. Others are answered as by [Manager.RequireLogin], with
// "reauth=1" added to the redirect, and the JSON error "recent login
// required" for a logged-in user whose login is too old. It panics when
// maxAge is not positive.
func (m *Manager) RequireRecentLogin(maxAge time.Duration) func(http.Handler) http.Handler {
	if maxAge <= 0 {
		panic("session: RequireRecentLogin: maxAge must be positive")
	}
	return func(next http.Handler) http.Handler {
		return m.require(next, "RequireRecentLogin", false, maxAge)
	}
}

// RequireRecentLoginAPI is [Manager.RequireRecentLogin] for API routes:
// a request without a login, or whose login is older than maxAge, gets 401
// with the JSON error "login required" or "recent login required",
// whatever its Accept header, never a redirect.
func (m *Manager) RequireRecentLoginAPI(maxAge time.Duration) func(http.Handler) http.Handler {
	if maxAge <= 0 {
		panic("session: RequireRecentLoginAPI: maxAge must be positive")
	}
	return func(next http.Handler) http.Handler {
		return m.require(next, "RequireRecentLoginAPI", true, maxAge)
	}
}

func (m *Manager) require(next http.Handler, name string, api bool, maxAge time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := r.Context().Value(ctxKey{}).(*Session)
		if !ok {
			panic("session: " + name + " used outside Manager.Handler")
		}
		if err := s.Load(r.Context()); err != nil {
			m.fail(w, r, err)
			return
		}
		user := s.User()
		stale := user != "" && maxAge > 0 && time.Since(s.LoginTime()) >= maxAge
		if user != "" && !stale {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if api || strings.Contains(r.Header.Get("Accept"), "application/json") {
			msg := `{"error":"login required"}`
			if stale {
				msg = `{"error":"recent login required"}`
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(msg + "\n"))
			return
		}
		q := url.Values{}
		// Back to the page after the login; a form's POST cannot be
		// replayed by a redirect, so it goes back to the start.
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if next := LocalPath(r.URL.RequestURI(), ""); next != "" && next != m.cfg.LoginURL {
				q.Set("next", next)
			}
		}
		if stale {
			q.Set("reauth", "1")
		}
		target := m.cfg.LoginURL
		if len(q) > 0 {
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			target += sep + q.Encode()
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}
