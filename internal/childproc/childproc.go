// Package childproc ties child processes (Traefik, whiskers subcommands
// started by tests and the demo) to the process that starts them, so that a
// test binary killed at its timeout or a demo killed with SIGKILL does not
// leave them running.
package childproc

import "os/exec"

// DieWithParent arranges for cmd, once started, to be killed when the
// process that started it dies (on Linux through PR_SET_PDEATHSIG; a no-op
// elsewhere). Call it before cmd.Start.
//
// Linux sends the signal when the OS thread that forked the child exits;
// the Go runtime keeps its threads for the life of the process unless a
// goroutine exits while locked to one, which this code base does not do.
func DieWithParent(cmd *exec.Cmd) { dieWithParent(cmd) }
