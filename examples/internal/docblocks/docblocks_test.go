package docblocks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The Go blocks of README.md and docs/**/*.md are of three kinds:
//   - a copy of a file of the repository, named by the comment line
//     <!-- path --> just above it: it must equal that file, which its own
//     module compiles and tests;
//   - a whole file, from its package clause: compiled as it is;
//   - anything else: top-level declarations, or else statements (wrapped
//     in a function), compiled with the imports they need added from
//     packages below, and with the variables of givens declared when they
//     use them undeclared.
//
// Each block is a package of its own, compiled by go build with an
// overlay, in this module (so its imports resolve as the examples' do);
// errors point at the Markdown file and line.

// packages are the imports a block may use without writing them.
var packages = map[string]string{
	"context": "context", "errors": "errors", "flag": "flag", "fmt": "fmt", "io": "io", "log": "log",
	"os": "os", "strings": "strings", "sync": "sync", "testing": "testing", "time": "time",
	"slog": "log/slog", "http": "net/http", "httptest": "net/http/httptest", "cookiejar": "net/http/cookiejar",
	"json":    "encoding/json",
	"session": "github.com/stickless/stickless/session", "memstore": "github.com/stickless/stickless/memstore",
	"redisstore": "github.com/stickless/stickless/redisstore", "sessiontest": "github.com/stickless/stickless/sessiontest",
	"prom": "github.com/stickless/stickless/prom", "otelsession": "github.com/stickless/stickless/otelsession",
}

// givens are the variables a block may use without declaring them.
var givens = map[string]string{
	"ctx":   "context.Context",
	"m":     "*session.Manager",
	"store": "session.Store",
	"keys":  "[][]byte",
	"mux":   "*http.ServeMux",
	"w":     "http.ResponseWriter",
	"r":     "*http.Request",
	"s":     "*session.Session",
}

// block is one fenced Go block of a Markdown file.
type block struct {
	file   string // relative to the repository root
	line   int    // of the block's first line
	marker string // the path of <!-- path --> just above the block, if any
	code   string
}

var markerRE = regexp.MustCompile(`^<!-- ([\w./-]+) -->$`)

// TestDocBlocksCompile compiles every Go block of the README and docs/.
func TestDocBlocksCompile(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readBlocks(t, root)
	if n := countIn(blocks, "README.md"); n < 5 {
		t.Fatalf("found %d Go blocks in README.md; the parser of this test must be broken", n)
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	compiled := 0
	for i, b := range blocks {
		if b.marker != "" {
			want, err := os.ReadFile(filepath.Join(root, b.marker))
			if err != nil {
				t.Errorf("%s:%d: the block copies %s, which cannot be read: %v", b.file, b.line, b.marker, err)
			} else if string(want) != b.code {
				t.Errorf("%s:%d: the block differs from %s: copy the file into the block", b.file, b.line, b.marker)
			}
			continue
		}
		files, err := source(b)
		if err != nil {
			t.Errorf("%s:%d: %v", b.file, b.line, err)
			continue
		}
		for j, src := range files {
			name := fmt.Sprintf("b%03d_%d.go", i, j)
			if err := os.WriteFile(filepath.Join(tmp, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			overlay[filepath.Join(here, "gen", fmt.Sprintf("b%03d", i), name)] = filepath.Join(tmp, name)
		}
		compiled++
	}
	if compiled == 0 {
		t.Fatal("no block to compile")
	}
	o, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	ofile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ofile, o, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-overlay", ofile, "./gen/...")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("a Go block of the docs does not compile (%v):\n%s", err, out.String())
	}
	t.Logf("%d blocks compiled, %d checked against their file", compiled, len(blocks)-compiled)
}

// TestREADMELength: the README stays a short, library-first page; the
// rest goes under docs/.
func TestREADMELength(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n > 300 {
		t.Errorf("README.md has %d lines; keep it within 300 and move the rest to docs/", n)
	}
}

func countIn(blocks []block, file string) int {
	n := 0
	for _, b := range blocks {
		if b.file == file {
			n++
		}
	}
	return n
}

// readBlocks returns the Go blocks of README.md and of every .md file
// under docs/.
func readBlocks(t *testing.T, root string) []block {
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var blocks []block
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, parseBlocks(f, string(b))...)
	}
	return blocks
}

// parseBlocks returns the Go blocks of one Markdown file: fences of three
// backquotes or more, at the start of a line, whose info string is "go".
func parseBlocks(file, text string) []block {
	var blocks []block
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		fence, info, ok := openFence(lines[i])
		if !ok {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != fence; i++ {
		}
		if info != "go" {
			continue
		}
		b := block{file: file, line: start + 1, code: strings.Join(lines[start:min(i, len(lines))], "\n") + "\n"}
		for j := start - 2; j >= 0; j-- {
			if l := strings.TrimSpace(lines[j]); l != "" {
				if m := markerRE.FindStringSubmatch(l); m != nil {
					b.marker = m[1]
				}
				break
			}
		}
		blocks = append(blocks, b)
	}
	return blocks
}

func openFence(line string) (fence, info string, ok bool) {
	n := len(line) - len(strings.TrimLeft(line, "`"))
	if n < 3 {
		return "", "", false
	}
	return line[:n], strings.TrimSpace(line[n:]), true
}

// source returns the files of the package that compiles b.
func source(b block) ([]string, error) {
	directive := fmt.Sprintf("//line %s:%d\n", b.file, b.line)
	if strings.HasPrefix(strings.TrimSpace(stripComments(b.code)), "package ") {
		return []string{directive + b.code}, nil
	}
	code := b.code
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", "package p\n"+code, parser.AllErrors)
	if err != nil {
		code = "func _() {\n" + b.code + "}\n"
		if f, err = parser.ParseFile(fset, "", "package p\n"+code, parser.AllErrors); err != nil {
			return nil, fmt.Errorf("neither declarations nor statements: %v", err)
		}
		directive = fmt.Sprintf("func _() {\n//line %s:%d\n", b.file, b.line)
		code = b.code + "}\n"
	}
	used := map[string]bool{}
	for _, id := range f.Unresolved {
		used[id.Name] = true
	}
	var given []string
	imports := map[string]bool{}
	for name, typ := range givens {
		if used[name] {
			given = append(given, fmt.Sprintf("var %s %s", name, typ))
			for pkg := range packages {
				if strings.Contains(typ, pkg+".") {
					imports[pkg] = true
				}
			}
		}
	}
	var out []string
	out = append(out, "package p\n\n"+importDecl(usedPackages(f, used))+directive+code)
	if len(given) > 0 {
		slices.Sort(given)
		out = append(out, "package p\n\n"+importDecl(imports)+strings.Join(given, "\n")+"\n")
	}
	return out, nil
}

// usedPackages returns the names of packages that f uses undeclared as
// the left of a selector.
func usedPackages(f *ast.File, unresolved map[string]bool) map[string]bool {
	pkgs := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && unresolved[id.Name] && packages[id.Name] != "" {
				pkgs[id.Name] = true
			}
		}
		return true
	})
	return pkgs
}

func importDecl(names map[string]bool) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("import (\n")
	for name := range names {
		fmt.Fprintf(&b, "\t%q\n", packages[name])
	}
	b.WriteString(")\n\n")
	return b.String()
}

// stripComments drops the // comment lines at the start of code.
func stripComments(code string) string {
	for strings.HasPrefix(strings.TrimSpace(code), "//") {
		_, code, _ = strings.Cut(strings.TrimSpace(code), "\n")
	}
	return code
}
