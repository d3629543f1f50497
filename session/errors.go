package session

import (
	"errors"
	"fmt"
)

var (
	// ErrStoreUnavailable is returned (wrapped) when the store cannot answer
	// within the configured timeout: it is down, hung or refused the call.
	// The middleware answers such requests with 503 and Retry-After.
	ErrStoreUnavailable = errors.New("session: store unavailable")

	// ErrTooLarge is returned when a change would make the session pass
	// Config.MaxSize or Config.MaxFields: by [Session.Put] at once, or by
	// the store at commit when concurrent requests filled the session
	// meanwhile. Nothing of the refused change is written; the middleware
	// answers 413 when the commit before the headers is refused.
	ErrTooLarge = errors.New("session: session too large")

	// ErrNotInteger is returned by [Session.Incr] when the field holds
	// something else than an integer.
	ErrNotInteger = errors.New("session: value is not an integer")

	// ErrGone is returned by the immediate operations ([Session.Incr],
	// [Session.CompareAndSwap]) when the session ended: destroyed by this
	// request, or destroyed, renewed away or expired elsewhere while the
	// request ran.
	ErrGone = errors.New("session: session no longer exists")

	// ErrHeadersWritten is returned by the methods that change a session
	// (Put, PutMany, Delete, Login, Renew, Destroy) once the response headers are
	// written: the change could no longer be saved with its cookie. Make
	// changes, or call [Session.Commit], before writing the response; the
	// immediate [Session.Incr] and [Session.CompareAndSwap] work at any time.
	ErrHeadersWritten = errors.New("session: changed after the response headers were written")

	// ErrBadKey is returned for an empty key, and by [Session.Login] for an
	// empty user.
	ErrBadKey = errors.New("session: empty key")

	errNoCounter   = fmt.Errorf("session: the store has no atomic counters (session.Counter): %w", errors.ErrUnsupported)
	errNoUserIndex = fmt.Errorf("session: the store keeps no user index (session.UserIndex): %w", errors.ErrUnsupported)
)

// unavailable wraps err so that it matches ErrStoreUnavailable while keeping
// the cause for logs.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	return &storeError{err: err}
}

type storeError struct{ err error }

func (e *storeError) Error() string { return "session: store unavailable: " + e.err.Error() }
func (e *storeError) Unwrap() []error {
	return []error{ErrStoreUnavailable, e.err}
}
