package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ParseKeys reads signing keys for Config.Keys as a program finds them in a
// file or an environment variable: one key per line or comma-separated,
// spaces around each trimmed, blank lines and lines that begin with "#"
// skipped. The first key signs. It returns an error when there is no key,
// or one that names the first key that is too short by its position and
// length (never its content).
func ParseKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, k := range strings.Split(line, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, []byte(k))
			}
		}
	}
	return keys, checkKeys(keys)
}

// checkKeys returns the error that says why keys cannot sign cookies, or
// nil.
func checkKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("session: no signing key: give at least one of 32 bytes or more (make one with: openssl rand -hex 32)")
	}
	for i, k := range keys {
		if len(k) < MinKeySize {
			return fmt.Errorf("session: signing key %d of %d has %d bytes; each needs at least %d (make one with: openssl rand -hex 32)",
				i+1, len(keys), len(k), MinKeySize)
		}
	}
	return nil
}

// KeyFingerprint returns a short public name of a signing key: 16 hex
// digits of an HMAC-SHA-256 of a fixed label under the key, which tells
// nothing of the key and signs nothing that a cookie could use. Instances
// that log the same fingerprints share their keys; [New] logs them.
func KeyFingerprint(key []byte) string {
	mac := hmac.New(sha256.New, key)
	// A cookie's MAC covers name, a flag byte (0 or 1), token: this label
	// has neither byte, so it is never what a cookie signs.
	mac.Write([]byte("stickless signing key fingerprint"))
	return hex.EncodeToString(mac.Sum(nil)[:8])
}
