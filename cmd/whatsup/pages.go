package main

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stickless/stickless/session"
)

// maxName is the longest user name accepted, in characters.
const maxName = 64

type pageData struct {
	Instance string
	User     string
	Next     string
	Error    string
	Name     string
	Sessions []session.Info
	Now      time.Time
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	// The user bound at login (RequireLogin let only those in), not the
	// user_name value.
	s := session.FromContext(r.Context())
	a.render(w, http.StatusOK, "home.html", pageData{Instance: a.instance, User: s.User()})
}

func (a *app) loginForm(w http.ResponseWriter, r *http.Request) {
	next := session.LocalPath(r.URL.Query().Get("next"), "/")
	d := pageData{Instance: a.instance, Next: next}
	if r.URL.Query().Get("reauth") == "1" {
		d.Error = "Please log in again to confirm: this action needs a recent login."
	}
	a.render(w, http.StatusOK, "login.html", d)
}

// validName checks a user name: 1 to 64 printable characters.
func validName(name string) string {
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return "The name is not valid text."
	case strings.TrimSpace(name) == "":
		return "Please type a name."
	case n > maxName:
		return "The name is too long: 64 characters at most."
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return "The name may hold printable characters only."
		}
	}
	return ""
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	name := r.PostForm.Get("name")
	next := session.LocalPath(r.PostForm.Get("next"), "/")
	if msg := validName(name); msg != "" {
		a.render(w, http.StatusBadRequest, "login.html", pageData{Instance: a.instance, Next: next, Error: msg, Name: name})
		return
	}
	s := session.FromContext(r.Context())
	// Bind the user, with a new token against session fixation; a login of
	// another user drops the previous user's values.
	err := errors.Join(s.Login(name), s.RememberMe(r.PostFormValue("remember") == "on"),
		s.Put("user_name", name), s.Put("login_time", time.Now().UTC()))
	if err == nil {
		err = s.Commit(r.Context())
	}
	if err != nil {
		session.Error(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	err := s.Destroy()
	if err == nil {
		err = s.Commit(r.Context())
	}
	if err != nil {
		session.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (a *app) sessionsPage(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	list, err := s.Sessions(r.Context())
	if err != nil {
		session.Error(w, r, err)
		return
	}
	a.render(w, http.StatusOK, "sessions.html", pageData{Instance: a.instance, User: s.User(), Sessions: list, Now: time.Now()})
}

func (a *app) revokeForm(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	s := session.FromContext(r.Context())
	if _, err := a.m.Revoke(r.Context(), s.User(), r.PostForm.Get("handle")); err != nil {
		session.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}

// logoutOthers ends every session of the user but this one (ASVS 3.3.3).
// It answers JSON to scripts that ask for it and goes back to the session
// list.
func (a *app) logoutOthers(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	n, err := a.m.RevokeOthers(r.Context(), s.User(), s.Handle())
	if err != nil {
		session.Error(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
		return
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}

// logoutEverywhere ends every session of the user, this one included. It
// answers JSON to scripts that ask for it and redirects browsers to /login.
func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	s := session.FromContext(r.Context())
	wantsJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	user := s.User()
	if err := s.Err(); err != nil {
		session.Error(w, r, err)
		return
	}
	n := 0
	if user != "" {
		var err error
		if n, err = a.m.RevokeAll(r.Context(), user); err != nil {
			session.Error(w, r, err)
			return
		}
	}
	if err := s.Destroy(); err != nil {
		session.Error(w, r, err)
		return
	}
	if wantsJSON {
		code := http.StatusOK
		if user == "" {
			code = http.StatusUnauthorized
		}
		writeJSON(w, code, map[string]int{"revoked": n})
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// parseForm parses the form body, or answers 413 (over 64 KiB) or 400 and
// reports false.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	err := r.ParseForm()
	switch {
	case err == nil:
		return true
	case tooLarge(err):
		http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
	default:
		http.Error(w, "400 bad form", http.StatusBadRequest)
	}
	return false
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
