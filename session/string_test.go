package session_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// TestStringDecodes: String returns what json.Unmarshal would, for the
// strings it reads without decoding (no escape) and for the others, and
// refuses a value that is not a string.
func TestStringDecodes(t *testing.T) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	m := session.New(store, session.Config{Keys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, InsecureCookie: true})
	values := map[string]string{
		"plain": "ann", "empty": "", "unicode": "Zoë 日本", "quote": `say "hi"`, "backslash": `a\b`,
		"control": "a\tb\nc", "html": "<script>&", "invalid utf-8": "a\xffb", "escaped unicode": "\u2028",
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.FromContext(r.Context())
		if r.Method == "POST" {
			for k, v := range values {
				if err := s.Put(k, v); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.PutMany(map[string][]byte{"number": []byte("12"), "raw": []byte(`"a\u0041b"`)}); err != nil {
				t.Fatal(err)
			}
			return
		}
		for k, v := range values {
			var want string
			b, _ := json.Marshal(v)
			json.Unmarshal(b, &want)
			if got, ok := s.String(k); !ok || got != want {
				t.Errorf("String(%q) = %q, %v; want %q", k, got, ok, want)
			}
		}
		if got, ok := s.String("raw"); !ok || got != "aAb" {
			t.Errorf(`String of "a\u0041b" = %q, %v; want aAb`, got, ok)
		}
		if got, ok := s.String("number"); ok {
			t.Errorf("String of 12 = %q, want not ok", got)
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	req := httptest.NewRequest("GET", "/", nil)
	for _, c := range w.Result().Cookies() {
		req.AddCookie(c)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
}
