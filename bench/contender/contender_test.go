package contender

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHandlerBare checks the shared handler's routes and bodies with the
// contender that needs no server; the Redis contenders are exercised by
// cmd/loadgen, which checks every answer before measuring.
func TestHandlerBare(t *testing.T) {
	h := Handler(bare{})
	for _, tc := range []struct {
		name, method, path, want string
	}{
		{"read", "GET", "/read", "What's up, stranger?\n"},
		{"write", "POST", "/write", "What's up, stranger?\n"},
		{"read10", "GET", "/read10", "What's up, stranger? 0 keys, 0 bytes\n"},
		{"setup", "POST", "/setup?keys=10", "ok\n"},
		{"healthz", "GET", "/healthz", "ok\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
			b, _ := io.ReadAll(w.Result().Body)
			if w.Code != http.StatusOK || string(b) != tc.want {
				t.Fatalf("%s %s = %d %q, want 200 %q", tc.method, tc.path, w.Code, b, tc.want)
			}
		})
	}
	if v := Value(3); len(v) != 100 {
		t.Fatalf("Value(3) has %d bytes, want 100", len(v))
	}
}
