package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/stickless/stickless/session"
)

func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	// The user bound at login, never a session value: values are the
	// client's to write.
	var user *string
	if u := s.User(); u != "" {
		user = &u
	}
	if err := s.Err(); err != nil {
		session.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		User     *string `json:"user"`
		Instance string  `json:"instance"`
	}{user, a.instance})
}

func (a *app) getSession(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	v := s.Values()
	if err := s.Err(); err != nil {
		session.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// reservedKeys are the session values that the login sets: the API may not
// write them, so that no client can forge its login time or confuse a
// reader of the session about who is logged in.
var reservedKeys = []string{"user_name", "login_time"}

// mergeSession merges the keys of a JSON object body into the session of a
// logged-in user (see requireAPI); keys not named are left as they are. It
// answers the whole session.
func (a *app) mergeSession(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if tooLarge(err) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body over 64 KiB"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "cannot read body"})
		return
	}
	var kv map[string]json.RawMessage
	if err := json.Unmarshal(body, &kv); err != nil || kv == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be a JSON object"})
		return
	}
	s := session.FromContext(r.Context())
	set := make(map[string][]byte, len(kv))
	for k, v := range kv {
		if k == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "empty key"})
			return
		}
		if slices.Contains(reservedKeys, k) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("the key %q is reserved: the login sets it; nothing was changed", k)})
			return
		}
		set[k] = v
	}
	if err := s.PutMany(set); err != nil {
		session.Error(w, r, err)
		return
	}
	if err := s.Commit(r.Context()); err != nil {
		session.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.Values())
}

type sessionJSON struct {
	Handle    string    `json:"handle"`
	Current   bool      `json:"current"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	UserAgent string    `json:"user_agent"`
}

func (a *app) listSessions(w http.ResponseWriter, r *http.Request) {
	list, err := session.FromContext(r.Context()).Sessions(r.Context())
	if err != nil {
		session.Error(w, r, err)
		return
	}
	out := make([]sessionJSON, 0, len(list))
	for _, in := range list {
		out = append(out, sessionJSON{in.Handle, in.Current, in.Created, in.LastSeen, in.UserAgent})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (a *app) revokeAPI(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Handle string `json:"handle"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		if tooLarge(err) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body over 64 KiB"})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `the body must be {"handle": "<session handle>"}`})
		return
	}
	s := session.FromContext(r.Context())
	ok, err := a.m.Revoke(r.Context(), s.User(), req.Handle)
	if err != nil {
		session.Error(w, r, err)
		return
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusNotFound
	}
	writeJSON(w, code, map[string]bool{"revoked": ok})
}
