package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEMirrorsThisExample: the README's quick start shows main.go and
// main_test.go of this directory, verbatim, so it cannot drift from code
// that compiles and passes its test.
func TestREADMEMirrorsThisExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"main.go", "main_test.go"} {
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		marker := "<!-- examples/quickstart/" + file + " -->\n```go\n"
		_, rest, ok := strings.Cut(string(readme), marker)
		if !ok {
			t.Fatalf("README.md has no %q followed by a go code block", strings.TrimSpace(marker))
		}
		got, _, ok := strings.Cut(rest, "```\n")
		if !ok {
			t.Fatalf("README.md: the code block after the %s marker does not end", file)
		}
		if got != string(want) {
			t.Errorf("README.md's copy of examples/quickstart/%s differs from the file: copy the file into the README", file)
		}
	}
}
