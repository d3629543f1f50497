package contender

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/redis/rueidis"
)

// rawRueidis is rawRedis written with rueidis, the client redisstore uses
// (auto-pipelining: concurrent calls share connections and round trips):
// one GET of one JSON blob per session to read, GET and SET of the whole
// blob to write, no signature, no expiry slide, no check. It is the limit
// for a Redis session store on this client: what stickless's reads and
// writes are measured against.
type rawRueidis struct {
	c rueidis.Client
}

const rawRueidisCookie = "rawr_session"

func newRawRueidis(ctx context.Context, addr string) (*rawRueidis, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		c.Close()
		return nil, err
	}
	return &rawRueidis{c: c}, nil
}

func (c *rawRueidis) Middleware(next http.Handler) http.Handler { return next }
func (c *rawRueidis) Close() error                              { c.c.Close(); return nil }

func (c *rawRueidis) Open(w http.ResponseWriter, r *http.Request) (Session, error) {
	s := &rawRueidisSession{c: c, w: w, r: r}
	if ck, err := r.Cookie(rawRueidisCookie); err == nil && len(ck.Value) == 64 {
		s.token = ck.Value
	}
	return s, nil
}

type rawRueidisSession struct {
	c      *rawRueidis
	w      http.ResponseWriter
	r      *http.Request
	token  string
	loaded bool
	values map[string]string
	newTok bool
}

func (s *rawRueidisSession) load() error {
	if s.loaded {
		return nil
	}
	s.loaded = true
	s.values = map[string]string{}
	if s.token == "" {
		return nil
	}
	c := s.c.c
	b, err := c.Do(s.r.Context(), c.B().Get().Key("rawr:"+s.token).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		s.token = ""
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &s.values); err != nil {
		s.values = map[string]string{}
	}
	return nil
}

func (s *rawRueidisSession) Get(key string) (string, bool, error) {
	if err := s.load(); err != nil {
		return "", false, err
	}
	v, ok := s.values[key]
	return v, ok, nil
}

func (s *rawRueidisSession) Set(key, v string) error {
	if err := s.load(); err != nil {
		return err
	}
	s.values[key] = v
	return nil
}

func (s *rawRueidisSession) Login(string) error {
	if err := s.load(); err != nil {
		return err
	}
	if s.token != "" {
		c := s.c.c
		if err := c.Do(s.r.Context(), c.B().Del().Key("rawr:"+s.token).Build()).Error(); err != nil {
			return err
		}
	}
	s.token, s.newTok = newRawToken(), true
	return nil
}

func (s *rawRueidisSession) Save() error {
	if s.token == "" {
		s.token, s.newTok = newRawToken(), true
	}
	b, err := json.Marshal(s.values)
	if err != nil {
		return err
	}
	c := s.c.c
	cmd := c.B().Set().Key("rawr:" + s.token).Value(rueidis.BinaryString(b)).Ex(rawTTL).Build()
	if err := c.Do(s.r.Context(), cmd).Error(); err != nil {
		return err
	}
	if s.newTok {
		http.SetCookie(s.w, &http.Cookie{Name: rawRueidisCookie, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return nil
}
