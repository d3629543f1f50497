package main

import (
	"strconv"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/topology"
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
	idx := s.call("ZRANGE", "stickless:user:{"+user+"}", "0", "-1")
	for _, key := range idx.Strings() {
		c := s.call("HGET", "stickless:{"+key+"}", "_c")
		ms, err := strconv.ParseInt(c.Str, 10, 64)
		if err != nil {
			continue
		}
		if d := created.Sub(time.UnixMilli(ms)); d >= 0 && d < time.Second {
			return true
		}
	}
	return false
}
