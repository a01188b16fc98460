package cluster

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/whiskers-dev/whiskers/internal/childproc"
	"github.com/whiskers-dev/whiskers/internal/syncbuf"
)

// TestWaitUpAgentExited: an agent whose process has exited (a port taken,
// say) fails the wait at once, not when its deadline passes, and the error
// says what the agent printed last.
func TestWaitUpAgentExited(t *testing.T) {
	t.Parallel()
	c := &Cluster{logs: &syncbuf.Buffer{}}
	a := &Agent{Name: "worker-9", ns: true, c: c}
	cmd := exec.Command("sh", "-c", "echo 'error starting agent: bind: address already in use'; exit 1")
	c.wire(cmd, a.Name)
	var err error
	a.proc, err = childproc.Start(cmd)
	require.NoError(t, err)
	<-a.proc.Done()

	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	err = a.waitUp(ctx)
	require.ErrorIs(t, err, ErrExited)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "worker-9: error starting agent: bind: address already in use")
}
