package session

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLocalPath(t *testing.T) {
	const fb = "/fallback"
	tests := []struct {
		name string
		raw  string
		want string // "" means the fallback
	}{
		{"root", "/", "/"},
		{"path", "/account/settings", "/account/settings"},
		{"path and query", "/search?q=a+b&next=//evil.com", "/search?q=a+b&next=//evil.com"},
		{"fragment", "/page#top", "/page#top"},
		{"encoded slashes stay a path", "/%2F%2Fevil.com", "/%2F%2Fevil.com"},
		{"encoded backslash stays a path", "/%5Cevil.com", "/%5Cevil.com"},
		{"dot segments", "/a/../b", "/a/../b"},
		{"non-ASCII", "/caf\u00e9", "/caf\u00e9"},

		{"empty", "", ""},
		{"relative", "account", ""},
		{"dot relative", "./account", ""},
		{"protocol-relative", "//evil.com", ""},
		{"protocol-relative with path", "//evil.com/login", ""},
		{"triple slash", "///evil.com", ""},
		{"slash backslash", "/\\evil.com", ""},
		{"backslash slash", "\\/evil.com", ""},
		{"double backslash", "\\\\evil.com", ""},
		{"backslash later", "/a\\..\\..\\evil.com", ""},
		{"absolute https", "https://x", ""},
		{"absolute http", "http://evil.com/", ""},
		{"scheme without slashes", "https:evil.com", ""},
		{"javascript", "javascript:alert(1)", ""},
		{"javascript after slash-less space", " javascript:alert(1)", ""},
		{"data", "data:text/html,<script>alert(1)</script>", ""},
		{"leading space", " /account", ""},
		{"leading space protocol-relative", " //evil.com", ""},
		{"tab between slashes", "/\t/evil.com", ""},
		{"newline between slashes", "/\n/evil.com", ""},
		{"carriage return", "/\r/evil.com", ""},
		{"NUL", "/\x00/evil.com", ""},
		{"DEL", "/\x7f/evil.com", ""},
		{"header injection", "/a\r\nSet-Cookie: x=y", ""},
		{"too long", "/" + strings.Repeat("a", 2048), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = fb
			}
			if got := LocalPath(tt.raw, fb); got != want {
				t.Errorf("LocalPath(%q) = %q, want %q", tt.raw, got, want)
			}
		})
	}
}

func validConfig() Config { return Config{Keys: [][]byte{testKey1}} }

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"no keys", func(c *Config) { c.Keys = nil }},
		{"empty key list", func(c *Config) { c.Keys = [][]byte{} }},
		{"short key", func(c *Config) { c.Keys = [][]byte{[]byte("too short")} }},
		{"key of 31 bytes", func(c *Config) { c.Keys = [][]byte{bytes.Repeat([]byte{'k'}, 31)} }},
		{"short second key", func(c *Config) { c.Keys = append(c.Keys, []byte("short")) }},
		{"nil key", func(c *Config) { c.Keys = [][]byte{nil} }},
		{"cookie name with space", func(c *Config) { c.CookieName = "my session" }},
		{"cookie name with semicolon", func(c *Config) { c.CookieName = "a;b" }},
		{"cookie name with equals", func(c *Config) { c.CookieName = "a=b" }},
		{"cookie name with control", func(c *Config) { c.CookieName = "a\x01" }},
		{"cookie name non-ASCII", func(c *Config) { c.CookieName = "s\u00e9ssion" }},
		{"__Host- name with InsecureCookie", func(c *Config) { c.CookieName = "__Host-s"; c.InsecureCookie = true }},
		{"__host- name with InsecureCookie", func(c *Config) { c.CookieName = "__host-s"; c.InsecureCookie = true }},
		{"__Secure- name with InsecureCookie", func(c *Config) { c.CookieName = "__Secure-s"; c.InsecureCookie = true }},
		{"__SECURE- name with InsecureCookie", func(c *Config) { c.CookieName = "__SECURE-s"; c.InsecureCookie = true }},
		{"SameSite=None with InsecureCookie", func(c *Config) { c.SameSite = http.SameSiteNoneMode; c.InsecureCookie = true }},
		{"negative IdleTimeout", func(c *Config) { c.IdleTimeout = -time.Second }},
		{"negative AbsoluteTimeout", func(c *Config) { c.AbsoluteTimeout = -time.Second }},
		{"negative RememberIdleTimeout", func(c *Config) { c.RememberIdleTimeout = -time.Second }},
		{"negative RememberAbsoluteTimeout", func(c *Config) { c.RememberAbsoluteTimeout = -time.Second }},
		{"negative StoreTimeout", func(c *Config) { c.StoreTimeout = -time.Second }},
		{"negative RetryAfter", func(c *Config) { c.RetryAfter = -time.Second }},
		{"negative MaxSize", func(c *Config) { c.MaxSize = -1 }},
		{"absolute LoginURL", func(c *Config) { c.LoginURL = "https://evil.com/login" }},
		{"protocol-relative LoginURL", func(c *Config) { c.LoginURL = "//evil.com/login" }},
		{"relative LoginURL", func(c *Config) { c.LoginURL = "login" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), "session: ") {
				t.Fatalf("Validate = %v, want an error with a \"session: \" prefix", err)
			}
			defer func() {
				if r := recover(); fmt.Sprint(r) != err.Error() {
					t.Errorf("New panicked with %#v, want Validate's error %q", r, err)
				}
			}()
			New(noStore{}, c)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("Validate of a valid Config: %v", err)
	}
	c, _ := validConfig().withDefaults()
	want := Config{
		Keys:                    [][]byte{testKey1},
		CookieName:              "__Host-session",
		SameSite:                http.SameSiteLaxMode,
		IdleTimeout:             30 * time.Minute,
		AbsoluteTimeout:         12 * time.Hour,
		RememberIdleTimeout:     7 * 24 * time.Hour,
		RememberAbsoluteTimeout: 30 * 24 * time.Hour,
		StoreTimeout:            time.Second,
		MaxSize:                 64 << 10,
		MaxFields:               256,
		MaxSessionsPerUser:      16,
		RetryAfter:              2 * time.Second,
		LoginURL:                "/login",
		Logger:                  slog.Default(),
	}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if c.InsecureCookie {
		t.Error("InsecureCookie defaults to true")
	}

	insecure, _ := Config{Keys: [][]byte{testKey1}, InsecureCookie: true}.withDefaults()
	if insecure.CookieName != "session" {
		t.Errorf("CookieName with InsecureCookie = %q, want \"session\"", insecure.CookieName)
	}

	set, _ := Config{
		Keys: [][]byte{testKey1}, CookieName: "sid", SameSite: http.SameSiteStrictMode,
		IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour, StoreTimeout: 50 * time.Millisecond,
		MaxSize: 100, RetryAfter: time.Second, LoginURL: "/signin?from=app",
	}.withDefaults()
	if set.CookieName != "sid" || set.SameSite != http.SameSiteStrictMode || set.IdleTimeout != time.Minute ||
		set.AbsoluteTimeout != time.Hour || set.StoreTimeout != 50*time.Millisecond || set.MaxSize != 100 ||
		set.RetryAfter != time.Second || set.LoginURL != "/signin?from=app" {
		t.Errorf("fields set were not kept: %+v", set)
	}
}

