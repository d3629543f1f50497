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
//
// Programs (make cluster, the soak; through internal/topology) use the
// same servers without a testing.TB: [StartStandalone], [StartSentinel],
// [StartCluster], and the methods ending in Err; they stop what they start
// with Close. Every process runs under internal/testenv.Proc.
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
	// User, when not empty (with a Password), turns the default user off
	// and creates this ACL user with Password and every permission instead
	// of requirepass; [Server.Do] and friends authenticate as it. Add
	// narrower users with ExtraConfig lines. Default: "" (requirepass).
	User string
	// Include, when not empty, is a redis.conf that the server's config
	// includes first (for example the shipped deploy/redis.conf), so that
	// the package's own lines (port, bind, dir, logfile, persistence) and
	// ExtraConfig override it. Default: none.
	Include string
	// ExtraConfig holds raw redis.conf lines appended after the package's
	// own, so they override them. Default: none.
	ExtraConfig []string
	// Port, when not zero, is the server's port instead of a free one. In a
	// Sentinel set or a Cluster it is the first data server's port and the
	// others take the next ones (masters first, then replicas); Sentinel i
	// listens on Port+20000+i (26390 for 6390, as 26379 is to 6379).
	// Default: 0 (free ports).
	Port int
}

// portPicker returns a port picker: port when not zero, else pick.
func portPicker(port int, pick func() (int, error)) func() (int, error) {
	if port == 0 {
		return pick
	}
	return func() (int, error) { return port, nil }
}

// Server is one redis-server (or redis-sentinel) process started by this
// package. Its fields are set once it has started and do not change, even
// across Stop and Start. A Server's methods are safe for concurrent use,
// but those that take a testing.TB must run on the test's goroutine.
type Server struct {
	Addr       string // "127.0.0.1:port"
	Port       int
	Dir        string // the working directory: config, log, AOF, nodes.conf
	User       string // the ACL user of the harness's own calls, or "" (default user)
	Password   string // the requirepass or User's password, or ""
	ConfigFile string // the redis.conf the server was started with
	LogFile    string // the server's own log file

	name      string   // "redis-server" or "redis-sentinel", for messages
	bin       string   // the binary to run
	extraArgs []string // arguments after the config file
	outFile   string   // stdout and stderr of the process

	mu       sync.Mutex
	proc     *testenv.Proc // its process, stopped or running
	logShown bool          // a failure message already carries the log
}

// spec says how to launch a new server.
type spec struct {
	name      string
	bin       string
	extraArgs []string
	dir       string
	user      string
	password  string
	config    func(port int) []string // the config file's lines for port
	pickPort  func() (int, error)
	fixedPort int // the port asked for, or 0 (then a busy port is retried)
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
	testenv.Require(t, "redis-server", "redis-server")
	s, err := StartStandalone(t.TempDir(), opts)
	return registered(t, s, err)
}

// StartStandalone is [Standalone] for programs: it starts the server in dir
// (which must exist) and returns it, or an error with the end of its log.
// The caller stops it ([Server.Close]).
func StartStandalone(dir string, opts Options) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redistest: redis-server not found; install it: apt-get install -y redis-server")
	}
	return launchErr(spec{
		name:     "redis-server",
		bin:      bin,
		dir:      dir,
		user:     opts.User,
		password: opts.Password,
		config: func(port int) []string {
			return redisConfig(dir, port, opts)
		},
		pickPort:  portPicker(opts.Port, testenv.FreePortErr),
		fixedPort: opts.Port,
	})
}

// registered turns the result of a Start function into a test's server:
// it fails the test on err and kills the server when the test ends.
func registered(t testing.TB, s *Server, err error) *Server {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cleanup(t) })
	return s
}

// redisConfig returns the lines of a redis.conf for a server of this
// package.
func redisConfig(dir string, port int, opts Options) []string {
	var lines []string
	if opts.Include != "" {
		lines = append(lines, "include "+quote(opts.Include))
	}
	lines = append(lines,
		"port "+strconv.Itoa(port),
		"bind 127.0.0.1",
		"protected-mode yes",
		"daemonize no",
		"dir "+quote(dir),
		"logfile "+quote(filepath.Join(dir, "redis.log")),
		`save ""`,
	)
	switch {
	case opts.AOF:
		lines = append(lines, "appendonly yes", "appendfsync always")
	case opts.Include == "":
		lines = append(lines, "appendonly no")
		// else the included file decides.
	}
	lines = append(lines, authConfig(opts.User, opts.Password)...)
	return append(lines, opts.ExtraConfig...)
}

// authConfig returns the config lines that make the harness's own
// credentials work: requirepass for the default user, or the default user
// off and an all-powerful ACL user.
func authConfig(user, password string) []string {
	switch {
	case password == "":
		return nil
	case user == "":
		return []string{"requirepass " + quote(password)}
	}
	return []string{
		// Off: nobody can authenticate as default, so a client without
		// credentials gets NOAUTH. Its rights stay whole on purpose: Redis
		// 7.0 replays an AOF as a client of the default user, and re-checks
		// the ACL of each command of a MULTI/EXEC (as scripts are written
		// to the AOF) at EXEC; with no rights every transaction fails to
		// load ("-NOPERM ACLs rules changed between the moment the
		// transaction was accumulated and the EXEC") and its writes are
		// lost at the next restart. TestACLUserAOF shows it.
		"user default off resetpass ~* &* +@all",
		"user " + user + " on " + quote(">"+password) + " ~* &* +@all",
	}
}

// quote quotes s for a redis.conf line.
func quote(s string) string { return strconv.Quote(s) }

