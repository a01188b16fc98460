package blocking

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestNextIndex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		last, got, want uint64
		reset           bool
	}{
		{name: "first read", last: 0, got: 7, want: 7},
		{name: "unchanged", last: 7, got: 7, want: 7},
		{name: "forward", last: 7, got: 9, want: 9},
		{name: "backwards resets", last: 9, got: 3, want: 0, reset: true},
		{name: "zero resets", last: 9, got: 0, want: 0, reset: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, reset := NextIndex(tc.last, tc.got)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.reset, reset)
		})
	}
}

func TestBackoffIsCappedAndResets(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i := range 40 {
		d := b.Next()
		ceiling := min(b.Min<<min(i, 20), b.Max)
		assert.GreaterOrEqual(t, d, ceiling/2, "attempt %d", i)
		assert.LessOrEqual(t, d, ceiling, "attempt %d", i)
	}
	b.Reset()
	assert.LessOrEqual(t, b.Next(), b.Min)
}

func TestJitter(t *testing.T) {
	t.Parallel()
	assert.Zero(t, Jitter(0))
	for range 100 {
		d := Jitter(time.Second)
		assert.GreaterOrEqual(t, d, time.Second)
		assert.LessOrEqual(t, d, 1500*time.Millisecond)
	}
}

func TestSleepStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.False(t, Sleep(ctx, time.Hour))
	assert.True(t, Sleep(t.Context(), 0))
}
