package wasmhost

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClassifyEnd(t *testing.T) {
	t.Parallel()
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	trap := errors.New("wasm error: unreachable")
	tests := []struct {
		name     string
		ctx      context.Context
		exitErr  error
		instErr  error
		overflow bool
		want     guestEnd
	}{
		{"clean exit", live, nil, nil, false, endExited},
		{"instantiation error wins", gone, errTimeout, errors.New("bad import"), true, endNotStarted},
		{"output cap", gone, errResponseTooLarge, nil, false, endTooLarge},
		{"overflow without the cause", live, trap, nil, true, endTooLarge},
		{"timeout", gone, errTimeout, nil, false, endTimedOut},
		{"client gone", gone, context.Canceled, nil, false, endClientGone},
		{"trap", live, trap, nil, false, endFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, classifyEnd(tc.ctx, tc.exitErr, tc.instErr, tc.overflow))
		})
	}
}
