package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/session"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		addrs    []string
		user     string
		pass     string
		db       int
		master   string
		tls      bool
		sentUser string
		sentPass string
	}{
		{name: "standalone", url: "redis://127.0.0.1:6380", addrs: []string{"127.0.0.1:6380"}},
		{name: "default port", url: "redis://127.0.0.1", addrs: []string{"127.0.0.1:6379"}},
		{name: "acl and db", url: "redis://app:s%40cret@127.0.0.1:6379/3", addrs: []string{"127.0.0.1:6379"}, user: "app", pass: "s@cret", db: 3},
		{name: "password only", url: "redis://:pw@127.0.0.1:6379", addrs: []string{"127.0.0.1:6379"}, pass: "pw"},
		{name: "tls", url: "rediss://127.0.0.1:6380", addrs: []string{"127.0.0.1:6380"}, tls: true},
		{name: "unix socket", url: "unix:///run/redis.sock?db=2", addrs: []string{"/run/redis.sock"}, db: 2},
		{name: "cluster", url: "redis://127.0.0.1:7000?addr=127.0.0.1%3A7001&addr=127.0.0.1:7002",
			addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}},
		{name: "sentinel", url: "redis://127.0.0.1:26379?addr=127.0.0.1:26380&master_set=mymaster",
			addrs: []string{"127.0.0.1:26379", "127.0.0.1:26380"}, master: "mymaster"},
		{name: "sentinel credentials and db", url: "redis://u:p@127.0.0.1:26379/2?master_set=mymaster&sentinel_password=sp&sentinel_username=su",
			addrs: []string{"127.0.0.1:26379"}, master: "mymaster", user: "u", pass: "p", db: 2, sentUser: "su", sentPass: "sp"},
		{name: "sentinel tls", url: "rediss://127.0.0.1:26379?master_set=m", addrs: []string{"127.0.0.1:26379"}, master: "m", tls: true},
		{name: "cluster auth tls", url: "rediss://u:p@127.0.0.1:7000?addr=127.0.0.1:7001", addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}, user: "u", pass: "p", tls: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.url, err)
			}
			if !slices.Equal(o.InitAddress, tt.addrs) {
				t.Errorf("InitAddress = %v, want %v", o.InitAddress, tt.addrs)
			}
			if o.Username != tt.user || o.Password != tt.pass {
				t.Errorf("credentials = %q/%q, want %q/%q", o.Username, o.Password, tt.user, tt.pass)
			}
			if o.SelectDB != tt.db {
				t.Errorf("SelectDB = %d, want %d", o.SelectDB, tt.db)
			}
			if o.Sentinel.MasterSet != tt.master {
				t.Errorf("MasterSet = %q, want %q", o.Sentinel.MasterSet, tt.master)
			}
			if o.Sentinel.Username != tt.sentUser || o.Sentinel.Password != tt.sentPass {
				t.Errorf("sentinel credentials = %q/%q, want %q/%q", o.Sentinel.Username, o.Sentinel.Password, tt.sentUser, tt.sentPass)
			}
			if (o.TLSConfig != nil) != tt.tls {
				t.Errorf("TLS = %v, want %v", o.TLSConfig != nil, tt.tls)
			}
			if tt.master != "" && tt.tls && o.Sentinel.TLSConfig == nil {
				t.Errorf("Sentinel.TLSConfig is nil for a TLS sentinel URL")
			}
			if len(tt.addrs) > 1 && tt.tls && o.TLSConfig.ServerName != "" {
				t.Errorf("TLS ServerName = %q with several hosts, want each host verified", o.TLSConfig.ServerName)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"no scheme", "127.0.0.1:6379", "no scheme"},
		{"unknown scheme", "http://127.0.0.1", "unknown scheme"},
		{"the old sentinel scheme", "redis-sentinel://127.0.0.1:26379/m", "unknown scheme"},
		{"unknown option", "redis://127.0.0.1:6379?foo=bar", "unknown option foo; the options are addr"},
		{"unknown option with a digit", "redis://127.0.0.1:6379?hunter2", "unknown option (not shown"},
		{"sentinel credentials without master_set", "redis://127.0.0.1:26379?sentinel_password=x", "need master_set"},
		{"cluster db", "redis://127.0.0.1:7000/1?addr=127.0.0.1:7001", "only database 0"},
		{"bad db", "redis://127.0.0.1:6379/x", "database"},
		{"bad timeout", "redis://127.0.0.1:6379?dial_timeout=soon", "dial_timeout"},
		{"password not shown", "redis://u:hunter2@127.0.0.1:7000/1?addr=127.0.0.1:7001", "only database 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			if err == nil {
				t.Fatalf("ParseURL(%q): no error", tt.url)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestNewUnreachable: with FailFast, New fails at once on a port nothing
// listens on, with an error that the Manager treats as unavailable;
// without, it returns a store that answers ErrNotConnected (unavailable,
// naming the cause) until Redis is there, then serves, with no restart.
func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := New(ctx, Options{}); err == nil {
		t.Fatal("New without an address: no error")
	}
	port := testenv.FreePort(t)
	url := "redis://127.0.0.1:" + strconv.Itoa(port)
	if _, err := NewFromURL(ctx, url, Options{FailFast: true}); !errors.Is(err, session.ErrStoreUnavailable) {
		t.Fatalf("NewFromURL to a closed port with FailFast: %v, want ErrStoreUnavailable", err)
	}
	var logs testenv.Buffer
	s := newStore(t, url, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	key := newKey()
	err := s.tcreate(ctx, key, session.Write{Set: vals("a", "1")}, long)
	if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("a write before Redis is up: %v, want ErrNotConnected with its cause", err)
	}
	if !strings.Contains(logs.String(), "connecting in the background") {
		t.Errorf("no log line says that Redis cannot be reached: %q", logs.String())
	}
	redistest.Standalone(t, redistest.Options{Port: port})
	start := time.Now()
	err = testenv.Eventually(10*time.Second, 50*time.Millisecond, func() error {
		return s.tcreate(ctx, key, session.Write{Set: vals("a", "1")}, long)
	})
	if err != nil {
		t.Fatalf("the store did not connect once Redis was up: %v", err)
	}
	t.Logf("connected %v after Redis was up", time.Since(start).Round(time.Millisecond))
	if _, ok, err := s.Load(ctx, key, long); err != nil || !ok {
		t.Fatalf("Load after the connection: %v %v", ok, err)
	}
	if !strings.Contains(logs.String(), "connected to Redis") {
		t.Errorf("no log line says that the store connected: %q", logs.String())
	}
}

