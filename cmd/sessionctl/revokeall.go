package main

import (
	"context"
	"fmt"
)

// runRevokeAll: sessionctl revoke-all USER.
func runRevokeAll(ctx context.Context, e *env, args []string) error {
	pos, err := e.parseArgs("revoke-all", args, "USER")
	if err != nil {
		return err
	}
	user := pos[0]
	a, closeStore, err := e.admin(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	n, err := a.RevokeAll(ctx, user)
	if err != nil {
		return fmt.Errorf("revoking the sessions of %q: %w", user, err)
	}
	if e.json {
		return e.printJSON(map[string]any{"user": user, "revoked": n})
	}
	fmt.Fprintf(e.stdout, "revoked %d session(s) of %q\n", n, user)
	return nil
}
