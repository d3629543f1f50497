// Package redistest starts real Redis servers for tests: a standalone
// server, a Redis Cluster, or a master and replica watched by Sentinels.
// Each runs on free 127.0.0.1 ports in a t.TempDir(), writes its log there,
// and is killed by t.Cleanup, also when the test fails; on Linux the kernel
// also kills it when the test binary dies without cleaning up.
//
// The package talks RESP2 to the servers itself and needs no Redis client
// library. A missing redis-server skips the test with a message naming the
// Debian package to install, or fails it when STICKLESS_REQUIRE_SERVERS=1
// (see [testenv.Require]).
//
// Functions and methods that take a testing.TB report failure with
// t.Fatalf, so they must be called from the test's own goroutine; [Server.Call]
// returns errors instead and may be used from any goroutine.
package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

// Bounds on every wait of the package. A server that does not answer PING
// within StartTimeout of being started, or does not exit within
// StopTimeout, fails the test with its log.
const (
	StartTimeout = 20 * time.Second
	StopTimeout  = 20 * time.Second
	// DoTimeout bounds each [Server.Do], from dial to reply.
	DoTimeout = 5 * time.Second
)

// Options configures a server started by [Standalone]. The zero value gives
// a server without persistence or password.
type Options struct {
	// AOF turns on the append-only file with appendfsync always, so that a
	// restart after Stop, and even after Kill, keeps every acknowledged
	// write. Default: off, and no RDB snapshots either.
	AOF bool
	// Password, when not empty, is set as requirepass (the default user's
	// password); [Server.Do] and friends authenticate with it. Default: none.
	Password string
	// ExtraConfig holds raw redis.conf lines appended after the package's
	// own, so they override them. Default: none.
	ExtraConfig []string
}

// Server is one redis-server (or redis-sentinel) process started by this
// package. Its fields are set once it has started and do not change, even
// across Stop and Start. A Server's methods are safe for concurrent use,
// but those that take a testing.TB must run on the test's goroutine.
type Server struct {
	Addr       string // "127.0.0.1:port"
	Port       int
	Dir        string // the working directory: config, log, AOF, nodes.conf
	Password   string // the requirepass, or ""
	ConfigFile string // the redis.conf the server was started with
	LogFile    string // the server's own log file

	name      string   // "redis-server" or "redis-sentinel", for messages
	bin       string   // the binary to run
	extraArgs []string // arguments after the config file
	outFile   string   // stdout and stderr of the process

	mu       sync.Mutex
	proc     *process // nil when not running
	paused   bool
	logShown bool // a failure message already carries the log
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
}

// spec says how to launch a new server.
type spec struct {
	name      string
	bin       string
	extraArgs []string
	dir       string
	password  string
	config    func(port int) []string // the config file's lines for port
	pickPort  func(testing.TB) int
}

var errPortInUse = errors.New("port already in use")

// Standalone starts a redis-server on a free 127.0.0.1 port, in a fresh
// t.TempDir(), and waits until it answers PING. The server binds 127.0.0.1
// only, keeps protected-mode on, saves no RDB snapshot and, unless
// opts.AOF, persists nothing. It is killed when the test ends. Standalone
// skips the test when redis-server is missing (see [testenv.Require]) and
// fails it, with the server's log, when the server does not come up within
// [StartTimeout].
func Standalone(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := testenv.Require(t, "redis-server", "redis-server")
	dir := t.TempDir()
	return launch(t, spec{
		name:     "redis-server",
		bin:      bin,
		dir:      dir,
		password: opts.Password,
		config: func(port int) []string {
			return redisConfig(dir, port, opts)
		},
		pickPort: testenv.FreePort,
	})
}

// redisConfig returns the lines of a redis.conf for a server of this
// package.
func redisConfig(dir string, port int, opts Options) []string {
	lines := []string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"protected-mode yes",
		"daemonize no",
		"dir " + quote(dir),
		"logfile " + quote(filepath.Join(dir, "redis.log")),
		`save ""`,
	}
	if opts.AOF {
		lines = append(lines, "appendonly yes", "appendfsync always")
	} else {
		lines = append(lines, "appendonly no")
	}
	if opts.Password != "" {
		lines = append(lines, "requirepass "+quote(opts.Password))
	}
	return append(lines, opts.ExtraConfig...)
}

