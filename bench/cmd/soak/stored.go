package main

import (
	"time"

	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/topology"
	"github.com/stickless/stickless/redisstore"
)

// storage looks into Redis as the admin user, to tell a session that is
// really gone from one that an instance only read as missing.
type storage struct {
	topo *topology.Topology
}

// call sends a command to the master that holds key: every master is
// asked, the one that owns the slot answers (others answer MOVED).
func (s *storage) call(args ...string) redistest.Reply {
	for _, m := range s.topo.Masters() {
		r, err := m.Call(2*time.Second, args...)
		if err == nil && r.Err() == nil {
			return r
		}
	}
	return redistest.Reply{}
}

// stillStored reports whether Redis still holds a session of user created
// in the second before created, the time its login was acknowledged (the
// user's other device logs in only after that, so its session is not
// taken for this one).
func (s *storage) stillStored(user string, created time.Time) bool {
	idx := s.call("ZRANGE", redislayout.UserKey(redisstore.DefaultPrefix, user), "0", "-1")
	for _, key := range idx.Strings() {
		m := s.call("HGET", redislayout.SessionKey(redisstore.DefaultPrefix, key), redislayout.MetaField)
		md, err := redislayout.ParseMeta(m.Str)
		if err != nil {
			continue
		}
		if d := created.Sub(time.UnixMilli(md.Created)); d >= 0 && d < time.Second {
			return true
		}
	}
	return false
}
