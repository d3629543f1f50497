package session

// WatchState reports what m's watcher holds, for tests: the sessions
// watched, and whether its timer is set.
func WatchState(m *Manager) (keys int, timer bool) {
	m.watch.mu.Lock()
	defer m.watch.mu.Unlock()
	return len(m.watch.keys), m.watch.timer != nil
}
