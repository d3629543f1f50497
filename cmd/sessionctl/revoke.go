package main

import (
	"context"
	"errors"
	"fmt"
)

// errNoSession is returned by revoke when the user has no session of that
// handle (exit code 1).
var errNoSession = errors.New("no such session")

// runRevoke: sessionctl revoke USER HANDLE.
func runRevoke(ctx context.Context, e *env, args []string) error {
	pos, err := e.parseArgs("revoke", args, "USER", "HANDLE")
	if err != nil {
		return err
	}
	user, handle := pos[0], pos[1]
	a, closeStore, err := e.admin(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ok, err := a.Revoke(ctx, user, handle)
	if err != nil {
		return fmt.Errorf("revoking session %s of %q: %w", handle, user, err)
	}
	if !ok {
		return fmt.Errorf("%w: %q has no live session %s (see sessionctl list %s)", errNoSession, user, handle, user)
	}
	if e.json {
		return e.printJSON(map[string]any{"user": user, "handle": handle, "revoked": 1})
	}
	fmt.Fprintf(e.stdout, "revoked session %s of %q\n", handle, user)
	return nil
}
