package childproc

import (
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
// long sleep with DieWithParent and is then killed; the sleep goes too.
func TestChildDiesWithParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PR_SET_PDEATHSIG is Linux only")
	}
	if os.Getenv("CHILDPROC_PARENT") == "1" {
		cmd := exec.Command("sleep", "60")
		DieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("child " + strconv.Itoa(cmd.Process.Pid) + "\n")
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
