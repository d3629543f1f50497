package redisstore

import (
	"cmp"
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// The scripts, one .lua file each under lua/, with its KEYS/ARGV layout
// and its one reply shape in its header comment; each runs after the
// prelude. The layout they read and write is internal/redislayout's.
//
//go:embed lua
var luaFiles embed.FS

// rueidis sends a retryable script again, within its call's context, when
// the connection broke under it (as after a Redis restart): one whose
// second run leaves the same state (a creation's key reaches no client
// before the call returns; an update's delta; a destroy; the index).
// Incr would count twice, and CAS, Take and Renew would answer wrong.
var (
	scriptCreate   = newScript("create", true)
	scriptUpdate   = newScript("update", true)
	scriptRenew    = newScript("renew", false)
	scriptTake     = newScript("take", false)
	scriptIncr     = newScript("incr", false)
	scriptCAS      = newScript("cas", false)
	scriptDestroy  = newScript("destroy", true)
	scriptIndexAdd = newScript("index_add", true)
	scriptPrune    = newScript("prune", true)

	allScripts = []*script{scriptCreate, scriptUpdate, scriptRenew, scriptTake, scriptIncr, scriptCAS,
		scriptDestroy, scriptIndexAdd, scriptPrune}
)

// script is one Lua script: the prelude, then its file. Every script is
// loaded on every server when the store connects, so that calls are
// EVALSHA; a server that lost it (after a restart, or a new Cluster node)
// answers NOSCRIPT, and the call is sent again as EVAL.
type script struct {
	src   string
	sha   string
	retry bool
}

func newScript(name string, retry bool) *script {
	prelude, err1 := luaFiles.ReadFile("lua/prelude.lua")
	body, err2 := luaFiles.ReadFile("lua/" + name + ".lua")
	if err := cmp.Or(err1, err2); err != nil {
		panic(err) // a mistake in this package: caught by every test
	}
	src := string(prelude) + "\n" + string(body)
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:]), retry: retry}
}

// cmd builds the EVALSHA (or, with full, the EVAL) call of s.
func (s *script) cmd(b rueidis.Builder, full bool, keys []string, args []string) rueidis.Completed {
	var cmd rueidis.Completed
	if full {
		cmd = b.Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	} else {
		cmd = b.Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	if s.retry {
		cmd = cmd.ToRetryable()
	}
	return cmd
}

// run calls s alone: one round trip, two after a NOSCRIPT.
func (s *script) run(ctx context.Context, c rueidis.CommandClient, keys []string, args ...string) rueidis.RedisResult {
	res := c.Do(ctx, s.cmd(c.B(), false, keys, args))
	if noScript(res.Error()) {
		res = c.Do(ctx, s.cmd(c.B(), true, keys, args))
	}
	return res
}

func noScript(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && (re.IsNoScript() || strings.HasPrefix(re.Error(), "NOSCRIPT"))
}

// call is one command of a pipeline: a script call, or a command that
// build makes for each send (rueidis recycles a command once sent). wait
// marks the WAIT that guards the call before it.
type call struct {
	s     *script
	keys  []string
	args  []string
	build func(b rueidis.Builder) rueidis.Completed
	wait  bool
}

// pipeline sends the calls together (in Cluster, rueidis sends one batch
// per node) and returns their results in order; script calls that met
// NOSCRIPT are sent again with EVAL, each followed by the WAIT that
// guarded it.
func pipeline(ctx context.Context, c rueidis.CommandClient, calls ...call) []rueidis.RedisResult {
	if len(calls) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(calls))
	for i, x := range calls {
		if x.s != nil {
			cmds[i] = x.s.cmd(c.B(), false, x.keys, x.args)
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
		cmds = cmds[:0]
		var idx []int
		for _, i := range again {
			cmds = append(cmds, calls[i].s.cmd(c.B(), true, calls[i].keys, calls[i].args))
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

// reply is a script's reply of the form {code, ...}, checked for its
// shape, so that a reply of another shape is an error, never a panic.
type reply []rueidis.RedisMessage

// parseReply returns the array reply of res, which must have at least n
// elements and an integer first.
func parseReply(res rueidis.RedisResult, n int) (reply, error) {
	arr, err := res.ToArray()
	if err != nil {
		return nil, err
	}
	if len(arr) < n {
		return nil, fmt.Errorf("unexpected script reply of %d elements, want %d", len(arr), n)
	}
	if _, err := arr[0].AsInt64(); err != nil {
		return nil, fmt.Errorf("unexpected script reply: %w", err)
	}
	return reply(arr), nil
}

// code, int and str read elements; missing or of another type: zero.
func (r reply) code() int64 { return r.int(0) }

func (r reply) int(i int) (n int64) {
	if i < len(r) {
		n, _ = r[i].AsInt64()
	}
	return n
}

func (r reply) str(i int) (s string) {
	if i < len(r) {
		s, _ = r[i].ToString()
	}
	return s
}
