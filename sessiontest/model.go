package sessiontest

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// testModel runs a random sequence of calls on a few sessions and checks
// every answer, and the sessions after each call, against a model of the
// contract: values, users, limits, renewals, destruction, counters and
// user indexes. The sequence is drawn from a seed that a failure reports.
func testModel(t *testing.T, s session.Store) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0x5e55))
	m := &model{t: t, s: s, rng: rng, lim: session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour, MaxSize: 14, MaxFields: 3}}
	m.c, _ = s.(session.Counter)
	m.ix, _ = s.(session.UserIndex)
	for i := range m.slots {
		m.slots[i].key = newKey()
	}
	for i := range m.users {
		m.users[i] = newUser()
	}
	const steps = 500
	for m.step = 0; m.step < steps && !t.Failed(); m.step++ {
		m.do()
	}
	if t.Failed() {
		t.Logf("model: failed at step %d of the sequence of seed %d; the last calls: %v", m.step, seed, m.trail)
	}
	t.Logf("model: %d calls, answers: %v", m.step, m.answers)
}

// model is the expected state of a few sessions, kept in step with the
// calls made to the store.
type model struct {
	t       *testing.T
	s       session.Store
	c       session.Counter   // nil when not implemented
	ix      session.UserIndex // nil when not implemented
	rng     *rand.Rand
	lim     session.Limits
	slots   [4]slot
	users   [3]string
	step    int
	trail   []string       // the last calls, for a failure's message
	answers map[string]int // how each kind of call was answered, for the log
}

// slot is one session of the model: its current key and, when live, its
// values and user.
type slot struct {
	key    string
	live   bool
	values map[string]string
	user   string
}

var (
	modelFields = []string{"a", "b", "c", "d", "e", "f"}
	modelValues = []string{"1", "-7", "22", `"x"`, `"ab"`, `"abcdef"`} // sizes that meet the limits often and exactly
)

func (m *model) pick(l []string) string { return l[m.rng.IntN(len(l))] }

// note records a call for the trail and counts its answer.
func (m *model) note(call, answer string) {
	m.trail = append(m.trail, fmt.Sprintf("#%d %s: %s", m.step, call, answer))
	if len(m.trail) > 8 {
		m.trail = m.trail[1:]
	}
	if m.answers == nil {
		m.answers = map[string]int{}
	}
	m.answers[call+": "+answer]++
}

// fits reports whether values are within the model's limits.
func (m *model) fits(values map[string]string) bool {
	n := 0
	for k, v := range values {
		n += len(k) + len(v)
	}
	return n <= m.lim.MaxSize && len(values) <= m.lim.MaxFields
}

// write draws a random delta.
func (m *model) write() session.Write {
	w := session.Write{Limits: m.lim, UserAgent: "ua", Clear: m.rng.IntN(6) == 0, BindUser: m.rng.IntN(3) == 0}
	// The Manager names the session's user in every write; only BindUser
	// makes it count.
	w.User = m.users[m.rng.IntN(len(m.users))]
	if m.rng.IntN(4) == 0 {
		w.User = ""
	}
	for range m.rng.IntN(3) {
		w.Del = append(w.Del, m.pick(modelFields))
	}
	if n := m.rng.IntN(3); n > 0 {
		w.Set = map[string]string{}
		for range n {
			w.Set[m.pick(modelFields)] = m.pick(modelValues)
		}
	}
	return w
}

// applied returns sl's values after w, as the contract orders it.
func applied(sl *slot, w session.Write) map[string]string {
	out := map[string]string{}
	if !w.Clear {
		maps.Copy(out, sl.values)
	}
	for _, k := range w.Del {
		delete(out, k)
	}
	for k, v := range w.Set {
		out[k] = string(v)
	}
	return out
}

