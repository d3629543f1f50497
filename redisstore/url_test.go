package redisstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

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
		single   bool
		sentUser string
		sentPass string
	}{
		{name: "standalone", url: "redis://127.0.0.1:6380", addrs: []string{"127.0.0.1:6380"}, single: true},
		{name: "default port", url: "redis://127.0.0.1", addrs: []string{"127.0.0.1:6379"}, single: true},
		{name: "acl and db", url: "redis://app:s%40cret@127.0.0.1:6379/3", addrs: []string{"127.0.0.1:6379"}, user: "app", pass: "s@cret", db: 3, single: true},
		{name: "password only", url: "redis://:pw@127.0.0.1:6379", addrs: []string{"127.0.0.1:6379"}, pass: "pw", single: true},
		{name: "tls", url: "rediss://127.0.0.1:6380", addrs: []string{"127.0.0.1:6380"}, tls: true, single: true},
		{name: "sentinel", url: "redis-sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster",
			addrs: []string{"127.0.0.1:26379", "127.0.0.1:26380"}, master: "mymaster"},
		{name: "sentinel default port and db", url: "redis-sentinel://u:p@127.0.0.1/mymaster/2?sentinel_password=sp&sentinel_username=su",
			addrs: []string{"127.0.0.1:26379"}, master: "mymaster", user: "u", pass: "p", db: 2, sentUser: "su", sentPass: "sp"},
		{name: "sentinel tls", url: "rediss-sentinel://127.0.0.1:26379/m", addrs: []string{"127.0.0.1:26379"}, master: "m", tls: true},
		{name: "cluster", url: "redis-cluster://127.0.0.1:7000,127.0.0.1:7001,[::1]:7002",
			addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001", "[::1]:7002"}},
		{name: "rueidis cluster form", url: "redis://127.0.0.1:7000?addr=127.0.0.1%3A7001&addr=127.0.0.1:7002",
			addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}},
		{name: "rueidis sentinel form", url: "redis://127.0.0.1:26379?master_set=mymaster",
			addrs: []string{"127.0.0.1:26379"}, master: "mymaster"},
		{name: "cluster auth tls", url: "rediss-cluster://u:p@127.0.0.1:7000/", addrs: []string{"127.0.0.1:7000"}, user: "u", pass: "p", tls: true},
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
			if o.ForceSingleClient != tt.single {
				t.Errorf("ForceSingleClient = %v, want %v", o.ForceSingleClient, tt.single)
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
		{"sentinel without master", "redis-sentinel://127.0.0.1:26379", "master name"},
		{"sentinel extra path", "redis-sentinel://127.0.0.1:26379/m/1/x", "unexpected path"},
		{"sentinel bad db", "redis-sentinel://127.0.0.1:26379/m/x", "database"},
		{"cluster db", "redis-cluster://127.0.0.1:7000/1", "unexpected path"},
		{"cluster empty host", "redis-cluster://127.0.0.1:7000,,127.0.0.1:7001", "empty host"},
		{"bad db", "redis://127.0.0.1:6379/x", "database"},
		{"password redacted", "redis-cluster://u:hunter2@127.0.0.1:7000/1", "u:xxxxx@"},
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

func TestNewUnreachable(t *testing.T) {
	// A port nothing listens on: New fails fast, with an error that the
	// Manager treats as unavailable.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := NewFromURL(ctx, "redis://127.0.0.1:1", Options{})
	if !errors.Is(err, session.ErrStoreUnavailable) {
		t.Fatalf("NewFromURL to a closed port: %v, want ErrStoreUnavailable", err)
	}
	if _, err := New(ctx, Options{}); err == nil {
		t.Fatal("New without an address: no error")
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
		{"bad escape, sentinel", "redis-sentinel://app:hunter%zz2@127.0.0.1:26379/m", "no %XX escape"},
		{"bad escape, cluster", "redis-cluster://app:hunter%g2@127.0.0.1:7000", "no %XX escape"},
		{"slash in password", "redis://app:hun/ter2@127.0.0.1:6379", "unescaped '/', '?' or '#'"},
		{"digits then slash in password", "redis://app:12/hunter2@127.0.0.1:6379", "unescaped"},
		{"question mark in password", "redis://app:1?hunter2@127.0.0.1:6379", "unescaped"},
		{"hash in password", "redis-cluster://app:1#hunter2@127.0.0.1:7000", "unescaped"},
		{"slash in password, sentinel", "redis-sentinel://app:hun/ter2@127.0.0.1/m", "unescaped"},
		{"sentinel password in query", "redis-sentinel://127.0.0.1:26379/m/x?sentinel_password=hunter2", "sentinel_password=xxxxx"},
		{"sentinel password with bad escape", "redis-sentinel://127.0.0.1:26379/m?sentinel_password=hun%zzter2", "no %XX escape"},
		{"other secret parameter", "redis://127.0.0.1:6379/0?dial_timeout=x&password=hunter2&token=s3cr", "dial_timeout"},
		{"lone user info", "redis-cluster://hunter2@127.0.0.1:7000/1", "xxxxx@127.0.0.1"},
		{"password and bad db", "redis://app:hunter2@127.0.0.1:6379/x", "app:xxxxx@"},
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

func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://app:pw@127.0.0.1:6379/0", "redis://app:xxxxx@127.0.0.1:6379/0"},
		{"redis://:pw@127.0.0.1", "redis://:xxxxx@127.0.0.1"},
		{"redis://pw@127.0.0.1", "redis://xxxxx@127.0.0.1"},
		{"redis://app:p/w@x@127.0.0.1", "redis://app:xxxxx@127.0.0.1"},
		{"redis-sentinel://h/m?sentinel_username=su&sentinel_password=sp&db=1", "redis-sentinel://h/m?sentinel_username=su&sentinel_password=xxxxx&db=1"},
		{"redis://h?Password=a&auth=b&x_token=c&apikey=d&client_name=e", "redis://h?Password=xxxxx&auth=xxxxx&x_token=xxxxx&apikey=xxxxx&client_name=e"},
		{"redis://h?sentinel_password=a@b", "redis://h?sentinel_password=xxxxx"},
		{"u:pw@h", "[xxxxx]"},
	} {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
