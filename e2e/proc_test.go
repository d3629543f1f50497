package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds on the waits of the harness.
const (
	startTimeout = 20 * time.Second // until a process answers
	stopTimeout  = 10 * time.Second // SIGTERM to exit, then SIGKILL
)

// proc is one child process of a test (a whatsup instance or nginx), with
// its stdout and stderr appended to logFile. Its methods are safe for
// concurrent use.
type proc struct {
	name    string
	path    string
	args    []string
	dir     string
	logFile string

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when not running
	done chan struct{} // closed when cmd.Wait returned
}

// start starts the process; it does not wait for it to be ready.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s: start while running", p.name)
	}
	f, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy
	fmt.Fprintf(f, "=== %s e2e: start %s %s\n", time.Now().Format("15:04:05.000"), p.path, strings.Join(p.args, " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// exited reports whether the process was started and has exited by itself.
func (p *proc) exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// halt sends sig to the process group, waits up to stopTimeout for the
// process to exit and SIGKILLs it after that. A stopped process is left
// alone. It returns an error when SIGTERM was ignored.
func (p *proc) halt(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	pid := cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGCONT)
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		cmd.Process.Signal(sig)
	}
	select {
	case <-done:
		syscall.Kill(-pid, syscall.SIGKILL) // a child left behind
		return nil
	case <-time.After(stopTimeout):
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s: pid %d survived SIGKILL for %v", p.name, pid, stopTimeout)
	}
	return fmt.Errorf("%s: pid %d ignored %v for %v: killed", p.name, pid, sig, stopTimeout)
}

// stop stops the process gracefully (SIGTERM).
func (p *proc) stop() error { return p.halt(syscall.SIGTERM) }

// kill kills the process as a crash would (SIGKILL).
func (p *proc) kill() error { return p.halt(syscall.SIGKILL) }

// waitHTTP polls url until it answers 200, the process exits, or
// startTimeout passes.
func (p *proc) waitHTTP(url string) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(startTimeout)
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s exited during start-up", p.name)
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v", p.name, startTimeout, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// logHas reports whether the log file contains s.
func logHas(file, s string) bool {
	b, _ := os.ReadFile(file)
	return strings.Contains(string(b), s)
}

// tail returns the last n lines of a file, labelled, for failure output.
func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Sprintf("--- %s: %v\n", file, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- %s (last %d lines)\n%s\n", file, len(lines), strings.Join(lines, "\n"))
}
