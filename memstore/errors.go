package memstore

import (
	"strconv"

	"github.com/stickless/stickless/session"
)

// ErrClosed is returned by every method of a Store after [Store.Close]. It
// wraps session.ErrStoreUnavailable.
var ErrClosed error = &unavailableError{msg: "memstore: closed"}

// unavailableError is a failure to answer: it matches
// session.ErrStoreUnavailable and its cause.
type unavailableError struct {
	msg   string
	cause error
}

func (e *unavailableError) Error() string { return e.msg }

func (e *unavailableError) Unwrap() []error {
	if e.cause == nil {
		return []error{session.ErrStoreUnavailable}
	}
	return []error{session.ErrStoreUnavailable, e.cause}
}

// contextError wraps the error of a done context so that it matches
// session.ErrStoreUnavailable as well as context.Canceled or
// context.DeadlineExceeded.
func contextError(err error) error {
	return &unavailableError{msg: "memstore: " + err.Error(), cause: err}
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
func parseInt(b []byte) (int64, error) {
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
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, errNotInteger
	}
	return v, nil
}

// formatInt returns v as decimal text, which is also its JSON encoding.
func formatInt(v int64) []byte { return strconv.AppendInt(nil, v, 10) }
