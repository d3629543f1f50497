package redistest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Monitor is a MONITOR connection to a server: it sees every command the
// server runs, those of Lua scripts included, as Redis prints them
// (arguments quoted, bytes outside printable ASCII escaped as \xNN).
type Monitor struct {
	s *Server
	c *conn
}

// Monitor starts MONITOR on a connection of its own (authenticated when
// the server has a password), closed when the test ends. It serves for
// a minute.
func (s *Server) Monitor(t testing.TB) *Monitor {
	t.Helper()
	c, err := dial(s.Addr, s.User, s.Password, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatalf("redistest: MONITOR on %s: %v", s.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprint(c.bw, "*1\r\n$7\r\nMONITOR\r\n")
	c.bw.Flush()
	if line, err := c.br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("redistest: MONITOR on %s: %q %v", s.Addr, line, err)
	}
	return &Monitor{s: s, c: c}
}

// Until returns the lines the monitor saw since it started or since the
// last Until, up to a marker that it sends itself (ECHO), so that every
// command the server ran before the call is in.
func (m *Monitor) Until(t testing.TB) []string {
	t.Helper()
	marker := fmt.Sprintf("redistest-monitor-marker-%d", time.Now().UnixNano())
	m.s.DoOK(t, "ECHO", marker)
	var lines []string
	for {
		line, err := m.c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("redistest: MONITOR read: %v", err)
		}
		if strings.Contains(line, marker) {
			return lines
		}
		lines = append(lines, strings.TrimSpace(line))
	}
}