// do makes one random call and checks its answer and the state after it.
func (m *model) do() {
	t, ctx := m.t, m.t.Context()
	i := m.rng.IntN(len(m.slots))
	sl := &m.slots[i]
	op := m.rng.IntN(10)
	if !sl.live && m.rng.IntN(3) > 0 {
		op = 0 // a dead slot is mostly created anew
	}
	switch {
	case op <= 1: // create
		w := m.write()
		w.Create, w.Key, w.Clear, w.Del = true, newKey(), false, nil
		w.User = m.users[m.rng.IntN(len(m.users))]
		if m.rng.IntN(3) == 0 {
			w.User = ""
		}
		ok, err := m.s.Save(ctx, w)
		want := applied(&slot{}, w)
		if !m.fits(want) {
			m.refused("create", ok, err)
			if _, found := load(t, m.s, w.Key); found {
				t.Errorf("model: a refused creation was stored")
			}
			break
		}
		m.note("create", "applied")
		if err != nil || !ok {
			t.Errorf("model: create within the limits = %v, %v; want true, nil", ok, err)
			break
		}
		if sl.live {
			m.destroy(sl) // the slot now follows the new session
		}
		*sl = slot{key: w.Key, live: true, values: want, user: w.User}
	case op <= 4: // update
		w := m.write()
		w.Key = sl.key
		ok, err := m.s.Save(ctx, w)
		m.checkWrite("update", sl, w, ok, err)
	case op == 5: // renew
		w := m.write()
		w.From, w.Key, w.Login = sl.key, newKey(), m.rng.IntN(2) == 0
		ok, err := m.s.Save(ctx, w)
		old := sl.key
		if m.checkWrite("renew", sl, w, ok, err) {
			sl.key = w.Key
			if _, found := load(t, m.s, old); found {
				t.Errorf("model: the key renewed away from is still live")
			}
		} else if _, found := load(t, m.s, w.Key); found {
			t.Errorf("model: a renewal that did not apply wrote its new key")
		}
	case op == 6: // destroy
		if err := m.s.Destroy(ctx, sl.key); err != nil {
			t.Errorf("model: Destroy: %v", err)
		}
		m.note("destroy", "done")
		sl.live = false
	case op == 7 && m.c != nil: // Incr
		field, n := m.pick(modelFields), int64(m.rng.IntN(2001)-1000)
		v, found, err := m.c.Incr(ctx, sl.key, field, n, m.lim)
		m.checkIncr(sl, field, n, v, found, err)
	case op == 8 && m.c != nil: // CompareAndSwap
		field, new := m.pick(modelFields), m.pick(modelValues)
		if m.rng.IntN(2) == 0 {
			new = modelValues[len(modelValues)-1] // the longest: meet the limits
		}
		var old []byte
		if cur, ok := sl.values[field]; ok && m.rng.IntN(2) == 0 {
			old = []byte(cur)
		} else if m.rng.IntN(2) == 0 {
			old = []byte(m.pick(modelValues))
		}
		swapped, found, err := m.c.CompareAndSwap(ctx, sl.key, field, old, []byte(new), m.lim)
		m.checkCAS(sl, field, old, new, swapped, found, err)
	case op == 9 && m.ix != nil: // DestroyUser
		user := m.users[m.rng.IntN(len(m.users))]
		keep := ""
		if m.rng.IntN(2) == 0 {
			keep = m.slots[m.rng.IntN(len(m.slots))].key
		}
		n, err := m.ix.DestroyUser(ctx, user, keep)
		want := 0
		for j := range m.slots {
			if o := &m.slots[j]; o.live && o.user == user && o.key != keep {
				o.live = false
				want++
			}
		}
		m.note("DestroyUser", strconv.Itoa(n))
		if err != nil || n != want {
			t.Errorf("model: DestroyUser = %d, %v; want %d, nil", n, err, want)
		}
	default:
		m.note("load", "-")
	}
	m.check()
}

// refused checks a write the limits must refuse.
func (m *model) refused(call string, ok bool, err error) {
	m.note(call, "too large")
	if ok || !errors.Is(err, session.ErrTooLarge) {
		m.t.Errorf("model: %s past the limits = %v, %v; want false and an error wrapping session.ErrTooLarge", call, ok, err)
	}
}

// checkWrite checks the answer to an update or renewal of sl, applies it
// to the model, and reports whether it applied.
func (m *model) checkWrite(call string, sl *slot, w session.Write, ok bool, err error) bool {
	if !sl.live {
		m.note(call, "not live")
		if err != nil || ok {
			m.t.Errorf("model: %s of a dead session = %v, %v; want false, nil", call, ok, err)
		}
		return false
	}
	want := applied(sl, w)
	if !m.fits(want) {
		m.refused(call, ok, err)
		return false
	}
	m.note(call, "applied")
	if err != nil || !ok {
		m.t.Errorf("model: %s within the limits = %v, %v; want true, nil", call, ok, err)
		return false
	}
	sl.values = want
	if w.BindUser {
		sl.user = w.User
	}
	return true
}

