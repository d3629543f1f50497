package session_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// exampleKey signs the examples' cookies. A real server reads its keys from
// a secret file or the environment, never from its source.
var exampleKey = []byte("example signing key, 32 bytes or more")

// serve runs one request through h and returns its response.
func serve(h http.Handler, method, target string, cookies ...*http.Cookie) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func ExampleNew() {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	m := session.New(store, session.Config{Keys: [][]byte{exampleKey}})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /name", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if err := s.Put("name", r.FormValue("name")); err != nil {
			http.Error(w, "cannot save", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "saved")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := session.FromContext(r.Context()).String("name")
		if !ok {
			name = "stranger"
		}
		fmt.Fprintf(w, "Hello, %s!\n", name)
	})
	h := m.Handler(mux)

	resp := serve(h, "POST", "/name?name=Gopher")
	cookie := resp.Cookies()[0]
	fmt.Println(cookie.Name, "Secure:", cookie.Secure, "HttpOnly:", cookie.HttpOnly)

	resp = serve(h, "GET", "/", cookie)
	fmt.Print(body(resp))
	resp = serve(h, "GET", "/") // another browser, no cookie
	fmt.Print(body(resp))
	// Output:
	// __Host-session Secure: true HttpOnly: true
	// Hello, Gopher!
	// Hello, stranger!
}

func ExampleManager_RequireLogin() {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	m := session.New(store, session.Config{Keys: [][]byte{exampleKey}})

	mux := http.NewServeMux()
	mux.Handle("GET /account", m.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "account of %s\n", session.FromContext(r.Context()).User())
	})))
	h := m.Handler(mux)

	resp := serve(h, "GET", "/account?tab=keys")
	fmt.Println(resp.StatusCode, resp.Header.Get("Location"))

	req := httptest.NewRequest("GET", "/account", nil)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// 303 /login?next=%2Faccount%3Ftab%3Dkeys
	// 401
}

func ExampleLocalPath() {
	for _, next := range []string{
		"/account?tab=keys",
		"//evil.example/phish",
		"/\\evil.example",
		"https://evil.example/",
		"javascript:alert(1)",
		"",
	} {
		fmt.Printf("%q -> %q\n", next, session.LocalPath(next, "/"))
	}
	// Output:
	// "/account?tab=keys" -> "/account?tab=keys"
	// "//evil.example/phish" -> "/"
	// "/\\evil.example" -> "/"
	// "https://evil.example/" -> "/"
	// "javascript:alert(1)" -> "/"
	// "" -> "/"
}

func ExampleSession_Renew() {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	m := session.New(store, session.Config{Keys: [][]byte{exampleKey}})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put("cart", []string{"tea"})
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// After checking the password: bind the user, with a new token
		// against session fixation.
		if err := session.FromContext(r.Context()).Login(r.FormValue("user")); err != nil {
			session.Error(w, r, err)
			return
		}
		http.Redirect(w, r, session.LocalPath(r.FormValue("next"), "/"), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		var cart []string
		s.Get("cart", &cart)
		fmt.Fprintf(w, "user %q, cart %v\n", s.User(), cart)
	})
	h := m.Handler(mux)

	before := serve(h, "POST", "/cart").Cookies()[0]
	resp := serve(h, "POST", "/login?user=ann&next=/checkout", before)
	after := resp.Cookies()[0]
	fmt.Println(resp.StatusCode, resp.Header.Get("Location"))
	fmt.Println("new token:", after.Value != before.Value)

	fmt.Print(body(serve(h, "GET", "/whoami", after)))
	fmt.Print(body(serve(h, "GET", "/whoami", before))) // the old cookie is dead
	// Output:
	// 303 /checkout
	// new token: true
	// user "ann", cart [tea]
	// user "", cart []
}

func body(resp *http.Response) string {
	b := new(strings.Builder)
	io.Copy(b, resp.Body)
	return b.String()
}