// quote quotes s for a redis.conf line.
func quote(s string) string { return strconv.Quote(s) }

// launch starts a new server as sp says, retrying with another port when
// the one picked was taken in the meantime, and registers its cleanup.
func launch(t testing.TB, sp spec) *Server {
	t.Helper()
	s := &Server{
		Dir:        sp.dir,
		Password:   sp.password,
		ConfigFile: filepath.Join(sp.dir, "redis.conf"),
		LogFile:    filepath.Join(sp.dir, logName(sp.name)),
		name:       sp.name,
		bin:        sp.bin,
		extraArgs:  sp.extraArgs,
		outFile:    filepath.Join(sp.dir, "stdout.log"),
	}
	t.Cleanup(func() { s.cleanup(t) })
	for attempt := 1; ; attempt++ {
		s.Port = sp.pickPort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		conf := strings.Join(sp.config(s.Port), "\n") + "\n"
		if err := os.WriteFile(s.ConfigFile, []byte(conf), 0o600); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.mu.Lock()
		err := s.startLocked()
		s.mu.Unlock()
		if err == nil {
			return s
		}
		if errors.Is(err, errPortInUse) && attempt < 5 {
			t.Logf("redistest: %s: port %d taken, trying another", s.name, s.Port)
			continue
		}
		s.logShown = true
		t.Fatalf("redistest: %s on %s: %v\n%s", s.name, s.Addr, err, s.logTail(40))
	}
}

func logName(name string) string {
	if name == "redis-sentinel" {
		return "sentinel.log"
	}
	return "redis.log"
}

// startLocked starts the process and waits until it answers PING. On
// failure the process is gone when it returns. s.mu must be held.
func (s *Server) startLocked() error {
	out, err := os.OpenFile(s.outFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(s.bin, append([]string{s.ConfigFile}, s.extraArgs...)...)
	cmd.Dir = s.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	s.proc = p
	s.paused = false
	if err := s.waitReady(p); err != nil {
		s.killLocked()
		if logHas(s.LogFile, "Address already in use") || logHas(s.outFile, "Address already in use") {
			return fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return err
	}
	return nil
}

// waitReady waits until the process p answers PING with PONG and says it
// is p (so that a stranger on the same port is never taken for it).
func (s *Server) waitReady(p *process) error {
	deadline := time.Now().Add(StartTimeout)
	pid := strconv.Itoa(p.cmd.Process.Pid)
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited during start-up (%v)", p.cmd.ProcessState)
		default:
		}
		last = s.probe(pid)
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", StartTimeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) probe(pid string) error {
	c, err := dial(s.Addr, s.Password, time.Now().Add(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.do("PING")
	if err != nil {
		return err
	}
	if r.Kind != KindStatus || r.Str != "PONG" {
		return fmt.Errorf("PING: %v", r)
	}
	r, err = c.do("INFO", "server")
	if err != nil {
		return err
	}
	if got := parseInfo(r.Str)["process_id"]; got != pid {
		return fmt.Errorf("another process (pid %q, not %s) answers on %s", got, pid, s.Addr)
	}
	return nil
}

func logHas(path, needle string) bool {
	b, _ := os.ReadFile(path)
	return bytes.Contains(b, []byte(needle))
}

// signalGroup sends sig to the server's process group (the server and any
// child it forked). s.mu must be held and the server running.
func (s *Server) signalGroup(sig syscall.Signal) {
	if err := syscall.Kill(-s.proc.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		// Fall back to the process alone.
		s.proc.cmd.Process.Signal(sig)
	}
}

// killLocked SIGCONTs and SIGKILLs the process group and waits for the
// process to be reaped. s.mu must be held. It returns an error when the
// process is still there after StopTimeout.
func (s *Server) killLocked() error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.signalGroup(syscall.SIGCONT)
	s.signalGroup(syscall.SIGKILL)
	s.proc = nil
	s.paused = false
	select {
	case <-p.done:
		return nil
	case <-time.After(StopTimeout):
		return fmt.Errorf("pid %d survived SIGKILL for %v", p.cmd.Process.Pid, StopTimeout)
	}
}

func (s *Server) cleanup(t testing.TB) {
	s.mu.Lock()
	err := s.killLocked()
	shown := s.logShown
	s.mu.Unlock()
	if err != nil {
		t.Errorf("redistest: %s on %s: %v", s.name, s.Addr, err)
	}
	if t.Failed() && !shown && s.Addr != "" {
		t.Logf("redistest: %s on %s, last lines of its log:\n%s", s.name, s.Addr, s.logTail(15))
	}
}

// logTail returns the last n lines of the server's log and of its
// stdout/stderr, for failure messages.
func (s *Server) logTail(n int) string {
	var b strings.Builder
	for _, f := range []string{s.LogFile, s.outFile} {
		data, err := os.ReadFile(f)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&b, "--- %s (last %d lines)\n%s\n", f, len(lines), strings.Join(lines, "\n"))
	}
	if b.Len() == 0 {
		return "(no log)"
	}
	return b.String()
}

// Log returns the last n lines of the server's log file and of its
// stdout/stderr, labelled by file, for a test's own failure messages.
func (s *Server) Log(n int) string { return s.logTail(n) }

// URL returns "redis://127.0.0.1:port", with ":password@" before the host
// when the server has a password.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr}
	if s.Password != "" {
		u.User = url.UserPassword("", s.Password)
	}
	return u.String()
}

