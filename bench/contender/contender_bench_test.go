package contender

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stickless/stickless/internal/redistest"
)

// BenchmarkContenders serves the benchmark's requests in process
// (httptest, no network HTTP), each contender on the same Redis: the CPU
// a contender spends per request besides the server, for profiling
// (go test -bench Contenders -cpuprofile). make bench is the measure.
func BenchmarkContenders(b *testing.B) {
	srv := redistest.Standalone(b, redistest.Options{})
	for _, name := range []string{"rawrueidis", "stickless", "stickless-clear", "stickless-cache", "stickless-cache-clear", "scs"} {
		c, err := New(context.Background(), name, srv.Addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		h := Handler(c)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/setup", nil))
		cookie := CookieHeader(w.Result())
		for _, sc := range []struct{ name, method, path string }{{"read", "GET", "/read"}, {"write", "POST", "/write"}} {
			b.Run(name+"/"+sc.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req := httptest.NewRequest(sc.method, sc.path, nil)
					req.Header.Set("Cookie", cookie)
					for pb.Next() {
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)
						if w.Code != http.StatusOK {
							b.Errorf("%s %s: %d", sc.method, sc.path, w.Code)
							return
						}
					}
				})
			})
		}
	}
}
