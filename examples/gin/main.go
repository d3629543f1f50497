// Command gin is stickless with gin. gin has no adapter for net/http
// middleware, so the session middleware wraps the whole engine (which is
// an http.Handler), and handlers find the session in c.Request.Context().
package main

import (
	"crypto/rand"
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
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
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.POST("/login", login)
	r.POST("/logout", logout)
	api := r.Group("/api", requireUser())
	api.GET("/me", me)
	api.POST("/counter", count)
	return m.Handler(r) // every request gets its session
}

func sess(c *gin.Context) *session.Session { return session.FromContext(c.Request.Context()) }

// login logs the user in. A real application checks a password first.
func login(c *gin.Context) {
	user := c.PostForm("user")
	if user == "" {
		c.JSON(http.StatusBadRequest, gin.H{"error": "user required"})
		return
	}
	// Bind the user, with a new token against session fixation.
	if err := sess(c).Login(user); err != nil {
		session.Error(c.Writer, c.Request, err) // 503 when the store cannot answer (Config.ErrorFunc)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": user})
}

func logout(c *gin.Context) {
	sess(c).Destroy()
	c.Status(http.StatusNoContent)
}

// requireUser answers 401 JSON to requests without a logged-in user and 503
// when the store cannot answer.
func requireUser() gin.HandlerFunc {
	return func(c *gin.Context) {
		s := sess(c)
		if err := s.Load(c.Request.Context()); err != nil {
			session.Error(c.Writer, c.Request, err)
			c.Abort()
			return
		}
		if s.User() == "" {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "login required"})
			return
		}
		c.Next()
	}
}

func me(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"user": sess(c).User()})
}

// count adds one to a counter in the session, atomically in the store.
func count(c *gin.Context) {
	n, err := sess(c).Incr(c.Request.Context(), "count", 1)
	if err != nil {
		session.Error(c.Writer, c.Request, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"count": n})
}
