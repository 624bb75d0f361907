package main

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one daemon process, restartable under the same name; every
// incarnation appends to the same log.
type proc struct {
	name, bin, logPath string
	args, env          []string
	// listen is the replica's HTTP address (for /readyz and /metrics), kept
	// across restarts; "" when it serves none.
	listen string

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{} // closed when cmd has exited
	err       error         // cmd.Wait's result, once done
	since     time.Time     // when the current incarnation was started
	incarnate int
}

func (p *proc) start() error {
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.incarnate++
	fmt.Fprintf(f, "=== %s: incarnation %d starts at %s\n", p.name, p.incarnate, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a ^C at the terminal reaches the harness, which
	// kills the daemons, not the daemons directly. Pdeathsig kills a daemon if
	// the harness dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	since := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.since, p.err = cmd, done, since, nil
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// current returns the running incarnation's command and done channel.
func (p *proc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

func (p *proc) exited() bool {
	_, done := p.current()
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

func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *proc) signal(sig syscall.Signal) {
	cmd, _ := p.current()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// kill sends SIGKILL and waits (boundedly) for the exit; a no-op when nothing
// runs.
func (p *proc) kill() {
	cmd, done := p.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// wait waits up to d for the current incarnation to exit with status 0; past d
// it kills it and says so.
func (p *proc) wait(d time.Duration) error {
	_, done := p.current()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		if err := p.exitErr(); err != nil {
			return fmt.Errorf("exited with %v", err)
		}
		return nil
	case <-time.After(d):
		p.kill()
		return fmt.Errorf("did not exit within %s; killed", d)
	}
}

// startedAt returns when the current incarnation started.
func (p *proc) startedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.since
}
