package redisstore

import (
	"errors"

	"github.com/stickless/stickless/session"
)

// ErrClosed is returned (wrapped, together with
// session.ErrStoreUnavailable) by every call made after [Store.Close].
var ErrClosed = errors.New("redisstore: store closed")

// storeError is a failure of Redis or of the connection to it: it matches
// session.ErrStoreUnavailable and keeps the cause for logs. Its text names
// the operation and the cause, never a session key or value.
type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string { return "redisstore: " + e.op + ": " + e.err.Error() }

func (e *storeError) Unwrap() []error { return []error{session.ErrStoreUnavailable, e.err} }

// fail wraps err, a failure of the call op, so that it matches
// session.ErrStoreUnavailable.
func fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return &storeError{op: op, err: err}
}
