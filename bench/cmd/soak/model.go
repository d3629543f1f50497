package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The model of one browser's session, for Porcupine: what a single Redis
// (or one process holding every session) would answer. The history is
// partitioned by browser session (see history.go), so that each check is
// small.

// opKind is what a history operation does to the session.
type opKind uint8

const (
	// opLogin logs the browser in: a session that lives keeps its values
	// (the login renews its token), otherwise the browser gets a new empty
	// one.
	opLogin opKind = iota
	// opRead is GET /api/session: whether the session lives, and its values.
	opRead
	// opPut is POST /api/session {key: value}.
	opPut
	// opIncr is POST /api/incr {key, by}: the new value.
	opIncr
	// opAlive is an answer that shows only whether the session lives:
	// GET /api/sessions, whoami with a copy of the cookie, the login check
	// of a revoke, a revoke answered "not found".
	opAlive
	// opLogout is POST /logout with the session's own cookie.
	opLogout
	// opRevoke is POST /api/sessions/revoke of this session from the
	// user's other browser.
	opRevoke
)

var opNames = [...]string{"login", "read", "put", "incr", "alive?", "logout", "revoke"}

// opIn is an operation's input.
type opIn struct {
	kind  opKind
	key   string
	value string // opPut: the JSON text written
	by    int64  // opIncr
}

// opOut is an operation's output.
type opOut struct {
	// unknown: the answer does not tell whether the operation took effect
	// (no answer, a 5xx; or an answer within a stated window): it may take
	// effect at any time from its call on, or never. Its return time is
	// then the end of the history.
	unknown bool
	// alive: the session lived (opRead, opAlive); for opPut and opIncr,
	// false means the answer was "no session" (nothing written); for
	// opLogin, that the browser got the new token.
	alive  bool
	value  int64             // opIncr: the new value
	values map[string]string // opRead: the session's values, JSON text, the login's own keys left out
}

// sessionState is one state of the model; a step never changes a state, it
// makes new ones.
type sessionState struct {
	alive  bool
	values map[string]string // nil when the session is dead
}

// dead is the state of a browser that holds no live session.
var dead = sessionState{}

// step is the model's transition: the states a session in state s can be
// in after answering in with out; none when it cannot answer so.
func step(s sessionState, in opIn, out opOut) []sessionState {
	// maybe returns the states of an operation that may or may not have
	// taken effect (a is the state if it did).
	maybe := func(a sessionState) []sessionState {
		if out.unknown {
			return []sessionState{s, a}
		}
		return []sessionState{a}
	}
	// observed returns s when the answer matches it.
	observed := func(match bool) []sessionState {
		if out.unknown || match {
			return []sessionState{s}
		}
		return nil
	}
	switch in.kind {
	case opLogin:
		in := sessionState{alive: true, values: map[string]string{}}
		if s.alive {
			in = s // a renewal: the values stay
		}
		switch {
		case !out.unknown:
			return []sessionState{in}
		case out.alive:
			// The browser got the new token; the store may have lost it.
			return []sessionState{in, dead}
		}
		// If it took effect, the session (if any) moved to a token that
		// the browser never got: dead for this browser.
		return []sessionState{s, dead}
	case opRead:
		return observed(out.alive == s.alive && maps.Equal(out.values, s.values))
	case opAlive:
		return observed(out.alive == s.alive)
	case opPut:
		if !s.alive || !out.unknown && !out.alive {
			return observed(!out.alive && !s.alive)
		}
		m := maps.Clone(s.values)
		m[in.key] = in.value
		return maybe(sessionState{alive: true, values: m})
	case opIncr:
		if !s.alive || !out.unknown && !out.alive {
			return observed(!out.alive && !s.alive)
		}
		old := int64(0)
		if v, ok := s.values[in.key]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return observed(false) // not an integer: refused, nothing written
			}
			old = n
		}
		if !out.unknown && out.value != old+in.by {
			return nil
		}
		m := maps.Clone(s.values)
		m[in.key] = strconv.FormatInt(old+in.by, 10)
		return maybe(sessionState{alive: true, values: m})
	case opLogout, opRevoke:
		return maybe(dead)
	}
	panic(fmt.Sprintf("soak: unknown operation kind %d", in.kind))
}

func equalStates(a, b sessionState) bool {
	return a.alive == b.alive && maps.Equal(a.values, b.values)
}

// sessionModel is the model in Porcupine's terms: nondeterministic, as an
// operation without a clear answer leads to two states.
var sessionModel = (&porcupine.NondeterministicModel{
	Init: func() []any { return []any{dead} },
	Step: func(state, input, output any) []any {
		var out []any
		for _, s := range step(state.(sessionState), input.(opIn), output.(opOut)) {
			out = append(out, s)
		}
		return out
	},
	Equal: func(a, b any) bool { return equalStates(a.(sessionState), b.(sessionState)) },
	DescribeOperation: func(input, output any) string {
		return describeOp(input.(opIn), output.(opOut))
	},
	DescribeState: func(state any) string {
		s := state.(sessionState)
		if !s.alive {
			return "no session"
		}
		return describeValues(s.values)
	},
	DescribeOperationMetadata: func(info any) string {
		if info == nil {
			return ""
		}
		return info.(string)
	},
}).ToModel()

func describeOp(in opIn, out opOut) string {
	var b strings.Builder
	b.WriteString(opNames[in.kind])
	switch in.kind {
	case opPut:
		fmt.Fprintf(&b, "(%s=%s)", in.key, in.value)
	case opIncr:
		fmt.Fprintf(&b, "(%s+%d)", in.key, in.by)
	}
	b.WriteString(" → ")
	switch {
	case out.unknown && in.kind == opLogin && out.alive:
		b.WriteString("new token, maybe lost")
	case out.unknown:
		b.WriteString("no answer")
	case in.kind == opRead && out.alive:
		b.WriteString(describeValues(out.values))
	case in.kind == opIncr && out.alive:
		b.WriteString(strconv.FormatInt(out.value, 10))
	case in.kind == opLogin || in.kind == opLogout || in.kind == opRevoke:
		b.WriteString("ok")
	case in.kind == opRead && len(out.values) > 0:
		b.WriteString("no session, yet " + describeValues(out.values))
	case out.alive:
		b.WriteString("ok")
	default:
		b.WriteString("no session")
	}
	return b.String()
}

func describeValues(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}
