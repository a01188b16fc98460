// Package blocking holds the rules every catalog watch of the syncer follows
// (Consul and Nomad blocking queries alike): the index rules, jittered waits
// and capped exponential backoff.
package blocking

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential backoff with jitter; Reset it after a
// healthy call. The zero value is not useful: set Min and Max.
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns how long to wait before the next attempt: between half and
// all of Min·2ⁿ, capped at Max.
func (b *Backoff) Next() time.Duration {
	d := b.Min << min(b.n, 20)
	if d <= 0 || d > b.Max {
		d = b.Max
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

// Reset starts the backoff again from Min.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits for d or until ctx is done; it reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Jitter returns d plus up to 50% more, so that many watchers spread out.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d/2+1)
}

// NextIndex applies the blocking-query index rules: an index that went
// backwards or to 0 resets to 0 (so the next query does not block and re-reads
// everything); otherwise the new index is kept.
func NextIndex(last, got uint64) (index uint64, reset bool) {
	if got == 0 || got < last {
		return 0, true
	}
	return got, false
}
