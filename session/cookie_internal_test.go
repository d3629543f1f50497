package session

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

var (
	testKey1 = []byte("test key one: 32 bytes or more.....")
	testKey2 = []byte("test key two: 32 bytes or more.....")
	testKey3 = []byte("test key three: 32 bytes or more...")
)

func testCodec(keys ...[]byte) *codec {
	return &codec{name: defaultCookieName, keys: keys}
}

// tokenFrom makes a token of b, padded with zeros or cut to tokenSize.
func tokenFrom(b []byte) secretToken {
	var t secretToken
	copy(t[:], b)
	return t
}

func TestCodecFormat(t *testing.T) {
	v := testCodec(testKey1).encode(newToken(), false)
	if len(v) != 87 {
		t.Errorf("cookie value has %d characters, want 87 (43 + 1 + 43)", len(v))
	}
	if v[43] != '.' {
		t.Errorf("cookie value %q has no '.' at 43", v)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			t.Fatalf("cookie value %q holds %q, outside base64url and '.'", v, c)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		tok  secretToken
	}{
		{"zero", secretToken{}},
		{"all ones", tokenFrom(bytes.Repeat([]byte{0xff}, tokenSize))},
		{"random", newToken()},
	}
	for _, tt := range tests {
		for _, remember := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/remember=%v", tt.name, remember), func(t *testing.T) {
				c := testCodec(testKey1, testKey2)
				got, i, rem, ok := c.decode(c.encode(tt.tok, remember))
				if !ok || got != tt.tok || i != 0 || rem != remember {
					t.Errorf("decode(encode(t, %v)) = (equal %v, key %d, remember %v, ok %v), want (true, 0, %v, true)", remember, got == tt.tok, i, rem, ok, remember)
				}
			})
		}
	}
}

func TestCodecRejectsFlippedBit(t *testing.T) {
	c := testCodec(testKey1)
	for i, tok := range []secretToken{{}, tokenFrom(bytes.Repeat([]byte{0xff}, tokenSize)), newToken(), newToken()} {
		v := c.encode(tok, i%2 == 1)
		for i := 0; i < len(v); i++ {
			for bit := 0; bit < 8; bit++ {
				b := []byte(v)
				b[i] ^= 1 << bit
				if _, _, _, ok := c.decode(string(b)); ok {
					t.Errorf("value with bit %d of byte %d flipped (%q) was accepted", bit, i, b)
				}
			}
		}
	}
}

func TestCodecRejects(t *testing.T) {
	c := testCodec(testKey1)
	tok := tokenFrom(bytes.Repeat([]byte{0xff}, tokenSize)) // encodes as "_"s, which the standard alphabet spells "/"
	valid := c.encode(tok, false)
	otherName := (&codec{name: "other", keys: [][]byte{testKey1}}).encode(tok, false)
	remembered := c.encode(tok, true)
	tests := []struct {
		name string
		v    string
	}{
		{"empty", ""},
		{"dot only", "."},
		{"token only", valid[:43]},
		{"no signature", valid[:44]},
		{"truncated", valid[:86]},
		{"extra byte", valid + "A"},
		{"doubled", valid + valid},
		{"dot moved", valid[:42] + "." + valid[42:43] + valid[44:]},
		{"padded base64", valid[:43] + "=" + valid[44:]},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(valid)},
		{"signature of another cookie name", otherName},
		{"flag turned on (~ for .)", valid[:43] + "~" + valid[44:]},
		{"flag turned off (. for ~)", remembered[:43] + "." + remembered[44:]},
		{"another separator", valid[:43] + "!" + valid[44:]},
		{"signature of another token", valid[:44] + c.encode(newToken(), false)[44:]},
		{"zero signature", valid[:44] + strings.Repeat("A", 43)},
		{"oversized", strings.Repeat("A", 4096)},
		{"non-UTF-8", "\xff\xfe" + valid[2:]},
		{"NUL bytes", strings.Repeat("\x00", 87)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, ok := c.decode(tt.v); ok {
				t.Errorf("decode(%q) accepted", tt.v)
			}
		})
	}
}

