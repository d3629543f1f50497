package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

// listEntry is one session in the output of list -json.
type listEntry struct {
	Handle    string    `json:"handle"`
	User      string    `json:"user"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	Expires   time.Time `json:"expires"`
	UserAgent string    `json:"user_agent"`
}

// runList: sessionctl list USER.
func runList(ctx context.Context, e *env, args []string) error {
	pos, err := e.parseArgs("list", args, "USER")
	if err != nil {
		return err
	}
	user := pos[0]
	a, closeStore, err := e.admin(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	infos, err := a.Sessions(ctx, user)
	if err != nil {
		return fmt.Errorf("listing the sessions of %q: %w", user, err)
	}
	list := make([]listEntry, 0, len(infos))
	for _, in := range infos {
		list = append(list, listEntry{Handle: in.Handle, User: in.User, Created: in.Created.UTC(),
			LastSeen: in.LastSeen.UTC(), Expires: in.Expires.UTC(), UserAgent: in.UserAgent})
	}
	if e.json {
		return e.printJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(e.stdout, "no live session of %q\n", user)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HANDLE\tCREATED\tLAST SEEN\tEXPIRES\tUSER AGENT")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Handle, stamp(s.Created), stamp(s.LastSeen), stamp(s.Expires), printable(s.UserAgent, 60))
	}
	return tw.Flush()
}

// stamp formats a time for a table, in UTC to the second.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// printable returns s cut to n runes, with control characters (a user
// agent is client input: no escape sequence reaches the terminal) replaced.
func printable(s string, n int) string {
	out := make([]rune, 0, min(len(s), n))
	for _, r := range s {
		if len(out) == n {
			out[n-1] = '…'
			break
		}
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}
