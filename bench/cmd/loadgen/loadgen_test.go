package main

import "testing"

func TestForge(t *testing.T) {
	for _, c := range []string{"session=abcdefgh.ijkl", "raw_session=00000000", ""} {
		f := forge(c)
		if f == c || len(f) == 0 {
			t.Errorf("forge(%q) = %q", c, f)
		}
		if c != "" && len(f) != len(c) {
			t.Errorf("forge(%q) = %q changed the length", c, f)
		}
	}
}

func TestParseMonitorLine(t *testing.T) {
	for _, tc := range []struct{ line, src, cmd string }{
		{`+1700000000.123456 [0 127.0.0.1:5555] "GET" "raw:ab"` + "\r\n", "127.0.0.1:5555", "get"},
		{`+1700000000.123456 [0 lua] "hgetall" "k"` + "\r\n", "lua", "hgetall"},
	} {
		src, cmd, ok := parseMonitorLine(tc.line)
		if !ok || src != tc.src || cmd != tc.cmd {
			t.Errorf("parseMonitorLine(%q) = %q, %q, %v", tc.line, src, cmd, ok)
		}
	}
}
