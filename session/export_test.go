package session

// WatchState reports what m's watcher holds, for tests: the sessions
// watched, and whether its timer is set.
func WatchState(m *Manager) (keys int, timer bool) {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	return len(m.watch.keys), m.watch.timer != nil
}

// StoreKey returns the store key of the session whose cookie value is v,
// as m verifies it, for tests that reach into the store; "" when m does
// not accept v.
func StoreKey(m *Manager, v string) string {
	t, _, _, ok := m.codec.decode(v)
	if !ok {
		return ""
	}
	return t.Key()
}