func TestCodecKeyRotation(t *testing.T) {
	tok := newToken()
	byKey2 := testCodec(testKey2).encode(tok, false)
	tests := []struct {
		name    string
		keys    [][]byte
		ok      bool
		wantIdx int
	}{
		{"signing key only", [][]byte{testKey2}, true, 0},
		{"new key first, old key second", [][]byte{testKey1, testKey2}, true, 1},
		{"old key third", [][]byte{testKey1, testKey3, testKey2}, true, 2},
		{"old key dropped", [][]byte{testKey1}, false, 0},
		{"other keys", [][]byte{testKey1, testKey3}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, i, _, ok := testCodec(tt.keys...).decode(byKey2)
			if ok != tt.ok {
				t.Fatalf("decode ok = %v, want %v", ok, tt.ok)
			}
			if ok && (got != tok || i != tt.wantIdx) {
				t.Errorf("decode = (equal %v, key %d), want (true, %d)", got == tok, i, tt.wantIdx)
			}
		})
	}
	// A codec with the new key first signs with it, so the old key alone
	// no longer verifies what it issues.
	if _, _, _, ok := testCodec(testKey2).decode(testCodec(testKey1, testKey2).encode(tok, false)); ok {
		t.Error("a cookie signed by [k1,k2] verified under [k2]: the first key does not sign")
	}
}

func FuzzCodecDecode(f *testing.F) {
	c := testCodec(testKey1, testKey2)
	f.Add(c.encode(newToken(), false))
	f.Add(c.encode(newToken(), true))
	f.Add(testCodec(testKey2).encode(newToken(), false))
	f.Add("")
	f.Add(".")
	f.Add(strings.Repeat("A", 43) + "." + strings.Repeat("A", 43))
	f.Add(strings.Repeat("_", 87))
	f.Add("\xff" + strings.Repeat("A", 86))
	f.Fuzz(func(t *testing.T, v string) {
		tok, i, remember, ok := c.decode(v) // must not panic
		if !ok {
			if tok != (secretToken{}) || i != 0 {
				t.Errorf("a rejected value returned a token or key index %d", i)
			}
			return
		}
		// Only canonical values verify: signing the token again with the
		// key that verified gives back exactly v.
		if again := testCodec(c.keys[i]).encode(tok, remember); again != v {
			t.Errorf("decode accepted %q, which is not the encoding %q", v, again)
		}
	})
}

func FuzzCodecRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, tokenSize))
	f.Add([]byte("0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok := tokenFrom(b)
		c := testCodec(testKey1, testKey2)
		got, i, _, ok := c.decode(c.encode(tok, false))
		if !ok || got != tok || i != 0 {
			t.Errorf("round trip of %x: ok %v, key %d, equal %v", b, ok, i, got == tok)
		}
	})
}

func FuzzCodecFlippedBit(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte("0123456789abcdef0123456789abcdef"), uint16(43*8))
	f.Add(bytes.Repeat([]byte{0xff}, tokenSize), uint16(86*8+7))
	f.Fuzz(func(t *testing.T, b []byte, bit uint16) {
		c := testCodec(testKey1)
		v := []byte(c.encode(tokenFrom(b), false))
		n := int(bit) % (len(v) * 8)
		v[n/8] ^= 1 << (n % 8)
		if _, _, _, ok := c.decode(string(v)); ok {
			t.Errorf("value with bit %d flipped (%q) was accepted", n, v)
		}
	})
}

// TestCookieValues: cookieValues finds the values net/http's
// CookiesNamed finds, in the same order, but for quoted values, which it
// leaves quoted (no cookie of ours has quotes).
func TestCookieValues(t *testing.T) {
	for _, headers := range [][]string{
		{"session=a"},
		{"a=1; session=b; session=c", "session=d"},
		{" session = x ;session=y;;session=", "other=session=z"},
		{"sessionx=1; xsession=2; session=3=4"},
		{""},
		{},
	} {
		r := &http.Request{Header: http.Header{"Cookie": headers}}
		var want []string
		for _, c := range r.CookiesNamed("session") {
			want = append(want, c.Value)
		}
		got := slices.Collect(cookieValues(r.Header, "session"))
		if !slices.Equal(got, want) {
			t.Errorf("Cookie %q: got %q, net/http %q", headers, got, want)
		}
	}
}
