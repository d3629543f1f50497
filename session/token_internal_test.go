package session

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

func TestNewTokenIsRandom(t *testing.T) {
	seen := map[secretToken]bool{}
	for range 64 {
		tok := newToken()
		if tok == (secretToken{}) || seen[tok] {
			t.Fatal("newToken returned a zero or repeated token")
		}
		seen[tok] = true
	}
}

func TestTokenKey(t *testing.T) {
	tok := newToken()
	k := tok.Key()
	if len(k) != 43 {
		t.Errorf("Key has %d characters, want 43", len(k))
	}
	if k != tok.Key() {
		t.Error("Key is not deterministic")
	}
	if k == base64.RawURLEncoding.EncodeToString(tok[:]) {
		t.Error("Key is the token itself")
	}
	if h := Handle(k); h == k || len(h) != 22 {
		t.Errorf("Handle(key) = %q: want a 22-character hash different from the key", h)
	}
}

// secretForms returns the ways a secret's bytes could show in a text.
func secretForms(b []byte) []string {
	dec := make([]string, len(b))
	for i, c := range b {
		dec[i] = strconv.Itoa(int(c))
	}
	return []string{
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		base64.RawURLEncoding.EncodeToString(b),
		base64.StdEncoding.EncodeToString(b),
		strings.Join(dec, " "),
		strings.Join(dec, ","),
	}
}

func checkNoSecret(t *testing.T, what, out string, secret []byte) {
	t.Helper()
	for _, f := range secretForms(secret) {
		if strings.Contains(out, f) {
			t.Errorf("%s printed the secret (%q) in %q", what, f, out)
		}
	}
}

func TestRedactedFmt(t *testing.T) {
	tok := newToken()
	sig := testCodec(testKey1).sign(0, &tok, false)
	values := []struct {
		name   string
		v      any
		secret []byte
	}{
		{"secretToken", tok, tok[:]},
		{"*secretToken", &tok, tok[:]},
		{"signature", sig, sig[:]},
		{"*signature", &sig, sig[:]},
	}
	for _, val := range values {
		for _, verb := range []string{"%v", "%+v", "%s", "%x", "%X", "% x", "%#v", "%q", "%d", "%o", "%b", "%c", "%U", "%10v", "%-40s"} {
			t.Run(val.name+"/"+verb, func(t *testing.T) {
				out := fmt.Sprintf(verb, val.v)
				if strings.TrimSpace(out) != redacted {
					t.Errorf("Sprintf(%q) = %q, want %q", verb, out, redacted)
				}
				checkNoSecret(t, verb, out, val.secret)
			})
		}
		t.Run(val.name+"/in a struct", func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%#v"} {
				out := fmt.Sprintf(verb, struct{ Secret any }{val.v})
				if !strings.Contains(out, redacted) {
					t.Errorf("Sprintf(%q, struct) = %q, want it to show %q", verb, out, redacted)
				}
				checkNoSecret(t, verb+" of a struct", out, val.secret)
			}
		})
	}
}

func TestRedactedMethods(t *testing.T) {
	tok := newToken()
	sig := testCodec(testKey1).sign(0, &tok, false)
	for _, s := range []string{tok.String(), tok.GoString(), sig.String(), sig.GoString(), tok.LogValue().String(), sig.LogValue().String()} {
		if s != redacted {
			t.Errorf("got %q, want %q", s, redacted)
		}
	}
}

func TestRedactedSlog(t *testing.T) {
	tok := newToken()
	sig := testCodec(testKey1).sign(0, &tok, false)
	handlers := []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	}
	for _, h := range handlers {
		t.Run(h.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			log.Info("values", "token", tok, "tokenp", &tok, "sig", sig, "sigp", &sig)
			log.Info("attrs", slog.Any("token", tok), slog.Group("g", slog.Any("sig", sig)))
			log.With("token", tok).WithGroup("g").Info("with", "sig", sig)
			out := buf.String()
			if n := strings.Count(out, redacted); n != 8 {
				t.Errorf("log shows %q %d times, want 8:\n%s", redacted, n, out)
			}
			checkNoSecret(t, "slog "+h.name, out, tok[:])
			checkNoSecret(t, "slog "+h.name, out, sig[:])
		})
	}
}

func TestTokenRedactedInJSON(t *testing.T) {
	b, err := json.Marshal(struct{ T secretToken }{secretToken{1, 2, 3}})
	if err != nil || string(b) != `{"T":"[redacted]"}` {
		t.Fatalf("json of a token = %s, %v", b, err)
	}
}