// Running reports whether the server's process is running (paused counts
// as running).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Stop stops the server gracefully with SIGTERM (Redis then flushes its
// AOF) and waits for it to exit; a paused server is resumed first. Stopping
// a stopped server does nothing. Stop fails the test, after a SIGKILL, when
// the server has not exited within [StopTimeout].
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return
	}
	s.signalGroup(syscall.SIGCONT)
	s.paused = false
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		s.signalGroup(syscall.SIGKILL) // any child left behind
		s.proc = nil
	case <-time.After(StopTimeout):
		s.killLocked()
		t.Fatalf("redistest: %s on %s ignored SIGTERM for %v\n%s", s.name, s.Addr, StopTimeout, s.logTail(40))
	}
}

// Kill kills the server (and any child it forked) with SIGKILL, as a crash
// would, and waits for it to be gone. Killing a stopped server does
// nothing.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.killLocked(); err != nil {
		t.Fatalf("redistest: %s on %s: %v", s.name, s.Addr, err)
	}
}

// Start starts a stopped or killed server again on the same port, with the
// same directory and config file (so it reloads its AOF), and waits until
// it answers PING. It fails the test when the server is running or does not
// come up within [StartTimeout].
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		t.Fatalf("redistest: %s on %s: Start while running", s.name, s.Addr)
	}
	if err := s.startLocked(); err != nil {
		t.Fatalf("redistest: %s on %s: restart: %v\n%s", s.name, s.Addr, err, s.logTail(40))
	}
}

// Restart is Stop followed by Start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

// Pause freezes the server with SIGSTOP, as a hung Redis: connections are
// still accepted by the kernel but nothing answers. It fails the test when
// the server is not running. Cleanup, Stop and Kill resume it first.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		t.Fatalf("redistest: %s on %s: Pause while not running", s.name, s.Addr)
	}
	s.signalGroup(syscall.SIGSTOP)
	s.paused = true
}

// Resume lets a paused server go on with SIGCONT. Resuming a server that
// is not paused does nothing.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || !s.paused {
		return
	}
	s.signalGroup(syscall.SIGCONT)
	s.paused = false
}

// Call sends one command on a fresh connection (authenticated when the
// server has a password) and returns its reply. The whole exchange is
// bounded by timeout. An error reply from Redis is a [Reply] of
// [KindError] with a nil error; err reports dial, I/O, timeout and AUTH
// failures. Call is safe for concurrent use from any goroutine.
func (s *Server) Call(timeout time.Duration, args ...string) (Reply, error) {
	c, err := dial(s.Addr, s.Password, time.Now().Add(timeout))
	if err != nil {
		return Reply{}, err
	}
	defer c.Close()
	return c.do(args...)
}

// Do sends one command like [Server.Call] with a [DoTimeout] bound and
// fails the test when no reply came. A Redis error reply is returned, not
// a failure: check it with [Reply.Err].
func (s *Server) Do(t testing.TB, args ...string) Reply {
	t.Helper()
	r, err := s.Call(DoTimeout, args...)
	if err != nil {
		t.Fatalf("redistest: %s on %s: %s: %v", s.name, s.Addr, strings.Join(args, " "), err)
	}
	return r
}

