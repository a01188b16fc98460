package blocking

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// answer is what a scripted query returns.
type answer struct {
	index uint64
	err   error
}

// TestRunIndexRules scripts the answers of a blocking query and checks the
// index each query was asked with and which answers were handed on. The
// rules are Consul's (developer.hashicorp.com/consul/api-docs/features/blocking).
func TestRunIndexRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		answers     []answer
		wantAsked   []uint64 // the index of each query
		wantHanded  []uint64 // the index of each answer handed on
		changedErrs map[uint64]error
	}{
		{
			name:       "first read does not block, then the index is passed back",
			answers:    []answer{{index: 5}, {index: 5}, {index: 7}},
			wantAsked:  []uint64{0, 5, 5},
			wantHanded: []uint64{5, 7},
		},
		{
			name:       "an index that went backwards resets to 0 and is read again",
			answers:    []answer{{index: 9}, {index: 3}, {index: 3}, {index: 4}},
			wantAsked:  []uint64{0, 9, 0, 3},
			wantHanded: []uint64{9, 3, 3, 4},
		},
		{
			name:       "an index of 0 is taken as 1: the next query blocks",
			answers:    []answer{{index: 0}, {index: 0}, {index: 2}},
			wantAsked:  []uint64{0, 1, 1},
			wantHanded: []uint64{0, 2},
		},
		{
			name:       "after a failed query the next does not block",
			answers:    []answer{{index: 9}, {err: errors.New("down")}, {index: 2}, {index: 2}},
			wantAsked:  []uint64{0, 9, 0, 2},
			wantHanded: []uint64{9, 2},
		},
		{
			name:        "a failed handling counts as a failed query",
			answers:     []answer{{index: 4}, {index: 4}, {index: 6}},
			changedErrs: map[uint64]error{4: errors.New("bad answer")},
			wantAsked:   []uint64{0, 0, 4},
			wantHanded:  []uint64{4, 4, 6},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var asked, handed []uint64
			fails := tc.changedErrs
			fetch := func(ctx context.Context, index uint64, wait time.Duration) (uint64, uint64, error) {
				asked = append(asked, index)
				if len(asked) > len(tc.answers) {
					cancel()
					<-ctx.Done()
					return 0, 0, ctx.Err()
				}
				a := tc.answers[len(asked)-1]
				return a.index, a.index, a.err
			}
			changed := func(_ context.Context, idx uint64) error {
				handed = append(handed, idx)
				if err := fails[idx]; err != nil {
					delete(fails, idx) // once
					return err
				}
				return nil
			}
			l := Loop{Name: "test", Wait: time.Minute, MinInterval: time.Microsecond, MinBackoff: time.Microsecond,
				MaxBackoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
			Run(ctx, l, fetch, changed)
			assert.Equal(t, tc.wantAsked, asked[:len(tc.answers)])
			assert.Equal(t, tc.wantHanded, handed)
		})
	}
}

// TestRunWatchdog: a query that does not answer within its wait and grace
// is cancelled and asked again, and the error says so.
func TestRunWatchdog(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var errs []error
	calls := 0
	fetch := func(ctx context.Context, index uint64, wait time.Duration) (struct{}, uint64, error) {
		calls++
		if calls == 2 {
			cancel()
		}
		<-ctx.Done() // hangs until the watchdog (or the end) cancels it
		return struct{}{}, 0, ctx.Err()
	}
	l := Loop{Name: "hung", Wait: time.Millisecond, Grace: time.Millisecond, MinBackoff: time.Microsecond,
		MaxBackoff: time.Microsecond, Logger: slog.New(slog.DiscardHandler),
		OnError: func(err error) { errs = append(errs, err) }}
	Run(ctx, l, fetch, func(context.Context, struct{}) error { return nil })
	assert.Equal(t, 2, calls)
	if assert.Len(t, errs, 1) {
		assert.ErrorIs(t, errs[0], context.DeadlineExceeded)
		assert.Contains(t, errs[0].Error(), "hung: no answer within")
	}
}
