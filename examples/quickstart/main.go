// Command quickstart is the README's quick start: logins, logouts and a
// JSON API on net/http. Copies of it behind a load balancer share their
// sessions through Redis.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "listen address")
	insecure := flag.Bool("insecure-cookie", false, "let the cookie travel over plain HTTP (development only)")
	flag.Parse()

	// The same keys on every instance, from the environment or a secret
	// store: SESSION_KEYS=$(openssl rand -hex 32). The first one signs.
	keys, err := session.ParseKeys(os.Getenv("SESSION_KEYS"))
	if err != nil {
		log.Fatalf("SESSION_KEYS: %v", err)
	}
	store, err := openStore(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	m := session.New(store, session.Config{Keys: keys, InsecureCookie: *insecure})

	log.Printf("listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, m.Handler(routes(m))))
}

// openStore returns Redis when url is set (redis://, rediss://, unix://;
// Cluster and Sentinel: see docs/redis.md), or sessions in this process only.
func openStore(url string) (session.Store, error) {
	if url == "" {
		return memstore.New(memstore.Options{}), nil
	}
	return redisstore.NewFromURL(context.Background(), url, redisstore.Options{})
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
		session.Error(w, r, err) // 503 when the store cannot answer
		return
	}
	// The session is saved, and the cookie set, when the headers go out.
	http.Redirect(w, r, "/api/me", http.StatusSeeOther)
}

// logout ends the session on the server and clears the cookie.
func logout(w http.ResponseWriter, r *http.Request) {
	if err := session.FromContext(r.Context()).Destroy(); err != nil {
		session.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func me(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"user": session.FromContext(r.Context()).User()})
}
