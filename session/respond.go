package session

import "net/http"

// Unavailable writes the answer the middleware gives when the store cannot
// answer: 503 with Retry-After (Config.RetryAfter) and a plain message that
// never carries the store's own error text. Handlers call it when a call
// such as [Manager.RevokeAll] fails with ErrStoreUnavailable.
func (m *Manager) Unavailable(w http.ResponseWriter) { m.unavailable(w) }
