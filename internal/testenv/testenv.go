// Package testenv helps tests that run real servers: it finds their
// binaries (skipping, or failing in CI, when one is missing), picks free
// loopback ports and waits for a port to accept connections. Its [Proc] is
// the repository's one process supervisor, for tests and for the programs
// that start servers (make cluster, the soak, the benchmark); the functions
// ending in Err serve those programs, which have no testing.TB.
//
// Everything here binds or dials 127.0.0.1 only.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// RequireServersEnv is the environment variable that turns a missing server
// binary from a skipped test into a failed one when it is set to "1". CI
// sets it.
const RequireServersEnv = "STICKLESS_REQUIRE_SERVERS"

// Require returns the path of binary as found in $PATH. When it is missing
// the test is skipped with a message that names the Debian package to
// install, or fails with the same message when the environment variable
// STICKLESS_REQUIRE_SERVERS is "1". Require is safe for concurrent use.
func Require(t testing.TB, binary, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(binary)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found; install it: apt-get install -y %s", binary, debianPackage)
	if os.Getenv(RequireServersEnv) == "1" {
		t.Fatalf("%s (%s=1)", msg, RequireServersEnv)
		return ""
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// port is not reserved: a server that fails to bind it should pick another.
// FreePort fails the test when the system gives no port. It is safe for
// concurrent use.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := FreePortErr()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePortErr is [FreePort] for programs: it returns the failure.
func FreePortErr() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: no free port on 127.0.0.1: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port, nil
}

// ClusterBusOffset is the distance between a Redis Cluster node's client
// port and its cluster bus port.
const ClusterBusOffset = 10000

// FreePortWithBus returns a port on 127.0.0.1 such that both it and
// port+10000 (a Redis Cluster node's bus port) were free a moment ago. Like
// [FreePort] it reserves nothing. It fails the test after 100 unlucky
// tries. It is safe for concurrent use.
func FreePortWithBus(t testing.TB) int {
	t.Helper()
	port, err := FreePortWithBusErr()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePortWithBusErr is [FreePortWithBus] for programs: it returns the
// failure.
func FreePortWithBusErr() (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("testenv: no free port on 127.0.0.1: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if port+ClusterBusOffset > 65535 {
			ln.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+ClusterBusOffset))
		ln.Close()
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, fmt.Errorf("testenv: found no free port p on 127.0.0.1 with p+%d free", ClusterBusOffset)
}

// WaitTCP dials addr until it accepts a TCP connection or timeout passes,
// and returns the last dial error in the latter case. It is safe for
// concurrent use.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: %s not accepting connections after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ErrTimeout is returned by [Eventually] when its condition did not hold in
// time.
var ErrTimeout = errors.New("testenv: condition not met in time")

// Eventually calls cond every interval until it returns nil or timeout
// passes; it then returns nil or an error wrapping [ErrTimeout] and the last
// error from cond. It is safe for concurrent use when cond is.
func Eventually(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v: %w", ErrTimeout, timeout, err)
		}
		time.Sleep(interval)
	}
}