func (m *model) checkIncr(sl *slot, field string, n, v int64, found bool, err error) {
	t := m.t
	if !sl.live {
		m.note("Incr", "not live")
		if err != nil || found {
			t.Errorf("model: Incr of a dead session: found %v, err %v; want false, nil", found, err)
		}
		return
	}
	var cur int64
	if s, ok := sl.values[field]; ok {
		var perr error
		if cur, perr = strconv.ParseInt(s, 10, 64); perr != nil {
			m.note("Incr", "not an integer")
			if !found || !errors.Is(err, session.ErrNotInteger) {
				t.Errorf("model: Incr of %s: found %v, err %v; want an error wrapping session.ErrNotInteger", s, found, err)
			}
			return
		}
	}
	want := maps.Clone(sl.values)
	want[field] = strconv.FormatInt(cur+n, 10)
	if !m.fits(want) {
		m.note("Incr", "too large")
		if !found || !errors.Is(err, session.ErrTooLarge) {
			t.Errorf("model: Incr past the limits: found %v, err %v; want an error wrapping session.ErrTooLarge", found, err)
		}
		return
	}
	m.note("Incr", "applied")
	if err != nil || !found || v != cur+n {
		t.Errorf("model: Incr = %d, %v, %v; want %d, true, nil", v, found, err, cur+n)
		return
	}
	sl.values = want
}

func (m *model) checkCAS(sl *slot, field string, old []byte, new string, swapped, found bool, err error) {
	t := m.t
	if !sl.live {
		m.note("CompareAndSwap", "not live")
		if err != nil || found || swapped {
			t.Errorf("model: CompareAndSwap of a dead session = %v, %v, %v; want false, false, nil", swapped, found, err)
		}
		return
	}
	cur, ok := sl.values[field]
	if (old == nil && ok) || (old != nil && (!ok || cur != string(old))) {
		// No change: the limits do not apply, but a store may check them
		// before it compares.
		m.note("CompareAndSwap", "not swapped")
		if swapped || !found || (err != nil && !errors.Is(err, session.ErrTooLarge)) {
			t.Errorf("model: CompareAndSwap with the wrong old value = %v, %v, %v; want false, true, nil", swapped, found, err)
		}
		return
	}
	want := maps.Clone(sl.values)
	want[field] = new
	if !m.fits(want) {
		m.note("CompareAndSwap", "too large")
		if swapped || !found || !errors.Is(err, session.ErrTooLarge) {
			t.Errorf("model: CompareAndSwap past the limits = %v, %v, %v; want false, true and an error wrapping session.ErrTooLarge", swapped, found, err)
		}
		return
	}
	m.note("CompareAndSwap", "swapped")
	if err != nil || !found || !swapped {
		t.Errorf("model: CompareAndSwap = %v, %v, %v; want true, true, nil", swapped, found, err)
		return
	}
	sl.values = want
}

// destroy destroys sl's session in the store and the model.
func (m *model) destroy(sl *slot) {
	if err := m.s.Destroy(m.t.Context(), sl.key); err != nil {
		m.t.Errorf("model: Destroy: %v", err)
	}
	sl.live = false
}

// check compares every slot, and every user's index, with the store.
func (m *model) check() {
	t := m.t
	for i := range m.slots {
		sl := &m.slots[i]
		rec, found := load(t, m.s, sl.key)
		if found != sl.live {
			t.Errorf("model: slot %d: Load found = %v, want %v", i, found, sl.live)
			continue
		}
		if !found {
			continue
		}
		got := map[string]string{}
		for k, v := range rec.Values {
			got[k] = string(v)
		}
		if !maps.Equal(got, sl.values) {
			t.Errorf("model: slot %d: Values = %v, want %v", i, got, sl.values)
		}
		if rec.User != sl.user {
			t.Errorf("model: slot %d: User = %q, want %q", i, rec.User, sl.user)
		}
	}
	if m.ix == nil {
		return
	}
	for _, user := range m.users {
		var want []string
		for i := range m.slots {
			if sl := &m.slots[i]; sl.live && sl.user == user {
				want = append(want, sl.key)
			}
		}
		slices.Sort(want)
		if got := userKeys(t, m.s, user); !slices.Equal(got, want) {
			t.Errorf("model: UserSessions(%q) = %v, want %v", user, shorts(got), shorts(want))
		}
	}
}
