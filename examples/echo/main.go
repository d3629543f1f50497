// Command echo is stickless with echo: echo.WrapMiddleware turns the
// session middleware into echo middleware, and handlers find the session
// in c.Request().Context().
package main

import (
	"crypto/rand"
	"log"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

func main() {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	key := make([]byte, 32) // production: the same key on every instance, from a secret store
	rand.Read(key)
	m := session.New(store, session.Config{Keys: [][]byte{key}, InsecureCookie: true}) // InsecureCookie: development only
	log.Println("listening on http://127.0.0.1:8000")
	log.Fatal(http.ListenAndServe("127.0.0.1:8000", newRouter(m)))
}

func newRouter(m *session.Manager) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.Use(echo.WrapMiddleware(m.Handler)) // every request gets its session
	e.POST("/login", login)
	e.POST("/logout", logout)
	api := e.Group("/api", requireUser())
	api.GET("/me", me)
	api.POST("/counter", count)
	return e
}

func sess(c echo.Context) *session.Session { return session.FromContext(c.Request().Context()) }

// login logs the user in. A real application checks a password first.
func login(c echo.Context) error {
	user := c.FormValue("user")
	if user == "" {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "user required"})
	}
	// Bind the user, with a new token against session fixation.
	if err := sess(c).Login(user); err != nil {
		session.Error(c.Response(), c.Request(), err) // 503 when the store cannot answer (Config.ErrorFunc)
		return nil
	}
	return c.JSON(http.StatusOK, map[string]string{"user": user})
}

func logout(c echo.Context) error {
	sess(c).Destroy()
	return c.NoContent(http.StatusNoContent)
}

// requireUser answers 401 JSON to requests without a logged-in user and 503
// when the store cannot answer.
func requireUser() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			s := sess(c)
			if err := s.Load(c.Request().Context()); err != nil {
				session.Error(c.Response(), c.Request(), err)
				return nil
			}
			if s.User() == "" {
				return c.JSON(http.StatusUnauthorized, map[string]string{"error": "login required"})
			}
			return next(c)
		}
	}
}

func me(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"user": sess(c).User()})
}

// count adds one to a counter in the session, atomically in the store.
func count(c echo.Context) error {
	n, err := sess(c).Incr(c.Request().Context(), "count", 1)
	if err != nil {
		session.Error(c.Response(), c.Request(), err)
		return nil
	}
	return c.JSON(http.StatusOK, map[string]int64{"count": n})
}
