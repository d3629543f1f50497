package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// staticRef finds the /static/ URLs a page names.
var staticRef = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)

func TestPagesNameHashedStaticFiles(t *testing.T) {
	d := newDemo(t)
	c := d.client()
	page := d.do(c, "GET", "/login", "", "")
	refs := staticRef.FindAllStringSubmatch(page.body, -1)
	if len(refs) != 3 {
		t.Fatalf("/login names %d static files, want 3 (style, favicon, script):\n%s", len(refs), page.body)
	}
	if csp := page.hdr.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self';") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP = %q, want default-src 'self' and no inline style or script", csp)
	}
	for _, ref := range refs {
		u := ref[1]
		r := d.do(c, "GET", u, "", "")
		if r.code != 200 {
			t.Errorf("GET %s: %d", u, r.code)
			continue
		}
		a := assets.byHashed[filepath.Base(u)]
		src, err := os.ReadFile(filepath.Join("static", a.name))
		if err != nil {
			t.Fatal(err)
		}
		if r.body != string(src) {
			t.Errorf("GET %s: body differs from static/%s", u, a.name)
		}
		if got := r.hdr.Get("Cache-Control"); got != staticCacheControl {
			t.Errorf("GET %s: Cache-Control %q", u, got)
		}
		if got := r.hdr.Get("Content-Type"); got != a.ctype || got == "" {
			t.Errorf("GET %s: Content-Type %q, want %q", u, got, a.ctype)
		}
		if r.hdr.Get("Set-Cookie") != "" || r.hdr.Get("Vary") != "" {
			t.Errorf("GET %s: a static file went through the session middleware: %v", u, r.hdr)
		}
		if nm := d.do(c, "GET", u, "", "", "If-None-Match", r.hdr.Get("ETag")); nm.code != 304 {
			t.Errorf("GET %s with If-None-Match: %d, want 304", u, nm.code)
		}
	}
	for _, u := range []string{"/static/style.css", "/static/nope.0123456789ab.css", "/static/", "/static/app.go"} {
		if r := d.do(c, "GET", u, "", ""); r.code != 404 {
			t.Errorf("GET %s: %d, want 404 (only hashed names are served)", u, r.code)
		}
	}
}

func TestHashedNameFollowsContent(t *testing.T) {
	a := loadAssets(fstest.MapFS{"static/x.css": {Data: []byte("a{}")}}).byName["x.css"]
	b := loadAssets(fstest.MapFS{"static/x.css": {Data: []byte("b{}")}}).byName["x.css"]
	if a.hashed == b.hashed || !regexp.MustCompile(`^x\.[0-9a-f]{12}\.css$`).MatchString(a.hashed) {
		t.Errorf("hashed names %q and %q: want x.<12 hex>.css, different for different content", a.hashed, b.hashed)
	}
	if a.ctype != "text/css; charset=utf-8" {
		t.Errorf("content type %q", a.ctype)
	}
}

func TestWriteStatic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "static")
	written, err := writeStatic(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range assets.byName {
		want = append(want, a.hashed)
		b, err := os.ReadFile(filepath.Join(dir, a.hashed))
		if err != nil || string(b) != string(a.body) {
			t.Errorf("%s: %v, or content differs", a.hashed, err)
		}
	}
	slices.Sort(want)
	slices.Sort(written)
	if !slices.Equal(written, want) {
		t.Errorf("written %v, want %v", written, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("%d files in the directory, want %d (no temporary file left)", len(entries), len(want))
	}
	// An old release's file stays; files already there are not rewritten.
	old := filepath.Join(dir, "style.000000000000.css")
	os.WriteFile(old, []byte("old"), 0o644)
	if again, err := writeStatic(dir); err != nil || len(again) != 0 {
		t.Errorf("second run: wrote %v, %v; want nothing", again, err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("an old release's file was removed: %v", err)
	}
}

func TestRunWriteStatic(t *testing.T) {
	dir := t.TempDir()
	if err := Run(t.Context(), []string{"-write-static", dir}, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, assets.byName["style.css"].hashed)); err != nil {
		t.Error(err)
	}
}
