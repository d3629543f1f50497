package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/internal/topology"
)

// httpsExample returns the lines of the HTTPS example that deploy/nginx.conf
// shows in comments: the lines that replace `listen @LISTEN@;` and the
// redirecting server, uncommented.
func httpsExample(t *testing.T) (serverLines, redirect []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	part := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		switch {
		case strings.Contains(line, "Replace the `listen @LISTEN@;` line above with:"):
			part = 1
			continue
		case part == 1 && strings.TrimSpace(line) == "# and add:":
			part = 2
			continue
		case part == 2 && strings.HasPrefix(line, "# ----"):
			part = 3
		}
		if !strings.HasPrefix(line, "#   ") {
			continue
		}
		switch part {
		case 1:
			serverLines = append(serverLines, strings.TrimPrefix(line, "#   "))
		case 2:
			redirect = append(redirect, strings.TrimPrefix(line, "#   "))
		}
	}
	if len(serverLines) == 0 || len(redirect) == 0 {
		t.Fatal("deploy/nginx.conf shows no HTTPS example (the listen lines and the port-80 server)")
	}
	return serverLines, redirect
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "stickless e2e"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestHTTPSExample runs the HTTPS example of deploy/nginx.conf (with a
// self-signed certificate and loopback ports in place of 443 and 80): it
// serves the demo over TLS with HSTS on every answer, errors included, and
// the plain-HTTP server only redirects to https.
func TestHTTPSExample(t *testing.T) {
	c := startCluster(t, clusterConfig{Instances: 1})
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	tlsPort, plainPort := testenv.FreePort(t), testenv.FreePort(t)

	serverLines, redirect := httpsExample(t)
	adapt := func(lines []string, port int) []string {
		var out []string
		for _, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) > 1 && f[0] == "listen" && strings.HasPrefix(f[1], "["):
				continue // loopback only in tests
			case len(f) > 1 && f[0] == "listen":
				l = strings.Replace(l, strings.TrimSuffix(f[1], ";"), "127.0.0.1:"+strconv.Itoa(port), 1)
			case len(f) > 1 && f[0] == "ssl_certificate":
				l = "ssl_certificate " + certFile + ";"
			case len(f) > 1 && f[0] == "ssl_certificate_key":
				l = "ssl_certificate_key " + keyFile + ";"
			}
			out = append(out, "    "+l)
		}
		return out
	}
	conf, err := os.ReadFile(filepath.Join(deployDir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	site := strings.Replace(string(conf), "    listen @LISTEN@;\n",
		strings.Join(adapt(serverLines, tlsPort), "\n")+"\n", 1)
	if site == string(conf) {
		t.Fatal("deploy/nginx.conf has no `    listen @LISTEN@;` line to replace")
	}
	site += "\n" + strings.Join(adapt(redirect, plainPort), "\n") + "\n"
	template := filepath.Join(dir, "nginx-https.conf")
	if err := os.WriteFile(template, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}

	prefix := filepath.Join(dir, "nginx")
	os.MkdirAll(prefix, 0o711)
	if os.Geteuid() == 0 {
		for d := prefix; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o711)
		}
	}
	markers := map[string]string{
		"@UPSTREAM_SERVERS@": "server " + strings.TrimPrefix(c.Instances[0].URL, "http://") + ";",
		"@PREFIX@":           prefix,
		"@LOGS@":             dir,
		"@SITE_CONF@":        filepath.Join(prefix, "site.conf"),
		"@STATIC_ROOT@":      filepath.Join(prefix, "static"),
	}
	if out, err := exec.Command(whatsupBin, "-write-static", filepath.Join(prefix, "static")).CombinedOutput(); err != nil {
		t.Fatalf("whatsup -write-static: %v\n%s", err, out)
	}
	for tmpl, out := range map[string]string{
		template: filepath.Join(prefix, "site.conf"),
		filepath.Join(deployDir, "nginx-dev.conf"): filepath.Join(prefix, "nginx.conf"),
	} {
		if err := topology.Render(tmpl, out, markers); err != nil {
			t.Fatal(err)
		}
	}
	errorLog := filepath.Join(dir, "nginx-error.log")
	ngx := &testenv.Proc{Name: "nginx-https", Path: findNginx(t), Dir: prefix, LogFile: filepath.Join(dir, "nginx.log"),
		Args: []string{"-p", prefix + "/", "-e", errorLog, "-c", filepath.Join(prefix, "nginx.conf")}}
	if err := ngx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ngx.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Log(tail(errorLog, 20))
		}
	})

	base := "https://127.0.0.1:" + strconv.Itoa(tlsPort)
	hc := &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	get := func(url string) (*http.Response, error) {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	err = testenv.Eventually(topology.StartTimeout, 50*time.Millisecond, func() error {
		if ngx.Exited() {
			t.Fatalf("nginx exited: %s", tail(errorLog, 10))
		}
		resp, err := get(base + "/healthz")
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every kind of answer carries HSTS: the instances' (200, 303, 404),
	// the static files from disk, nginx's own errors (a static name that
	// is not there, a body over client_max_body_size) and its 429s.
	login, err := hc.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(login.Body)
	login.Body.Close()
	refs := staticRef.FindAllStringSubmatch(string(page), -1)
	if len(refs) == 0 {
		t.Fatalf("/login names no static file:\n%s", page)
	}
	hsts := func(what string, resp *http.Response, want int) {
		t.Helper()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", what, resp.StatusCode, want)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Errorf("%s over TLS: %d with Strict-Transport-Security %q", what, resp.StatusCode, got)
		}
		if resp.TLS == nil {
			t.Errorf("%s: not over TLS", what)
		}
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/healthz", 200}, {"/login", 200}, {"/", 303}, {"/nope", 404},
		{refs[0][1], 200}, {"/static/nope.0123456789ab.css", 404},
	} {
		resp, err := get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		hsts("GET "+tc.path, resp, tc.want)
	}
	resp, err := hc.Post(base+"/api/session", "application/json", strings.NewReader(strings.Repeat("x", 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hsts("POST /api/session of 2 MiB", resp, http.StatusRequestEntityTooLarge)
	// /healthz is limited to 1 per second per address with a burst of 5.
	limited := false
	for range 20 {
		resp, err := get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			hsts("a 429 of /healthz", resp, http.StatusTooManyRequests)
			limited = true
			break
		}
	}
	if !limited {
		t.Error("20 GET /healthz at once met no 429")
	}
	resp, err = get("http://127.0.0.1:" + strconv.Itoa(plainPort) + "/login?next=/x")
	if err != nil {
		t.Fatal(err)
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://127.0.0.1/login?next=/x") {
		t.Errorf("plain HTTP: %d to %q, want 301 to https", resp.StatusCode, loc)
	}
}
