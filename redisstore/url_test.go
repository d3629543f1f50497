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
