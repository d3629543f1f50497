package redisstore

import (
	"errors"

	"github.com/stickless/stickless/session"
)

// ErrClosed is returned by every call made after [Store.Close].
var ErrClosed = errors.New("redisstore: store closed")

// storeError is a failure of New to reach Redis: it matches
// session.ErrStoreUnavailable and keeps the cause. Its text names the
// step and the cause, never a secret.
type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string { return "redisstore: " + e.op + ": " + e.err.Error() }

func (e *storeError) Unwrap() []error { return []error{session.ErrStoreUnavailable, e.err} }

// fail wraps err, a failure of the step op of New, so that it matches
// session.ErrStoreUnavailable.
func fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return &storeError{op: op, err: err}
}
