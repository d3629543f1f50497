package session

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"strconv"
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

// TestKeyCache: a cached key is found by its store key and wrap only, and
// the cache keeps the keys used last, within keyCacheSize.
func TestKeyCache(t *testing.T) {
	var c keyCache
	a, b := newValueKey(), newValueKey()
	c.put("ka", "wa", a)
	if c.get("ka", "wa") != a || c.get("ka", "wb") != nil || c.get("kb", "wa") != nil {
		t.Fatal("the cache answers another key or wrap")
	}
	c.put("ka", "wb", b) // the wrap changed: the new one counts
	if c.get("ka", "wb") != b || c.get("ka", "wa") != nil {
		t.Fatal("a changed wrap still finds the old key")
	}
	for i := range keyCacheSize {
		c.put(strconv.Itoa(i), "w", a)
		c.get("ka", "wb") // used all along: kept
	}
	n := len(c.gens[0]) + len(c.gens[1])
	if n > keyCacheSize || c.get("ka", "wb") != b || c.get("0", "w") != nil || c.get(strconv.Itoa(keyCacheSize-1), "w") != a {
		t.Errorf("after %d puts: %d keys held; want at most %d, the ones used last", keyCacheSize, n, keyCacheSize)
	}
}

func BenchmarkSeal(b *testing.B) {
	k := newValueKey()
	v := `"` + string(bytes.Repeat([]byte("7"), 100)) + `"`
	sealed := k.seal("k7", v)
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := k.open("k7", sealed); !ok {
				b.Fatal("open failed")
			}
		}
	})
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k.seal("k7", v)
		}
	})
	stored := map[string]string{"user_name": k.seal("user_name", `"alice"`)}
	for i := range 10 {
		name := "k" + strconv.Itoa(i)
		stored[name] = k.seal(name, v)
	}
	b.Run("openAll-11", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, bad := k.openAll(stored); bad != 0 {
				b.Fatal("open failed")
			}
		}
	})
	var t secretToken
	w := k.wrap(&t)
	b.Run("unwrap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			unwrap(&t, w)
		}
	})
}
