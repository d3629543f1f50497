package redisstore

import (
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"strings"

	"github.com/redis/rueidis"
)

// The layout of one session, a Redis hash at Prefix+"{"+key+"}":
//
//	_c   login time (creation, or the last Save with Login), Unix ms (Redis clock)
//	_a   absolute deadline, Unix ms
//	_i   idle deadline, Unix ms, never after _a
//	_s   last slide of the idle deadline, Unix ms
//	_u   user ("" = anonymous)
//	_ua  user agent
//	_r   "1": the cookie is remembered (persistent), else "0"
//	v:k  the value of session key k, as the Manager encoded it (JSON)
//
// The key's own expiry (PEXPIREAT) is always _i, so Redis drops an idle
// session by itself and no TTL outlives the absolute deadline: that is
// what lets Load be one plain HGETALL. The scripts read the time with
// TIME, so every deadline follows one clock, the Redis server's (Redis 5+
// replicates scripts by their effects, so TIME is safe). cmd/sessionctl
// reads the same layout.
const (
	fieldCreated   = "_c"
	fieldAbsolute  = "_a"
	fieldIdle      = "_i"
	fieldSeen      = "_s"
	fieldUser      = "_u"
	fieldUserAgent = "_ua"
	fieldRemember  = "_r"
	valuePrefix    = "v:"

	metaFields = 7 // the fields above, in every session hash (_r since the Remember option)
)

// The scripts, one .lua file each under lua/, with its KEYS/ARGV layout
// and its one reply shape in its header comment.
var (
	//go:embed lua/prelude.lua
	luaPrelude string
	//go:embed lua/save.lua
	luaSave string
	//go:embed lua/take.lua
	luaTake string
	//go:embed lua/incr.lua
	luaIncr string
	//go:embed lua/cas.lua
	luaCAS string
	//go:embed lua/destroy.lua
	luaDestroy string
	//go:embed lua/index_add.lua
	luaIndexAdd string
	//go:embed lua/prune.lua
	luaPrune string
)

var (
	// A retryable script is one whose second run, after a first one that
	// may or may not have happened, leaves the same state and answers the
	// same: rueidis sends it again, within the call's context, when the
	// connection broke under it (as on the first call after a Redis
	// restart). Save creates, updates or puts again the same delta;
	// Destroy finds nothing the second time; the index scripts are
	// idempotent. Incr would count twice, and CAS and Take would answer
	// wrong: they are not retried.
	scriptSave     = newScript(luaSave, true)
	scriptTake     = newScript(luaTake, false)
	scriptIncr     = newScript(luaIncr, false)
	scriptCAS      = newScript(luaCAS, false)
	scriptDestroy  = newScript(luaDestroy, true)
	scriptIndexAdd = newScript(luaIndexAdd, true)
	scriptPrune    = newScript(luaPrune, true)

	allScripts = []*script{scriptSave, scriptTake, scriptIncr, scriptCAS, scriptDestroy, scriptIndexAdd, scriptPrune}
)

// script is one Lua script (the prelude, then its file). A call alone
// goes through rueidis's own script support (rueidis.Lua.Exec: EVALSHA,
// then EVAL on NOSCRIPT, as after a Redis restart or on a new Cluster
// node). What rueidis.Lua lacks is a script call inside a pipeline with
// other commands (a session write and the WAIT that must follow it on the
// same connection, a creation and its index entry in one round trip):
// cmd builds the EVALSHA for such a pipeline and [pipeline] sends EVAL
// again for the calls that met NOSCRIPT.
type script struct {
	lua   *rueidis.Lua
	src   string
	sha   string
	retry bool
}

func newScript(body string, retry bool) *script {
	src := luaPrelude + "\n" + body
	sum := sha1.Sum([]byte(src))
	s := &script{src: src, sha: hex.EncodeToString(sum[:]), retry: retry}
	if retry {
		s.lua = rueidis.NewLuaScriptRetryable(src)
	} else {
		s.lua = rueidis.NewLuaScript(src)
	}
	return s
}

// run calls s alone: one round trip, two after a NOSCRIPT.
func (s *script) run(ctx context.Context, c rueidis.Client, keys []string, args ...string) rueidis.RedisResult {
	return s.lua.Exec(ctx, c, keys, args)
}

// cmd builds the EVALSHA (or, with full, the EVAL) call of s.
func (s *script) cmd(c rueidis.Client, full bool, keys []string, args []string) rueidis.Completed {
	var cmd rueidis.Completed
	if full {
		cmd = c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	} else {
		cmd = c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	if s.retry {
		cmd = cmd.ToRetryable()
	}
	return cmd
}

func noScript(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && (re.IsNoScript() || strings.HasPrefix(re.Error(), "NOSCRIPT"))
}

// call is one command of a pipeline: a script call, or a plain command
// (s == nil) that build makes (a command is built for each send: rueidis
// recycles a command once sent). wait marks the WAIT that guards the call
// before it.
type call struct {
	s     *script
	keys  []string
	args  []string
	build func(b rueidis.Builder) rueidis.Completed
	wait  bool
}

// pipeline sends the calls together (in Cluster, one batch per node; a
// batch with a WAIT goes on one dedicated connection) and returns their
// results in order; script calls that met NOSCRIPT are sent again with
// EVAL.
func pipeline(ctx context.Context, c rueidis.Client, calls ...call) []rueidis.RedisResult {
	if len(calls) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(calls))
	for i, x := range calls {
		if x.s != nil {
			cmds[i] = x.s.cmd(c, false, x.keys, x.args)
		} else {
			cmds[i] = x.build(c.B())
		}
	}
	res := c.DoMulti(ctx, cmds...)
	var again []int
	for i, r := range res {
		if calls[i].s != nil && noScript(r.Error()) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		// A WAIT that followed a NOSCRIPT waited for nothing; send it
		// again after the EVAL it guards.
		cmds = cmds[:0]
		var idx []int
		for _, i := range again {
			cmds = append(cmds, calls[i].s.cmd(c, true, calls[i].keys, calls[i].args))
			idx = append(idx, i)
			if i+1 < len(calls) && calls[i+1].wait {
				cmds = append(cmds, calls[i+1].build(c.B()))
				idx = append(idx, i+1)
			}
		}
		for j, r := range c.DoMulti(ctx, cmds...) {
			res[idx[j]] = r
		}
	}
	return res
}
