package testenv

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records Skip and Fatalf instead of
// stopping the goroutine.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = strings.TrimSpace(fmt.Sprintln(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestRequire(t *testing.T) {
	if p := Require(t, "sh", "dash"); p == "" {
		t.Fatal("Require(sh) returned an empty path")
	}
	tests := []struct {
		name      string
		env       string
		wantSkip  bool
		wantFatal bool
	}{
		{"missing skips", "", true, false},
		{"missing fails when servers are required", "1", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(RequireServersEnv, tt.env)
			r := &recorder{TB: t}
			Require(r, "stickless-no-such-binary", "some-package")
			const want = "stickless-no-such-binary not found; install it: apt-get install -y some-package"
			if tt.wantSkip != strings.Contains(r.skipped, want) || tt.wantFatal != strings.Contains(r.fatal, want) {
				t.Fatalf("skipped %q, fatal %q; want skip=%v fatal=%v with %q", r.skipped, r.fatal, tt.wantSkip, tt.wantFatal, want)
			}
		})
	}
}

func TestFreePortWithBus(t *testing.T) {
	p := FreePortWithBus(t)
	for _, port := range []int{p, p + ClusterBusOffset} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d not free: %v", port, err)
		}
		ln.Close()
	}
}

func TestWaitTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := WaitTCP(ln.Addr().String(), time.Second); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	if err := WaitTCP("127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond); err == nil {
		t.Fatalf("WaitTCP on a closed port %d succeeded", port)
	}
}
