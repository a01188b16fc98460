package childproc

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChildDiesWithParent: a parent (this test binary, re-run) starts a
// long sleep with Start and is then killed; the sleep goes too.
func TestChildDiesWithParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PR_SET_PDEATHSIG is Linux only")
	}
	if os.Getenv("CHILDPROC_PARENT") == "1" {
		child, err := Start(exec.Command("sleep", "60"))
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("child " + strconv.Itoa(child.Pid()) + "\n")
		select {} // wait to be killed
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithParent$", "-test.count=1", "-test.v")
	parent.Env = append(os.Environ(), "CHILDPROC_PARENT=1")
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	buf := make([]byte, 4096)
	var got strings.Builder
	for pid == 0 {
		n, err := out.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("parent ended before starting its child: %v; output %q", err, got.String())
		}
		for _, line := range strings.Split(got.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "child "); ok {
				pid, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
	}
	_ = parent.Process.Kill()
	_ = parent.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		// The child may linger as a zombie until init reaps it: look at its state.
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still running 30 s after its parent was killed", pid)
		}
		time.Sleep(20 * time.Millisecond) // another process: polling is all there is
	}
}

// TestStop: a process that ignores the signal is killed after the grace
// period; a second Stop, and a Stop after exit, return at once.
func TestStop(t *testing.T) {
	// The shell prints "ready" once TERM is ignored (a TERM before that
	// would only end it sooner), then becomes sleep, which inherits that.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("sh", "-c", "trap '' TERM; echo ready; exec sleep 60")
	cmd.Stdout = w
	p, err := Start(cmd)
	w.Close() // the child holds its own copy
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(r).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child printed %q (%v), want its ready line", line, err)
	}
	p.Stop(syscall.SIGTERM, 200*time.Millisecond)
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before the process exited")
	}
	if p.Err() == nil {
		t.Error("a killed process exited with status 0")
	}
	p.Stop(syscall.SIGTERM, time.Hour) // already exited: returns at once

	q, err := Start(exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	<-q.Done()
	if q.Err() != nil {
		t.Errorf("true: %v", q.Err())
	}
}