// TestParseURLErrorsHideSecrets: a malformed URL gives an error that says
// what is wrong, and never any piece of a password or a secret parameter
// (the secrets below all hold "hunter" or "s3cr"; url.Parse alone would
// quote the whole URL).
func TestParseURLErrorsHideSecrets(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"bad escape in password", "redis://app:hunter%zz2@127.0.0.1:6379/0", "percent-encode"},
		{"lone percent in password", "redis://:hunter2%@127.0.0.1:6379", "no %XX escape"},
		{"bad escape, sentinel", "redis://app:hunter%zz2@127.0.0.1:26379?master_set=m", "no %XX escape"},
		{"bad escape, cluster", "redis://app:hunter%g2@127.0.0.1:7000?addr=127.0.0.1:7001", "no %XX escape"},
		{"slash in password", "redis://app:hun/ter2@127.0.0.1:6379", "unescaped '/', '?' or '#'"},
		{"digits then slash in password", "redis://app:12/hunter2@127.0.0.1:6379", "unescaped"},
		{"question mark in password", "redis://app:1?hunter2@127.0.0.1:6379", "unescaped"},
		{"hash in password", "redis://app:1#hunter2@127.0.0.1:7000", "unescaped"},
		{"slash in password, sentinel", "redis://app:hun/ter2@127.0.0.1?master_set=m", "unescaped"},
		{"sentinel password in query", "redis://127.0.0.1:26379/x?master_set=m&sentinel_password=hunter2", "bad database number"},
		{"sentinel password with bad escape", "redis://127.0.0.1:26379?master_set=m&sentinel_password=hun%zzter2", "no %XX escape"},
		{"other secret parameter", "redis://127.0.0.1:6379/0?dial_timeout=x&password=hunter2&token=s3cr", "dial_timeout"},
		{"lone user info", "redis://hunter2@127.0.0.1:7000/x", "bad database number"},
		{"password and bad db", "redis://app:hunter2@127.0.0.1:6379/x", "bad database number"},
		{"invalid port with password", "redis://app:hunter2@127.0.0.1:65x/0", "invalid port"},
		{"no scheme", "app:hunter2@127.0.0.1:6379", "no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			if err == nil {
				t.Fatalf("ParseURL: no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			for _, secret := range []string{"hunter", "ter2", "s3cr", "%zz", "%g2"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows a piece of a secret (%q)", msg, secret)
				}
			}
			if _, err := NewFromURL(context.Background(), tt.url, Options{}); err == nil || strings.Contains(err.Error(), "hunter") {
				t.Errorf("NewFromURL: %v", err)
			}
		})
	}
}

// TestURLNamesTheWrongServer: a URL that names a Sentinel master set or a
// Cluster, pointed at a plain Redis, and a password for a Redis that has
// none, fail in New with an error that says what to change, even without
// FailFast: connecting again cannot mend them.
func TestURLNamesTheWrongServer(t *testing.T) {
	a := redistest.Standalone(t, redistest.Options{})
	b := redistest.Standalone(t, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct{ name, url, want string }{
		{"sentinel", "redis://" + a.Addr + "?master_set=mymaster", "is not a sentinel"},
		{"cluster", "redis://" + a.Addr + "?addr=" + b.Addr, "is not a Cluster node"},
		{"password for a Redis without one", "redis://:hunter2@" + a.Addr, "takes any password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewFromURL(ctx, tc.url, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("NewFromURL(%s): no error", tc.name)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q, want one that says %q and no password", err, tc.want)
			}
		})
	}
}
