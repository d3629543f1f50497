package memstore

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/stickless/stickless/session"
)

var (
	// ErrClosed is returned by every method of a Store after [Store.Close].
	ErrClosed = errors.New("memstore: closed")

	// ErrFull is returned by a [Store.Save] that would create a session
	// while the store holds Options.MaxSessions sessions (nine tenths of
	// it for an anonymous session), once the expired ones are deleted. The session Manager answers it, like any store
	// failure, with a 503.
	ErrFull = errors.New("memstore: full: too many live sessions (Options.MaxSessions)")
)

// contextError is the error of a call whose context is done: it matches
// context.Canceled or context.DeadlineExceeded.
func contextError(err error) error { return fmt.Errorf("memstore: %w", err) }

// tooLarge is the error of a write refused by its limits: it matches
// session.ErrTooLarge and says by how much.
func tooLarge(u session.Usage, lim session.Limits) error {
	return fmt.Errorf("memstore: the write would make the session %d bytes in %d fields, past the limits of %d bytes and %d fields: %w",
		u.Size, u.Fields, lim.MaxSize, lim.MaxFields, session.ErrTooLarge)
}

// notIntegerError is the error of Incr on a field that does not hold an
// int64: it matches session.ErrNotInteger.
type notIntegerError struct{ msg string }

func (e *notIntegerError) Error() string { return e.msg }
func (e *notIntegerError) Unwrap() error { return session.ErrNotInteger }

var (
	errNotInteger = &notIntegerError{"memstore: value is not an integer"}
	errOverflow   = &notIntegerError{"memstore: increment would overflow int64"}
)

// parseInt reads b as a JSON integer that fits in an int64: an optional
// minus sign and decimal digits, without a leading zero or plus sign.
func parseInt(b string) (int64, error) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) > 1) {
		return 0, errNotInteger
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errNotInteger
		}
	}
	v, err := strconv.ParseInt(b, 10, 64)
	if err != nil {
		return 0, errNotInteger
	}
	return v, nil
}
