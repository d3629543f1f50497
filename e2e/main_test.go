package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// whatsupBin is the cmd/whatsup binary built once by TestMain.
var whatsupBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "stickless-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	whatsupBin = filepath.Join(dir, "whatsup")
	// go test puts its own go first in PATH.
	build := exec.Command("go", "build", "-o", whatsupBin, ".")
	build.Dir = "../cmd/whatsup" // the demo's own module, whose go.mod pins its dependencies
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building cmd/whatsup: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}
