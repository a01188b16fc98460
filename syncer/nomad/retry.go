package nomad

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is a capped exponential backoff with full jitter; reset it after a
// healthy call.
type backoff struct {
	min, max time.Duration
	n        int
}

// next returns how long to wait before the next attempt.
func (b *backoff) next() time.Duration {
	d := b.min << min(b.n, 20)
	if d <= 0 || d > b.max {
		d = b.max
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits for d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
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

// jitter returns d plus up to 50% more, so that many watchers spread out.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d/2+1)
}

// nextIndex applies the blocking-query index rules: an index that went
// backwards or to 0 resets to 0 (so the next query does not block and re-reads
// everything); otherwise the new index is kept.
func nextIndex(last, got uint64) (index uint64, reset bool) {
	if got == 0 || got < last {
		return 0, true
	}
	return got, false
}
