package redislayout

import (
	"errors"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []Meta{
		{},
		{Size: 12, Count: 2, Seen: 1796646709037, Created: 1796646700000, Absolute: 1796689909037, Idle: 1796648509037,
			Remember: true, User: "ann,1:2", Wrap: "\x00,\xff", UserAgent: "Mozilla/5.0 (X11; Linux), 1,2"},
	} {
		got, err := ParseMeta(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMeta(%q) = %+v, %v; want %+v", m.String(), got, err, m)
		}
	}
}

func TestParseMetaErrors(t *testing.T) {
	good := Meta{User: "ann", UserAgent: "ua"}.String()
	for _, tc := range []struct {
		name, in string
		version  bool // the error is ErrVersion
	}{
		{"empty", "", false},
		{"another version", "2" + good[1:], true},
		{"not a number", "x,1,2", true},
		{"truncated", good[:8], false},
		{"user longer than the rest", "1,0,0,0,0,0,0,0,99,0,ann", false},
		{"remember not 0 or 1", "1,0,0,0,0,0,0,2,0,0,", false},
		{"negative", "1,-1,0,0,0,0,0,0,0,0,", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMeta(tc.in)
			if err == nil || errors.Is(err, ErrVersion) != tc.version {
				t.Errorf("ParseMeta(%q) = %v, want an error (ErrVersion: %v)", tc.in, err, tc.version)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	if k := SessionKey("p:", "K"); k != "p:{K}" || !IsSessionKey("p:", k) || IsSessionKey("p:", MarkerKey("p:", "K")) {
		t.Errorf("session key %q, marker %q", k, MarkerKey("p:", "K"))
	}
	if u, ok := UserOf("p:", UserKey("p:", "ann")); !ok || u != "ann" || IsSessionKey("p:", UserKey("p:", "ann")) {
		t.Errorf("user key %q: %q %v", UserKey("p:", "ann"), u, ok)
	}
	if p := SessionPattern("a*b:"); p != `a\*b:{*}` {
		t.Errorf("SessionPattern = %q", p)
	}
}
