package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stickless/stickless/session"
)

// The secrets file is the one whatsup reads with -secrets-file (and
// deploy/cluster.sh writes): one key per line, the first signs and every
// one verifies; blank lines and lines starting with # are skipped; each key
// has at least session.MinKeySize characters.

// Both commands replace the file atomically and may run at once (a deploy
// script on several hosts sharing the file, an operator's retry): each
// takes an exclusive lock on the directory of the file it writes, so that
// they apply one after the other and none is lost. A symlinked file (a
// secrets manager's mount, a release layout) stays a symlink: the file it
// points to is the one replaced.

// runKeys: sessionctl keys add FILE | keys retire FILE.
func runKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr("keys wants add FILE or retire FILE")
	}
	switch args[0] {
	case "add":
		pos, err := e.parseArgs("keys add", args[1:], "FILE")
		if err != nil {
			return err
		}
		return withSecrets(pos[0], func(file string) error { return keysAdd(e, pos[0], file) })
	case "retire":
		pos, err := e.parseArgs("keys retire", args[1:], "FILE")
		if err != nil {
			return err
		}
		return withSecrets(pos[0], func(file string) error { return keysRetire(e, pos[0], file) })
	}
	return usageErr("unknown keys command %q (want add or retire)", args[0])
}

// withSecrets runs f on the file that path names, symlinks followed, while
// it holds the lock of that file's directory.
func withSecrets(path string, f func(file string) error) error {
	file, err := resolveLinks(path)
	if err != nil {
		return err
	}
	unlock, err := lockDir(filepath.Dir(file))
	if err != nil {
		return fmt.Errorf("locking the directory of %s: %w", file, err)
	}
	defer unlock()
	return f(file)
}

// resolveLinks returns the file that path names once every symlink on the
// way is followed, including one whose target does not exist yet (keys add
// then creates that target).
func resolveLinks(path string) (string, error) {
	for range 40 {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// secretsFile is a secrets file as lines, with the indexes of its key
// lines.
type secretsFile struct {
	lines []string
	keys  []int // indexes in lines of the key lines, first (signing) first
}

func readSecrets(path string, mustExist bool) (*secretsFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return &secretsFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	f := &secretsFile{lines: strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")}
	if len(b) == 0 {
		f.lines = nil
	}
	for i, l := range f.lines {
		k := strings.TrimSpace(l)
		if k == "" || strings.HasPrefix(k, "#") {
			continue
		}
		if len(k) < session.MinKeySize {
			// Never print the key: its line number is enough.
			return nil, fmt.Errorf("%s: line %d: a key of %d characters; whatsup wants at least %d", path, i+1, len(k), session.MinKeySize)
		}
		f.keys = append(f.keys, i)
	}
	return f, nil
}

// write replaces path with f atomically: a temporary file in the same
// directory, mode 0600, synced, then renamed over path.
func (f *secretsFile) write(path string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	text := strings.Join(f.lines, "\n") + "\n"
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// keysAdd generates a key (32 random bytes, hex) and puts it before the
// first key of file (what path names), keeping every other line; a missing
// file is created.
func keysAdd(e *env, path, file string) error {
	f, err := readSecrets(file, false)
	if err != nil {
		return err
	}
	b := make([]byte, 32)
	rand.Read(b)
	key := hex.EncodeToString(b)
	at := len(f.lines)
	if len(f.keys) > 0 {
		at = f.keys[0]
	}
	f.lines = append(f.lines[:at], append([]string{key}, f.lines[at:]...)...)
	if err := f.write(file); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	n := len(f.keys) + 1
	if e.json {
		return e.printJSON(map[string]any{"file": path, "keys": n})
	}
	fmt.Fprintf(e.stdout, "added a signing key first in %s (%d keys now); restart every instance to sign with it\n", path, n)
	return nil
}

// keysRetire drops every key line of file (what path names) but the first
// two.
func keysRetire(e *env, path, file string) error {
	f, err := readSecrets(file, true)
	if err != nil {
		return err
	}
	retired := 0
	if len(f.keys) > 2 {
		drop := map[int]bool{}
		for _, i := range f.keys[2:] {
			drop[i] = true
		}
		kept := f.lines[:0:0]
		for i, l := range f.lines {
			if !drop[i] {
				kept = append(kept, l)
			}
		}
		retired = len(drop)
		f.lines = kept
		if err := f.write(file); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	kept := min(len(f.keys), 2)
	if e.json {
		return e.printJSON(map[string]any{"file": path, "keys": kept, "retired": retired})
	}
	fmt.Fprintf(e.stdout, "retired %d key(s) of %s, %d kept; restart every instance to stop accepting cookies signed by them\n", retired, path, kept)
	return nil
}