func TestConfigCopiesKeys(t *testing.T) {
	key := bytes.Clone(testKey1)
	c, _ := Config{Keys: [][]byte{key}}.withDefaults()
	key[0] ^= 0xff
	if !bytes.Equal(c.Keys[0], testKey1) {
		t.Error("changing the caller's key after set-up changed the key in force")
	}
}

// noStore is a Store for tests of New that never reach it.
type noStore struct{}

func (noStore) Load(context.Context, string, Limits) (Record, bool, error) { panic("not reached") }
func (noStore) Save(context.Context, Write) (bool, error)                  { panic("not reached") }
func (noStore) Destroy(context.Context, string) error                      { panic("not reached") }

func TestKeyErrorsNameTheKey(t *testing.T) {
	short := bytes.Repeat([]byte{'k'}, 20)
	err := Config{Keys: [][]byte{testKey1, short, testKey1}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "key 2 of 3 has 20 bytes") || strings.Contains(err.Error(), string(short)) {
		t.Errorf("Validate with a short second key = %v; want the key's position and length, not its content", err)
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := strings.Repeat("a", 32), strings.Repeat("b", 40)
	tests := []struct {
		name, in string
		want     []string
		err      string // a part of the error; "" for none
	}{
		{"one key", k1, []string{k1}, ""},
		{"comma-separated, spaces trimmed", " " + k1 + " , " + k2 + ",", []string{k1, k2}, ""},
		{"lines, blanks and comments", "# keys\n\n" + k2 + "\n  " + k1 + "  \n", []string{k2, k1}, ""},
		{"empty", "", nil, "no signing key"},
		{"only a comment", "# " + k1, nil, "no signing key"},
		{"short second key", k1 + "\nshort-key", nil, "signing key 2 of 2 has 9 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "short-key") {
					t.Fatalf("ParseKeys = %v; want an error with %q that does not show the key", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, string(k))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("ParseKeys = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyFingerprint(t *testing.T) {
	a, b := KeyFingerprint(testKey1), KeyFingerprint(testKey2)
	if len(a) != 16 || a == b || a != KeyFingerprint(bytes.Clone(testKey1)) {
		t.Errorf("fingerprints %q and %q: want 16 hex digits, stable for a key and different between keys", a, b)
	}
}

func TestNewLogsKeyFingerprints(t *testing.T) {
	var buf bytes.Buffer
	New(noStore{}, Config{Keys: [][]byte{testKey2, testKey1}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	out := buf.String()
	if !strings.Contains(out, KeyFingerprint(testKey2)) || !strings.Contains(out, KeyFingerprint(testKey1)) {
		t.Errorf("New logged %q; want the fingerprint of each key", out)
	}
	if strings.Contains(out, string(testKey1[:8])) {
		t.Errorf("New logged a key: %q", out)
	}
}
