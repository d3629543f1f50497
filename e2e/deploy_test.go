package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

// TestClusterScript runs deploy/cluster.sh (what `make cluster` runs) on
// free ports in each Redis mode: it serves the demo through nginx
// round-robin over its instances, its Redis refuses a client without
// credentials (NOAUTH) while the instances, which have them, still serve,
// and a Ctrl-C (SIGINT to its process group, as a terminal sends it) stops
// every process it started.
func TestClusterScript(t *testing.T) {
	for _, b := range [][2]string{{"redis-server", "redis-server"}, {"redis-sentinel", "redis-sentinel"}, {"redis-cli", "redis-tools"}} {
		testenv.Require(t, b[0], b[1]) // else install-deps.sh would try apt
	}
	findNginx(t)
	bash := testenv.Require(t, "bash", "bash")
	for _, mode := range []string{"standalone", "sentinel", "cluster"} {
		t.Run(mode, func(t *testing.T) { testClusterScript(t, bash, mode) })
	}
}

func testClusterScript(t *testing.T, bash, mode string) {
	// The ports: nginx, Redis (six consecutive ones, and the same +10000
	// for the Cluster bus and +20000 for the Sentinels), and three
	// consecutive ones for i1..i3 and three for their metrics.
	httpPort, redisPort := testenv.FreePort(t), freeRedisRange(t)
	base := freeRange(t, 6) // i1..i3, then their metrics listeners
	state := t.TempDir()
	cmd := exec.Command(bash, filepath.Join(deployDir, "cluster.sh"))
	cmd.Env = append(os.Environ(),
		"STICKLESS_REDIS_MODE="+mode,
		"STICKLESS_HTTP_PORT="+strconv.Itoa(httpPort),
		"STICKLESS_REDIS_PORT="+strconv.Itoa(redisPort),
		"STICKLESS_APP_PORT_BASE="+strconv.Itoa(base),
		"STICKLESS_INSTANCES=3",
		"STICKLESS_STATE_DIR="+state,
		"STICKLESS_REDIS_URL=",
		"STICKLESS_PROMETHEUS=0", // TestClusterPrometheus covers it
		"STICKLESS_METRICS_PORT_BASE="+strconv.Itoa(base+3),
	)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, like a terminal job
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL) // whatever is left, also on failure
		if t.Failed() {
			t.Logf("cluster.sh output:\n%s", out.String())
			for _, f := range []string{"i1.log", "nginx-error.log"} {
				t.Log(tail(filepath.Join(state, "logs", f), 15))
			}
		}
	})

	url := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	err := testenv.Eventually(120*time.Second, 100*time.Millisecond, func() error {
		select {
		case err := <-done:
			t.Fatalf("cluster.sh exited before it was up: %v", err)
		default:
		}
		if !strings.Contains(out.String(), "stickless is up:  "+url) {
			return errors.New("cluster.sh does not say it is up yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Redis wants credentials: a client without them is refused...
	if got := redisAnonymous(t, redisPort, "PING"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("PING without credentials on the script's Redis: %q, want -NOAUTH", got)
	}
	// ...while the instances, which have them, serve.
	kim := newClient(t, "kim's browser")
	kim.login(t, url, "kim")
	served := make(map[string]bool)
	for range 6 {
		r := kim.mustGet(t, url+"/")
		if r.Code != 200 || !strings.Contains(r.Body, greeting("kim")) {
			t.Fatalf("GET / through the script's nginx: %v", r)
		}
		served[r.Header.Get("X-Instance")] = true
	}
	if len(served) != 3 {
		t.Errorf("6 requests served by %v, want i1, i2 and i3", served)
	}
	for _, f := range []string{"secrets", "redis-admin-password", "redis-password"} {
		st, err := os.Stat(filepath.Join(state, f))
		if err != nil {
			t.Errorf("no %s in the state directory: %v", f, err)
		} else if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if mode == "standalone" {
		pw, err := os.ReadFile(filepath.Join(state, "redis-admin-password"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(pw)), "\n")
		if got := redisConfigGet(t, redisPort, "admin", lines[len(lines)-1], "appendonly"); got != "yes" {
			t.Errorf("the Redis of cluster.sh (deploy/redis.conf): appendonly %q, want yes", got)
		}
	}
	members := groupMembers(pgid)
	t.Logf("processes in the script's group while up: %d", len(members))

	// Ctrl-C.
	stopped := time.Now()
	syscall.Kill(-pgid, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("cluster.sh still running 30 s after SIGINT")
	}
	t.Logf("cluster.sh stopped everything %v after SIGINT", timeSince(stopped))
	if left := groupMembers(pgid); len(left) > 0 {
		t.Errorf("processes left running after Ctrl-C: %v", left)
	}
	for _, p := range []int{httpPort, redisPort, base, base + 1, base + 2} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still accepts connections after Ctrl-C", p)
		}
	}
	if !strings.Contains(out.String(), "stopped;") {
		t.Errorf("cluster.sh did not say it stopped")
	}
}

// redisAnonymous sends one command without credentials to the Redis on
// port and returns the first line of its reply, speaking RESP itself.
func redisAnonymous(t *testing.T, port int, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "*1\r\n$%d\r\n%s\r\n", len(cmd), cmd)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimRight(line, "\r\n")
}

// redisConfigGet asks the Redis on port for one CONFIG GET parameter, as
// user, speaking RESP itself.
func redisConfigGet(t *testing.T, port int, user, password, param string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "*3\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(user), user, len(password), password)
	fmt.Fprintf(c, "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(param), param)
	r := bufio.NewReader(c)
	// +OK, then *2, $len, name, $len, value
	var lines []string
	for range 6 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v (read %q)", param, err, lines)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
	}
	if lines[0] != "+OK" || lines[1] != "*2" {
		t.Fatalf("AUTH, CONFIG GET %s: reply %q", param, lines)
	}
	return lines[5]
}

// freeRedisRange returns a port p such that p..p+5, their Cluster bus
// ports (+10000) and the Sentinel ports p+20000..p+20002 were free a
// moment ago, all below the ephemeral range (where an outgoing connection
// could take one meanwhile).
func freeRedisRange(t *testing.T) int {
	t.Helper()
	free := func(p int) bool {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
	for p := 7400 + 7*(os.Getpid()%100); p < 12000; p += 7 {
		ok := true
		for i := 0; i < 6 && ok; i++ {
			ok = free(p+i) && free(p+i+10000)
		}
		for i := 0; i < 3 && ok; i++ {
			ok = free(p + 20000 + i)
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free range of Redis ports")
	return 0
}

// freeRange returns the first of n consecutive free ports, below the
// kernel's ephemeral range (32768 and up): a port picked there can be taken,
// between the check and the use, by any outgoing connection of the tests
// that run meanwhile.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	free := func(p int) bool {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
	// 12100 to 17000: clear of freeRedisRange's 7400-12000, 17400-22000
	// and 27400-32000.
	for p := 12100 + n*(os.Getpid()%500); p+n < 17000; p += n {
		ok := true
		for i := 0; i < n && ok; i++ {
			ok = free(p + i)
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// groupMembers lists the live processes (not zombies) of process group
// pgid, as "pid command", from /proc.
func groupMembers(pgid int) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		// pid (comm) state ppid pgrp ...
		i := strings.LastIndexByte(line, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(line[i+1:])
		if len(fields) < 3 || fields[0] == "Z" {
			continue
		}
		if g, _ := strconv.Atoi(fields[2]); g == pgid {
			out = append(out, fmt.Sprintf("%d %s", pid, line[strings.IndexByte(line, '(')+1:i]))
		}
	}
	return out
}
