package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopTimeout bounds how long [Proc.Stop] waits for a process to exit after
// SIGTERM before it sends SIGKILL, and then again for SIGKILL to take.
const StopTimeout = 10 * time.Second

// Proc is one child process of a test, a benchmark or `make cluster`: a
// server (redis-server, nginx, a whatsup instance, prometheus) run in its own
// process group, with its stdout and stderr appended to LogFile. On Linux
// the kernel kills it when the parent dies without stopping it (a test
// timeout, a crash, a SIGKILL of make cluster).
//
// It is the one process supervisor of the repository: internal/redistest,
// internal/topology, e2e and bench all start their processes through it.
// Set the exported fields before the first Start; a Proc's methods are safe
// for concurrent use. A Proc can be started again after it stopped or died,
// with the same command line.
type Proc struct {
	Name    string   // for messages, e.g. "i2" or "nginx"
	Path    string   // the binary
	Args    []string // its arguments
	Dir     string   // its working directory; "" is the caller's
	Env     []string // its environment; nil is the caller's
	LogFile string   // where its stdout and stderr go (appended, 0600)

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil when not running
	done   chan struct{} // closed when cmd.Wait returned
	paused bool
}

// Start starts the process; it does not wait for it to be ready. It fails
// when the process is running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s: start while running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	f, err := os.OpenFile(p.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy
	fmt.Fprintf(f, "=== %s: start %s %s\n", time.Now().Format("15:04:05.000"), p.Path, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Dir = p.Dir
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	p.cmd, p.done, p.paused = cmd, done, false
	return nil
}

// Pid returns the process id, or 0 when the process is not running.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process was started, has not been stopped and
// has not exited by itself (a paused process is running).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Exited reports whether the process was started and has exited by itself.
func (p *Proc) Exited() bool {
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

// Done returns a channel closed when the current process exits, or nil when
// none was started.
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// signal sends sig to the process group, falling back to the process
// alone. p.mu must be held and the process started.
func (p *Proc) signal(sig syscall.Signal) {
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		p.cmd.Process.Signal(sig)
	}
}

// Signal sends sig to the process group, for faults other than those of
// the methods below. It does nothing when the process is not running.
func (p *Proc) Signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.signal(sig)
	}
}

// halt sends sig to the process group (after SIGCONT, so that a paused
// process can act on it), waits up to StopTimeout for the process to exit
// and SIGKILLs it after that. A process that is not running is left alone.
// It returns an error when sig was ignored.
func (p *Proc) halt(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	cmd, done := p.cmd, p.done
	p.cmd, p.paused = nil, false
	pid := cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGCONT)
	syscall.Kill(-pid, sig)
	if sig != syscall.SIGKILL {
		cmd.Process.Signal(sig)
	}
	select {
	case <-done:
		syscall.Kill(-pid, syscall.SIGKILL) // a child left behind
		return nil
	case <-time.After(StopTimeout):
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(StopTimeout):
		return fmt.Errorf("%s: pid %d survived SIGKILL for %v", p.Name, pid, StopTimeout)
	}
	return fmt.Errorf("%s: pid %d ignored %v for %v: killed", p.Name, pid, sig, StopTimeout)
}

// Stop stops the process gracefully with SIGTERM and waits for it to exit,
// SIGKILLing it after [StopTimeout]. It returns an error when SIGTERM was
// ignored. Stopping a stopped process does nothing.
func (p *Proc) Stop() error { return p.halt(syscall.SIGTERM) }

// Kill kills the process (and its group) with SIGKILL, as a crash would,
// and waits for it to be gone.
func (p *Proc) Kill() error { return p.halt(syscall.SIGKILL) }

// Pause freezes the process group with SIGSTOP: connections are still
// accepted by the kernel but nothing answers. Stop and Kill resume it
// first.
func (p *Proc) Pause() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return fmt.Errorf("%s: pause while not running", p.Name)
	}
	p.signal(syscall.SIGSTOP)
	p.paused = true
	return nil
}

// Resume lets a paused process go on with SIGCONT. It does nothing when the
// process is not paused.
func (p *Proc) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.paused {
		p.signal(syscall.SIGCONT)
		p.paused = false
	}
}

// Paused reports whether the process is paused by [Proc.Pause].
func (p *Proc) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.paused
}

// WaitReady calls probe every 25 ms until it returns nil, the process
// exits, or timeout passes; the error then says which, with the last
// probe's error.
func (p *Proc) WaitReady(timeout time.Duration, probe func() error) error {
	deadline := time.Now().Add(timeout)
	done := p.Done()
	for {
		select {
		case <-done:
			return fmt.Errorf("%s exited during start-up", p.Name)
		default:
		}
		err := probe()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w", p.Name, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// LogHas reports whether the process's log file contains s.
func (p *Proc) LogHas(s string) bool { return FileHas(p.LogFile, s) }

// Tail returns the last n lines of the process's log, labelled.
func (p *Proc) Tail(n int) string { return Tail(p.LogFile, n) }

// FileHas reports whether the file contains s.
func FileHas(file, s string) bool {
	b, _ := os.ReadFile(file)
	return strings.Contains(string(b), s)
}

// Tail returns the last n lines of a file, labelled with its name, for
// failure messages.
func Tail(file string, n int) string {
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
