package main

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/stickless/stickless/session"
)

// incrAPI is POST /api/incr {"key": "clicks", "by": 1}: it adds by
// (default 1) to the integer under key in the logged-in user's session,
// atomically in the store (two instances incrementing together both
// count), and answers {"key": ..., "value": <the new value>}. It needs a
// login (401 otherwise); a value that is not an integer gets 409, a session
// ended meanwhile (logout or revoke elsewhere) 401, Redis down 503.
func (a *app) incrAPI(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Key string `json:"key"`
		By  *int64 `json:"by"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Key == "" {
		if tooLarge(err) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body over 64 KiB"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `the body must be {"key": "<name>", "by": <integer>}`})
		return
	}
	by := int64(1)
	if req.By != nil {
		by = *req.By
	}
	v, err := session.FromContext(r.Context()).Incr(r.Context(), req.Key, by)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, struct {
			Key   string `json:"key"`
			Value int64  `json:"value"`
		}{req.Key, v})
	case errors.Is(err, session.ErrNotInteger):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the value under this key is not an integer"})
	case errors.Is(err, session.ErrGone):
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login required"})
	default:
		session.Error(w, r, err)
	}
}
