package redisstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/session"
)

// writeCerts writes a CA and a server certificate for 127.0.0.1, signed
// by it, as PEM files in dir, and returns the CA's pool.
func writeCerts(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redisstore test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write("ca.crt", "CERTIFICATE", caDER)
	write("server.crt", "CERTIFICATE", leafDER)
	write("server.key", "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// TestTLS: rediss:// with an ACL user and password reaches a Redis that
// listens with TLS, verifying its certificate against the CA given in
// Options.Client.TLSConfig; without that CA the connection is refused.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pool := writeCerts(t, dir)
	port := testenv.FreePort(t)
	srv := redistest.Standalone(t, redistest.Options{ExtraConfig: []string{
		"tls-port " + strconv.Itoa(port),
		"tls-cert-file " + filepath.Join(dir, "server.crt"),
		"tls-key-file " + filepath.Join(dir, "server.key"),
		"tls-ca-cert-file " + filepath.Join(dir, "ca.crt"),
		"tls-auth-clients no",
		"user app on >app-secret ~stickless:* +@all",
	}})
	url := "rediss://app:app-secret@127.0.0.1:" + strconv.Itoa(port)

	opts := Options{}
	opts.Client.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	s := newStore(t, url, opts)
	key := newKey()
	if err := s.tcreate(t.Context(), key, session.Write{Set: vals("a", "1")}, long); err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := s.Load(t.Context(), key, long); err != nil || !ok || string(rec.Values["a"]) != "1" {
		t.Fatalf("Load over TLS: %v %v %v", rec, ok, err)
	}
	if got := srv.DoOK(t, "HGET", "stickless:{"+key+"}", "a").Str; got != "1" {
		t.Fatalf("value in Redis = %q", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := NewFromURL(ctx, url, Options{}); err == nil {
		t.Fatal("rediss:// to a server whose CA is not trusted: no error")
	} else if !errors.Is(err, session.ErrStoreUnavailable) {
		t.Fatalf("untrusted server: %v", err)
	}
	if _, err := NewFromURL(ctx, "rediss://app:wrong@127.0.0.1:"+strconv.Itoa(port), opts); err == nil {
		t.Fatal("wrong password: no error")
	}

	// The client-side cache over TLS: the store dials and watches the
	// connections itself, under TLS.
	opts.ClientCache = true
	cacheRounds(t, srv, newStore(t, url, opts), newStore(t, url, opts))
}

// TestUnixSocket: unix:// reaches a Redis on a Unix socket.
func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "redis.sock")
	srv := redistest.Standalone(t, redistest.Options{ExtraConfig: []string{"unixsocket " + sock, "unixsocketperm 700"}})
	s := newStore(t, "unix://"+sock, Options{})
	key := newKey()
	if err := s.tcreate(t.Context(), key, session.Write{Set: vals("a", "1")}, long); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Load(t.Context(), key, long); err != nil || !ok {
		t.Fatalf("Load over a Unix socket: %v %v", ok, err)
	}
	url := "unix://" + sock
	cacheRounds(t, srv, newStore(t, url, Options{ClientCache: true}), newStore(t, url, Options{ClientCache: true}))
}
