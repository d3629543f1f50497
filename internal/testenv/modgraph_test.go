package testenv_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLibraryModuleGraph: an application that imports session and
// redisstore gets the standard library, rueidis and golang.org/x/sys, and
// nothing of the heavier modules (Prometheus, OpenTelemetry, plotting,
// browsers), which live in modules of their own.
func TestLibraryModuleGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}",
		"github.com/stickless/stickless/session", "github.com/stickless/stickless/redisstore").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{"github.com/stickless/stickless": true, "github.com/redis/rueidis": true, "golang.org/x/sys": true}
	seen := map[string]bool{}
	for m := range strings.FieldsSeq(string(out)) {
		seen[m] = true
		if !allowed[m] {
			t.Errorf("session and redisstore pull in module %s", m)
		}
	}
	if !seen["github.com/redis/rueidis"] {
		t.Errorf("go list found no rueidis in %q: the check saw nothing", out)
	}
}
