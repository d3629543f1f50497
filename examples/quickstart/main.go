// Command quickstart is the README's quick start: logins, logouts and a
// JSON API on net/http with sessions in memory.
package main

import (
	"crypto/rand"
	"encoding/json"
	"log"
	"net/http"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

func main() {
	// Sessions in this process. Several instances share redisstore instead.
	store := memstore.New(memstore.Options{})
	defer store.Close()

	// The key signs the cookies: 32 random bytes or more. A random key
	// logs everyone out at each restart; in production, load the same key
	// on every instance from your secret store.
	key := make([]byte, 32)
	rand.Read(key)
	m := session.New(store, session.Config{
		Keys: [][]byte{key},
		// Development only: lets the cookie travel over plain HTTP on
		// localhost. In production (HTTPS), leave it out.
		InsecureCookie: true,
	})

	log.Println("listening on http://127.0.0.1:8000")
	log.Fatal(http.ListenAndServe("127.0.0.1:8000", m.Handler(routes(m))))
}

func routes(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", login)
	mux.HandleFunc("POST /logout", logout)
	// API routes answer 401 without a login, whatever the Accept header;
	// m.RequireLogin redirects pages to the login page instead.
	mux.Handle("GET /api/me", m.RequireLoginAPI(http.HandlerFunc(me)))
	return mux
}

// login logs the user in. A real application checks a password first.
func login(w http.ResponseWriter, r *http.Request) {
	user := r.PostFormValue("user")
	if user == "" {
		http.Error(w, "user required", http.StatusBadRequest)
		return
	}
	s := session.FromContext(r.Context())
	// Bind the user, with a new token against session fixation.
	if err := s.Login(user); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.Put("theme", "dark") // any JSON value
	// The session is saved, and the cookie set, when the headers go out.
	http.Redirect(w, r, "/api/me", http.StatusSeeOther)
}

// logout ends the session on the server and clears the cookie.
func logout(w http.ResponseWriter, r *http.Request) {
	session.FromContext(r.Context()).Destroy()
	w.WriteHeader(http.StatusNoContent)
}

func me(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	theme, _ := s.String("theme")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"user": s.User(), "theme": theme})
}