// DoOK sends one command like [Server.Do] and fails the test unless the
// reply is not an error.
func (s *Server) DoOK(t testing.TB, args ...string) Reply {
	t.Helper()
	r := s.Do(t, args...)
	if err := r.Err(); err != nil {
		t.Fatalf("redistest: %s on %s: %s: %v", s.name, s.Addr, strings.Join(args, " "), err)
	}
	return r
}

// Info returns the fields of INFO section (all default sections when
// section is "") as a map, e.g. Info(t, "replication")["role"].
func (s *Server) Info(t testing.TB, section string) map[string]string {
	t.Helper()
	args := []string{"INFO"}
	if section != "" {
		args = append(args, section)
	}
	return parseInfo(s.DoOK(t, args...).Str)
}

// parseInfo parses INFO output into field → value; section headers and
// blank lines are skipped.
func parseInfo(text string) map[string]string {
	m := make(map[string]string)
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// CommandStats returns the number of calls of each command since the
// server started or since the last [Server.ResetStats], from INFO
// commandstats, keyed by lower-case command name as Redis names them
// ("hset", "evalsha", "fcall", "client|setinfo", "config|resetstat").
// Commands never called are absent (count 0).
//
// The counts include the harness's own commands: each call to CommandStats
// adds one "info" seen by the next one, ResetStats leaves one
// "config|resetstat", and on a server with a password every Do, Call,
// CommandStats and ResetStats adds one "auth". Use [OwnCommands] to leave
// them out of a sum.
func (s *Server) CommandStats(t testing.TB) map[string]int64 {
	t.Helper()
	return parseCommandStats(s.DoOK(t, "INFO", "commandstats").Str)
}

// OwnCommands lists the command names that the harness's own
// bookkeeping issues between a ResetStats and a CommandStats (see
// [Server.CommandStats]). Keys and FlushAll add "scan" and "flushall",
// which are left out here because a store may use them too.
var OwnCommands = []string{"info", "config|resetstat", "auth"}

// SumCalls returns the total of stats, leaving out the names in except
// (for example [OwnCommands]).
func SumCalls(stats map[string]int64, except ...string) int64 {
	var n int64
	for name, c := range stats {
		if !slices.Contains(except, name) {
			n += c
		}
	}
	return n
}

func parseCommandStats(text string) map[string]int64 {
	out := make(map[string]int64)
	for k, v := range parseInfo(text) {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for field := range strings.SplitSeq(v, ",") {
			if calls, ok := strings.CutPrefix(field, "calls="); ok {
				n, err := strconv.ParseInt(calls, 10, 64)
				if err == nil {
					out[strings.ToLower(name)] = n
				}
			}
		}
	}
	return out
}

// ResetStats resets the server's statistics (CONFIG RESETSTAT), including
// the counts of [Server.CommandStats].
func (s *Server) ResetStats(t testing.TB) {
	t.Helper()
	s.DoOK(t, "CONFIG", "RESETSTAT")
}

// Keys returns every key of database 0, sorted, found with SCAN … COUNT
// 1000 (never KEYS).
func (s *Server) Keys(t testing.TB) []string {
	t.Helper()
	return s.scan(t, "*")
}

// KeysMatching returns the keys of database 0 that match the glob pattern,
// sorted, found with SCAN … MATCH pattern COUNT 1000.
func (s *Server) KeysMatching(t testing.TB, pattern string) []string {
	t.Helper()
	return s.scan(t, pattern)
}

func (s *Server) scan(t testing.TB, pattern string) []string {
	t.Helper()
	seen := make(map[string]bool)
	cursor := "0"
	for {
		r := s.DoOK(t, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
		if r.Kind != KindArray || len(r.Elems) != 2 {
			t.Fatalf("redistest: %s on %s: unexpected SCAN reply %v", s.name, s.Addr, r)
		}
		for _, k := range r.Elems[1].Strings() {
			seen[k] = true
		}
		cursor = r.Elems[0].Str
		if cursor == "0" {
			break
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// FlushAll deletes every key of every database (FLUSHALL).
func (s *Server) FlushAll(t testing.TB) {
	t.Helper()
	s.DoOK(t, "FLUSHALL")
}
