package session

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"
)

// TestWrappingKeyIsHKDF: the wrapping key derived on the stack is
// HKDF-Expand-SHA-256 of the token, as crypto/hkdf computes it.
func TestWrappingKeyIsHKDF(t *testing.T) {
	for range 10 {
		tok := newToken()
		want, err := hkdf.Expand(sha256.New, tok[:], wrapInfo, 32)
		if err != nil {
			t.Fatal(err)
		}
		sealed := gcm(want).Seal(nil, make([]byte, nonceSize), []byte("probe"), nil)
		if got, err := wrapping(&tok).Open(nil, make([]byte, nonceSize), sealed, nil); err != nil || !bytes.Equal(got, []byte("probe")) {
			t.Fatalf("the wrapping key is not HKDF-Expand(token, %q, 32): %v", wrapInfo, err)
		}
	}
}

// TestSealRoundTrip: a value opens under its session's key and name only;
// a wrap opens under its token only.
func TestSealRoundTrip(t *testing.T) {
	a, b := newValueKey(), newValueKey()
	for _, v := range []string{"", `"x"`, string(make([]byte, 70000))} {
		s := a.seal("f", v)
		if len(s) != len(v)+sealOverhead {
			t.Errorf("sealed %d bytes into %d, want %d more", len(v), len(s), sealOverhead)
		}
		if got, ok := a.open("f", s); !ok || got != v {
			t.Errorf("open of a sealed value: %v", ok)
		}
		if _, ok := a.open("g", s); ok {
			t.Error("a value opened under another name")
		}
		if _, ok := b.open("f", s); ok {
			t.Error("a value opened under another session's key")
		}
		if _, ok := a.open("f", s[:len(s)-1]); ok {
			t.Error("a truncated value opened")
		}
	}
	if _, ok := a.open("f", "short"); ok {
		t.Error("a value shorter than a nonce and a tag opened")
	}
	t1, t2 := newToken(), newToken()
	w := a.wrap(&t1)
	if len(w) != wrapSize {
		t.Errorf("wrap of %d bytes, want %d", len(w), wrapSize)
	}
	if k, ok := unwrap(&t1, w); !ok || k.raw != a.raw {
		t.Error("a wrap did not open under its token")
	}
	if _, ok := unwrap(&t2, w); ok {
		t.Error("a wrap opened under another token")
	}
	if _, ok := unwrap(&t1, w[:len(w)-1]); ok {
		t.Error("a truncated wrap opened")
	}
}
