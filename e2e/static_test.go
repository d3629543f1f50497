package e2e

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// staticRef finds the /static/ URLs a page names.
var staticRef = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)

// TestStaticFilesFromNginx: the CSS, script and favicon that the pages name
// are served by nginx itself from the directory `whatsup -write-static`
// filled: no X-Instance header, a year of caching, the same bytes as the
// instances' embedded copy (make demo), and none of these requests reaches
// an instance, as their access logs show.
func TestStaticFilesFromNginx(t *testing.T) {
	c := startCluster(t, clusterConfig{Flags: []string{"-access-log"}})
	u := newClient(t, "static")
	page := u.mustGet(t, c.URL+"/login")
	if page.Code != http.StatusOK || page.Header.Get("X-Instance") == "" {
		t.Fatalf("GET /login through nginx: %v", page)
	}
	refs := staticRef.FindAllStringSubmatch(page.Body, -1)
	if len(refs) != 3 {
		t.Fatalf("/login names %d static files, want 3:\n%s", len(refs), page.Body)
	}
	// Names that are not there (a plain name, an unknown hash) are nginx's
	// own 404s, never passed on.
	for _, p := range []string{"/static/style.css", "/static/nope.0123456789ab.js"} {
		r := u.mustGet(t, c.URL+p)
		if r.Code != http.StatusNotFound || r.Header.Get("X-Instance") != "" {
			t.Errorf("GET %s through nginx: %v, want 404 from nginx itself", p, r)
		}
	}
	for _, ref := range refs {
		p := ref[1]
		for i := range 3 { // round-robin would spread them, were they passed on
			r := u.mustGet(t, c.URL+p)
			if r.Code != http.StatusOK || r.Header.Get("X-Instance") != "" {
				t.Fatalf("GET %s #%d through nginx: %v, want 200 from nginx itself", p, i, r)
			}
			if got := r.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("GET %s: Cache-Control %q", p, got)
			}
			if r.Header.Get("ETag") == "" {
				t.Errorf("GET %s: no ETag", p)
			}
			// The same file from an instance (what make demo serves).
			direct := u.mustGet(t, c.Instances[0].URL+p)
			if direct.Code != http.StatusOK || direct.Body != r.Body {
				t.Errorf("GET %s: nginx and the instance serve different content (%d)", p, direct.Code)
			}
			if r.Header.Get("Content-Type") != direct.Header.Get("Content-Type") {
				t.Errorf("GET %s: Content-Type %q from nginx, %q from the instance", p, r.Header.Get("Content-Type"), direct.Header.Get("Content-Type"))
			}
		}
	}

	// The access logs: each instance logged requests (/login, /healthz,
	// the direct GETs above on i1), but none for /static/ through nginx.
	for _, in := range c.Instances {
		b, err := os.ReadFile(in.LogFile)
		if err != nil {
			t.Fatal(err)
		}
		var static, logged int
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, `msg=request`) {
				continue
			}
			logged++
			if strings.Contains(line, "path=/static/") {
				static++
			}
		}
		if logged == 0 {
			t.Errorf("%s logged no request at all: is -access-log working?", in.Name)
		}
		want := 0
		if in == c.Instances[0] {
			want = len(refs) * 3 // the direct GETs
		}
		if static != want {
			t.Errorf("%s logged %d /static/ requests, want %d (only those sent to it directly)", in.Name, static, want)
		}
	}
}