// launchErr starts a new server as sp says, retrying with another port
// when the one picked was taken in the meantime. On failure nothing is left
// running and the error carries the end of the server's log.
func launchErr(sp spec) (*Server, error) {
	s := &Server{
		Dir:        sp.dir,
		User:       sp.user,
		Password:   sp.password,
		ConfigFile: filepath.Join(sp.dir, "redis.conf"),
		LogFile:    filepath.Join(sp.dir, logName(sp.name)),
		name:       sp.name,
		bin:        sp.bin,
		extraArgs:  sp.extraArgs,
		outFile:    filepath.Join(sp.dir, "stdout.log"),
	}
	for attempt := 1; ; attempt++ {
		port, err := sp.pickPort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		s.proc = &testenv.Proc{
			Name:    sp.name + " " + s.Addr,
			Path:    s.bin,
			Args:    append([]string{s.ConfigFile}, s.extraArgs...),
			Dir:     s.Dir,
			LogFile: s.outFile,
		}
		conf := strings.Join(sp.config(s.Port), "\n") + "\n"
		if err := os.WriteFile(s.ConfigFile, []byte(conf), 0o600); err != nil {
			return nil, fmt.Errorf("redistest: %v", err)
		}
		s.mu.Lock()
		err = s.startLocked()
		s.mu.Unlock()
		if err == nil {
			return s, nil
		}
		if errors.Is(err, errPortInUse) && attempt < 5 && sp.fixedPort == 0 {
			continue
		}
		s.logShown = true
		return nil, fmt.Errorf("redistest: %s on %s: %v\n%s", s.name, s.Addr, err, s.logTail(40))
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
	if err := s.proc.Start(); err != nil {
		return err
	}
	pid := strconv.Itoa(s.proc.Pid())
	if err := s.proc.WaitReady(StartTimeout, func() error { return s.probe(pid) }); err != nil {
		s.proc.Kill()
		if logHas(s.LogFile, "Address already in use") || logHas(s.outFile, "Address already in use") {
			return fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return err
	}
	return nil
}

func (s *Server) probe(pid string) error {
	c, err := dial(s.Addr, s.User, s.Password, time.Now().Add(time.Second))
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

// killLocked SIGKILLs the process group and waits for the process to be
// reaped. s.mu must be held. It returns an error when the process is still
// there after StopTimeout.
func (s *Server) killLocked() error {
	if s.proc == nil {
		return nil
	}
	return s.proc.Kill()
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

// URL returns "redis://127.0.0.1:port", with ":password@" (or
// "user:password@") before the host when the server has a password.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr}
	if s.Password != "" {
		u.User = url.UserPassword(s.User, s.Password)
	}
	return u.String()
}

// Pid returns the server's process id, or 0 when it is not running.
func (s *Server) Pid() int { return s.proc.Pid() }

// Running reports whether the server's process is running (paused counts
// as running).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.Running()
}

// Stop stops the server gracefully with SIGTERM (Redis then flushes its
// AOF) and waits for it to exit; a paused server is resumed first. Stopping
// a stopped server does nothing. Stop fails the test, after a SIGKILL, when
// the server has not exited within [StopTimeout].
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.StopErr(); err != nil {
		t.Fatal(err)
	}
}

// StopErr is [Server.Stop] for programs: it returns the failure.
func (s *Server) StopErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.proc.Stop(); err != nil {
		s.logShown = true
		return fmt.Errorf("redistest: %s on %s: %v\n%s", s.name, s.Addr, err, s.logTail(40))
	}
	return nil
}

// Kill kills the server (and any child it forked) with SIGKILL, as a crash
// would, and waits for it to be gone. Killing a stopped server does
// nothing.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.KillErr(); err != nil {
		t.Fatal(err)
	}
}

// KillErr is [Server.Kill] for programs: it returns the failure.
func (s *Server) KillErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.killLocked(); err != nil {
		return fmt.Errorf("redistest: %s on %s: %v", s.name, s.Addr, err)
	}
	return nil
}

// Close kills the server like [Server.KillErr]; programs defer it.
func (s *Server) Close() error { return s.KillErr() }

// Start starts a stopped or killed server again on the same port, with the
// same directory and config file (so it reloads its AOF), and waits until
// it answers PING. It fails the test when the server is running or does not
// come up within [StartTimeout].
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.StartErr(); err != nil {
		t.Fatal(err)
	}
}

// StartErr is [Server.Start] for programs: it returns the failure.
func (s *Server) StartErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc.Running() {
		return fmt.Errorf("redistest: %s on %s: Start while running", s.name, s.Addr)
	}
	if err := s.startLocked(); err != nil {
		s.logShown = true
		return fmt.Errorf("redistest: %s on %s: restart: %v\n%s", s.name, s.Addr, err, s.logTail(40))
	}
	return nil
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
	if err := s.PauseErr(); err != nil {
		t.Fatal(err)
	}
}

// PauseErr is [Server.Pause] for programs: it returns the failure.
func (s *Server) PauseErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.proc.Pause(); err != nil {
		return fmt.Errorf("redistest: %v", err)
	}
	return nil
}

// Resume lets a paused server go on with SIGCONT. Resuming a server that
// is not paused does nothing.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.ResumeErr()
}

// ResumeErr is [Server.Resume] for programs.
func (s *Server) ResumeErr() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc.Resume()
}

// Call sends one command on a fresh connection (authenticated when the
// server has a password) and returns its reply. The whole exchange is
// bounded by timeout. An error reply from Redis is a [Reply] of
// [KindError] with a nil error; err reports dial, I/O, timeout and AUTH
// failures. Call is safe for concurrent use from any goroutine.
func (s *Server) Call(timeout time.Duration, args ...string) (Reply, error) {
	c, err := dial(s.Addr, s.User, s.Password, time.Now().Add(timeout))
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
