// Command chi is stickless with the chi router: the session middleware is
// ordinary net/http middleware, so r.Use takes it as it is.
package main

import (
	"crypto/rand"
	"encoding/json"
	"log"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

func main() {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	key := make([]byte, 32) // production: the same key on every instance, from a secret store
	rand.Read(key)
	m := session.New(store, session.Config{Keys: [][]byte{key}, InsecureCookie: true}) // InsecureCookie: development only
	log.Println("listening on http://127.0.0.1:8000")
	log.Fatal(http.ListenAndServe("127.0.0.1:8000", newRouter(m)))
}

func newRouter(m *session.Manager) http.Handler {
	r := chi.NewRouter()
	r.Use(m.Handler) // every request gets its session
	r.Post("/login", login)
	r.Post("/logout", logout)
	r.Group(func(r chi.Router) {
		r.Use(m.RequireLoginAPI) // 401 JSON without a login
		r.Get("/api/me", me)
		r.Post("/api/counter", count)
	})
	return r
}

// login logs the user in. A real application checks a password first.
func login(w http.ResponseWriter, r *http.Request) {
	user := r.PostFormValue("user")
	if user == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "user required"})
		return
	}
	// Bind the user, with a new token against session fixation.
	if err := session.FromContext(r.Context()).Login(user); err != nil {
		session.Error(w, r, err) // 503 when the store cannot answer (Config.ErrorFunc)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": user})
}

func logout(w http.ResponseWriter, r *http.Request) {
	session.FromContext(r.Context()).Destroy()
	w.WriteHeader(http.StatusNoContent)
}

func me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"user": session.FromContext(r.Context()).User()})
}

// count adds one to a counter in the session, atomically in the store.
func count(w http.ResponseWriter, r *http.Request) {
	n, err := session.FromContext(r.Context()).Incr(r.Context(), "count", 1)
	if err != nil {
		session.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"count": n})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
