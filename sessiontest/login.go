package sessiontest

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stickless/stickless/session"
)

// LoginCookie logs user in through m, as a login handler would with
// [session.Session.Login], and returns the session cookie to send with the
// requests of a handler test: req.AddCookie(sessiontest.LoginCookie(t, m,
// "ann")). The session lives in m's store like any other. It fails the
// test when the store cannot answer.
func LoginCookie(t testing.TB, m *session.Manager, user string) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	var err error
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err = session.FromContext(r.Context()).Login(user)
	})).ServeHTTP(rec, httptest.NewRequest("POST", "https://sessiontest.invalid/login", nil))
	if err != nil {
		t.Fatalf("sessiontest: LoginCookie: %v", err)
	}
	name := m.Config().CookieName
	for _, c := range rec.Result().Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	t.Fatalf("sessiontest: LoginCookie: the login of %q answered %d without a session cookie", user, rec.Code)
	return nil
}

// LoginClient returns a new client of srv, a test server whose handler
// uses m, that is logged in as user in a session of its own: its cookie
// jar holds the session cookie, so that a test follows redirects and keeps
// the cookies that the server sets, as a browser would. Each call gives
// another client, like another device, sharing only srv's transport. Use
// httptest.NewTLSServer unless m's Config sets InsecureCookie: browsers,
// and cookiejar, send a Secure cookie over HTTPS only.
func LoginClient(t testing.TB, m *session.Manager, srv *httptest.Server, user string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(u, []*http.Cookie{LoginCookie(t, m, user)})
	return &http.Client{Transport: srv.Client().Transport, Jar: jar}
}
