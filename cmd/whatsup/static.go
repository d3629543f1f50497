package main

// Static files: the demo's stylesheet, script and favicon.
//
// Each file is published under a name that carries a hash of its content:
// static/style.css becomes /static/style.<12 hex digits>.css. The content
// behind a URL therefore never changes, so browsers (and any CDN) may keep
// it for a year without asking again ("immutable"), and a new release is
// picked up at once because its pages name new URLs.
//
// Why hashed names rather than fixed names with ETags: with fixed names a
// page view costs one revalidation round trip per file (304s), and during a
// rolling deploy an old page could get the new stylesheet (or the reverse)
// from the same URL. Hashed names cost neither; their price is that the
// names must be computed, which the binary does from its embedded copy, so
// the pages and the files can never disagree.
//
// Who serves them:
//   - In the real topology nginx serves /static/ from a directory and never
//     passes those requests to an instance. `whatsup -write-static DIR`
//     writes the embedded files into DIR under their hashed names (run it on
//     every deploy, before the new instances start; it never deletes, so the
//     pages of instances still running the old release keep working).
//   - Without nginx (`make demo`), the binary serves the same names from its
//     embedded copy with the same headers, so pages look the same.

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// staticCacheControl is the Cache-Control of every static file, here and
// in deploy/nginx.conf: a year, and no revalidation on reload.
const staticCacheControl = "public, max-age=31536000, immutable"

// asset is one embedded static file.
type asset struct {
	name   string // as in the source tree: "style.css"
	hashed string // as published: "style.3f2a9c1e04b7.css"
	ctype  string
	etag   string
	body   []byte
}

// assets holds every file of static/, by source name and by published name.
var assets = loadAssets(staticFS)

type assetSet struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

func loadAssets(fsys fs.FS) assetSet {
	set := assetSet{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		a := &asset{
			name:   name,
			hashed: strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext,
			ctype:  mime.TypeByExtension(ext),
			etag:   `"` + hex.EncodeToString(sum[:16]) + `"`,
			body:   body,
		}
		if a.ctype == "" {
			return fmt.Errorf("no content type for %s", name)
		}
		set.byName[name], set.byHashed[a.hashed] = a, a
		return nil
	})
	if err != nil {
		panic("whatsup: static files: " + err.Error())
	}
	return set
}

// staticURL returns the published URL of a file of static/, for the
// templates ({{static "style.css"}}). An unknown name is an error, which
// the template tests catch.
func staticURL(name string) (string, error) {
	a, ok := assets.byName[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + a.hashed, nil
}

// serveStatic serves GET and HEAD /static/<hashed name> from the embedded
// files, with the headers nginx gives them. It runs outside the session
// middleware: a static file never touches a session.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := assets.byHashed[strings.TrimPrefix(r.URL.Path, "/static/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", staticCacheControl)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// withStatic routes /static/ to serveStatic and the rest to next.
func withStatic(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/", serveStatic)
	mux.Handle("/", next)
	return mux
}

// writeStatic writes every static file into dir under its published name,
// for nginx: files that already exist with the same name are left as they
// are (same name, same content), and nothing is deleted. Each file is
// written to a temporary name first and renamed, so nginx never serves a
// half-written file.
func writeStatic(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, a := range assets.byName {
		dst := filepath.Join(dir, a.hashed)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		f, err := os.CreateTemp(dir, ".tmp-"+a.hashed+"-*")
		if err != nil {
			return written, err
		}
		_, err = f.Write(a.body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(f.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(f.Name(), dst)
		}
		if err != nil {
			os.Remove(f.Name())
			return written, err
		}
		written = append(written, a.hashed)
	}
	return written, nil
}
