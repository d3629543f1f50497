package session

import (
	"fmt"
	"reflect"
	"testing"
)

// TestPendingTransitions drives the pending state through the sequences of
// calls a request can make and checks the store calls that plan derives.
func TestPendingTransitions(t *testing.T) {
	lim := Limits{Idle: 1, Absolute: 2, MaxSize: 3, MaxFields: 4}
	v := `"v"`
	tests := []struct {
		name   string
		stored bool // the request loaded a live session under "old"
		steps  func(p *pending, stored bool)
		key    string // the session's key at commit
		want   []call
		op     op
	}{
		{
			name: "nothing changed", stored: true, key: "old",
			steps: func(p *pending, stored bool) {},
			want:  []call{}, op: opNone,
		},
		{
			name: "put on a stored session: update", stored: true, key: "old",
			steps: func(p *pending, stored bool) { p.put("a", v, stored) },
			want:  []call{{save: &Write{Key: "old", Set: map[string]string{"a": v}, Limits: lim}}},
			op:    opUpdate,
		},
		{
			name: "put on a new session: create", key: "new",
			steps: func(p *pending, stored bool) { p.put("a", v, stored) },
			want: []call{{save: &Write{Key: "new", Create: true, Set: map[string]string{"a": v}, BindUser: true,
				UserAgent: "ua", Limits: lim}}},
			op: opCreate,
		},
		{
			name: "delete on a new session: nothing stored", key: "new",
			steps: func(p *pending, stored bool) { p.remove("a", false, stored) },
			want:  []call{}, op: opNone,
		},
		{
			name: "put then delete on a new session: nothing to hold", key: "new",
			steps: func(p *pending, stored bool) { p.put("a", v, stored); p.remove("a", true, stored) },
			want:  []call{}, op: opCreate,
		},
		{
			name: "delete of a stored value", stored: true, key: "old",
			steps: func(p *pending, stored bool) { p.remove("a", true, stored) },
			want:  []call{{save: &Write{Key: "old", Del: []string{"a"}, Limits: lim}}},
			op:    opUpdate,
		},
		{
			name: "put after delete undoes the delete", stored: true, key: "old",
			steps: func(p *pending, stored bool) { p.remove("a", true, stored); p.put("a", v, stored) },
			want:  []call{{save: &Write{Key: "old", Del: []string{}, Set: map[string]string{"a": v}, Limits: lim}}},
			op:    opUpdate,
		},
		{
			name: "renew of a stored session keeps the login time", stored: true, key: "new",
			steps: func(p *pending, stored bool) { p.renew(stored, "old") },
			want:  []call{{save: &Write{Key: "new", From: "old", UserAgent: "ua", Limits: lim}}},
			op:    opRenew,
		},
		{
			name: "renew of a session not stored: nothing to move", key: "new",
			steps: func(p *pending, stored bool) { p.renew(stored, "") },
			want:  []call{}, op: opNone,
		},
		{
			name: "login of an anonymous stored session keeps its values", stored: true, key: "new",
			steps: func(p *pending, stored bool) { p.bind("ann", false, stored, "old") },
			want: []call{{save: &Write{Key: "new", From: "old", BindUser: true, User: "ann", Login: true,
				UserAgent: "ua", Limits: lim}}},
			op: opRenew,
		},
		{
			name: "login of another user clears the values", stored: true, key: "new",
			steps: func(p *pending, stored bool) {
				p.put("a", v, stored)
				p.remove("b", true, stored)
				p.bind("bob", true, stored, "old")
			},
			want: []call{{save: &Write{Key: "new", From: "old", Clear: true, BindUser: true, User: "bob", Login: true,
				UserAgent: "ua", Limits: lim}}},
			op: opRenew,
		},
		{
			name: "login on a new session: create bound", key: "new",
			steps: func(p *pending, stored bool) { p.bind("ann", false, stored, "") },
			want: []call{{save: &Write{Key: "new", Create: true, BindUser: true, User: "ann", Login: true,
				UserAgent: "ua", Limits: lim}}},
			op: opCreate,
		},
		{
			name: "logout", stored: true, key: "old",
			steps: func(p *pending, stored bool) { p.put("a", v, stored); p.destroy(stored, "old") },
			want:  []call{{destroy: "old"}}, op: opDestroy,
		},
		{
			name: "logout of a session not stored", key: "new",
			steps: func(p *pending, stored bool) { p.destroy(stored, "new") },
			want:  []call{}, op: opDestroy,
		},
		{
			name: "renew then logout destroys the old key", stored: true, key: "new",
			steps: func(p *pending, stored bool) { p.renew(stored, "old"); p.destroy(false, "new") },
			want:  []call{{destroy: "old"}}, op: opDestroy,
		},
		{
			name: "logout then put: a new session", stored: true, key: "new",
			steps: func(p *pending, stored bool) { p.destroy(stored, "old"); p.put("a", v, false) },
			want: []call{{destroy: "old"}, {save: &Write{Key: "new", Create: true, Set: map[string]string{"a": v},
				BindUser: true, UserAgent: "ua", Limits: lim}}},
			op: opCreate,
		},
		{
			name: "logout then login: a new bound session", stored: true, key: "new",
			steps: func(p *pending, stored bool) { p.destroy(stored, "old"); p.bind("ann", false, false, "") },
			want: []call{{destroy: "old"}, {save: &Write{Key: "new", Create: true, BindUser: true, User: "ann",
				Login: true, UserAgent: "ua", Limits: lim}}},
			op: opCreate,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p pending
			tt.steps(&p, tt.stored)
			if p.op != tt.op {
				t.Errorf("op = %v, want %v", p.op, tt.op)
			}
			got := plan(p, tt.key, "", "ua", false, lim)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan =\n%s\nwant\n%s", fmtCalls(got), fmtCalls(tt.want))
			}
		})
	}
}

func TestLostRenewal(t *testing.T) {
	v := `1`
	tests := []struct {
		name string
		p    pending
		want pending
	}{
		{"keeps this request's values, not the dead user",
			pending{op: opRenew, from: "old", set: map[string]string{"a": v}, del: []string{"b"}, clear: true},
			pending{op: opCreate, set: map[string]string{"a": v}}},
		{"keeps a user this request bound",
			pending{op: opRenew, from: "old", bindUser: true, user: "ann", login: true},
			pending{op: opCreate, bindUser: true, user: "ann", login: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.lostRenewal(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lostRenewal = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func fmtCalls(cs []call) string {
	s := ""
	for _, c := range cs {
		if c.save == nil {
			s += "  Destroy(" + c.destroy + ")\n"
		} else {
			s += "  Save(" + fmtWrite(*c.save) + ")\n"
		}
	}
	return s
}

func fmtWrite(w Write) string { return fmt.Sprintf("%+v", w) }
