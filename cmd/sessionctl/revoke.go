package main

import (
	"context"
	"errors"
	"fmt"
)

// errNoSession is returned by revoke when the user has no session of that
// id (exit code 1).
var errNoSession = errors.New("no such session")

// runRevoke: sessionctl revoke USER ID.
func runRevoke(ctx context.Context, e *env, args []string) error {
	pos, err := e.parseArgs("revoke", args, "USER", "ID")
	if err != nil {
		return err
	}
	user, id := pos[0], pos[1]
	m, closeStore, err := e.manager(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ok, err := m.Revoke(ctx, user, id)
	if err != nil {
		return fmt.Errorf("revoking session %s of %q: %w", id, user, err)
	}
	if !ok {
		return fmt.Errorf("%w: %q has no live session %s (see sessionctl list %s)", errNoSession, user, id, user)
	}
	if e.json {
		return e.printJSON(map[string]any{"user": user, "id": id, "revoked": 1})
	}
	fmt.Fprintf(e.stdout, "revoked session %s of %q\n", id, user)
	return nil
}
