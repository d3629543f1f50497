package session

import (
	"slices"
)

// op is the write that a request's changes call for when its session is
// committed. The legal states of a Session are the five ops; every change
// moves from one to another by the methods of pending, and plan turns the
// result into store calls.
type op uint8

const (
	opNone    op = iota // nothing to write
	opCreate            // store a new session under the current key
	opUpdate            // apply the delta to the stored session under the current key
	opRenew             // move the stored session from pending.from to the current key, with the delta
	opDestroy           // the session ended in this request: nothing to write but pending.dead
)

var opNames = [...]string{"none", "create", "update", "renew", "destroy"}

func (o op) String() string { return opNames[o] }

// pending is what a commit must write: the op, its delta, and the keys to
// destroy before it (a logout, possibly followed by a new session in the
// same request).
type pending struct {
	op   op
	from string   // opRenew: the stored key that moves and dies
	dead []string // keys to destroy first, in order

	clear    bool // drop every stored value first (the bound user changed)
	set      map[string]string
	del      []string
	bindUser bool
	user     string
	login    bool
}

// write notes a change of values. stored tells whether the store holds the
// session under its current key.
func (p *pending) write(stored bool) {
	switch p.op {
	case opNone:
		p.op = opCreate
		if stored {
			p.op = opUpdate
		}
	case opDestroy:
		p.op = opCreate // a new session after a logout
	}
}

func (p *pending) put(k, v string, stored bool) {
	p.write(stored)
	if p.set == nil {
		p.set = map[string]string{}
	}
	p.set[k] = v
	if i := slices.Index(p.del, k); i >= 0 {
		p.del = slices.Delete(p.del, i, i+1)
	}
}

// remove notes the deletion of k, which the store may hold when had is
// true.
func (p *pending) remove(k string, had, stored bool) {
	delete(p.set, k)
	if !had || slices.Contains(p.del, k) {
		return
	}
	switch p.op {
	case opNone, opUpdate, opRenew:
		if stored || p.op == opRenew {
			p.write(stored)
			p.del = append(p.del, k)
		}
	}
}

// renew moves a stored session to a new key at commit; storedKey is its
// current key. A session that is not stored has nothing to move: it only
// takes the new key when it is created.
func (p *pending) renew(stored bool, storedKey string) {
	if stored && (p.op == opNone || p.op == opUpdate) {
		p.op, p.from = opRenew, storedKey
	}
}

// bind binds the session to user at login; clear drops the values of the
// previous user.
func (p *pending) bind(user string, clear, stored bool, storedKey string) {
	p.renew(stored, storedKey)
	p.write(stored)
	if clear {
		p.clear, p.del, p.set = true, nil, nil
	}
	p.bindUser, p.user, p.login = true, user, true
}

// destroy ends the session: storedKey, if the store holds it, and the key
// a pending renewal moves from die at commit.
func (p *pending) destroy(stored bool, storedKey string) {
	dead := p.dead
	if p.op == opRenew {
		dead = append(dead, p.from)
	} else if stored {
		dead = append(dead, storedKey)
	}
	*p = pending{op: opDestroy, dead: dead}
}

// lostRenewal is the pending state after a renewal found its session gone
// (a logout elsewhere, or expiry): a new session from this request's own
// changes only, so that nothing of the dead session comes back, its user
// included unless this request bound one itself.
func (p pending) lostRenewal() pending {
	n := pending{op: opCreate, dead: p.dead, set: p.set, login: p.login}
	if p.bindUser {
		n.bindUser, n.user = true, p.user
	}
	return n
}

// holds reports whether a new session made of p has something to store: a
// session is written only once it holds a value or a user, so that an
// anonymous visitor who changes nothing stores nothing.
func (p *pending) holds() bool {
	return len(p.set) > 0 || (p.bindUser && p.user != "")
}

// call is one store call of a commit: a Destroy of key, or a Save of w.
type call struct {
	destroy string
	save    *Write
}

// plan returns the store calls that commit p for a session whose current
// key is key and whose user is user. It is a pure function of its
// arguments.
func plan(p pending, key, user, userAgent string, remember bool, lim Limits) []call {
	calls := make([]call, 0, len(p.dead)+1)
	for _, k := range p.dead {
		calls = append(calls, call{destroy: k})
	}
	w := Write{Key: key, Clear: p.clear, Del: p.del, Set: p.set, BindUser: p.bindUser, User: p.user, Login: p.login, Limits: lim}
	switch p.op {
	case opCreate:
		if !p.holds() {
			return calls
		}
		w.Create, w.Clear, w.Del, w.BindUser, w.UserAgent, w.Remember = true, false, nil, true, userAgent, remember
	case opUpdate:
	case opRenew:
		w.From, w.UserAgent, w.Remember = p.from, userAgent, remember
		if !p.bindUser {
			w.User = user // the store checks that the session is still this user's
		}
	default:
		return calls
	}
	return append(calls, call{save: &w}) // w.Set is p.set: the commit replaces p, never changes it
}
