// Package childproc runs child processes (Traefik, whiskers subcommands
// started by tests and the demo) that are tied to the process that starts
// them, so that a test binary killed at its timeout or a demo killed with
// SIGKILL does not leave them running, and that stop the same way: a
// signal, a grace period, then SIGKILL.
package childproc

import (
	"fmt"
	"os"
	"os/exec"
	"time"
)

// Process is a started child process. Its one goroutine, which waits for
// the process, ends when the process exits; Stop makes sure it does.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit error, once done is closed
}

// Start starts cmd so that it is killed when the process that started it
// dies (on Linux through PR_SET_PDEATHSIG; elsewhere it is only started).
//
// Linux sends that signal when the OS thread that forked the child exits;
// the Go runtime keeps its threads for the life of the process unless a
// goroutine exits while locked to one, which this code base does not do.
func Start(cmd *exec.Cmd) (*Process, error) {
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process exited (nil for status 0); valid once Done is
// closed.
func (p *Process) Err() error { return p.err }

// Stop sends sig, waits up to grace for the process to exit, then kills it
// and waits. It returns at once if the process has already exited, and may
// be called more than once.
func (p *Process) Stop(sig os.Signal, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
