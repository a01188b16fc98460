package blocking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Loop is the one watch loop of the syncer: it runs a blocking query again
// and again (Consul's catalog and health watches, Nomad's fallback on the
// service list), in the shape of consul-template's view: the query only
// fetches; the loop owns the rate limit, the jittered waits, the backoff,
// the index rules and the watchdog.
//
// The index rules, after Consul's documentation on blocking queries: the
// first query, and the first after a failed one, does not block (index 0),
// so that a catalog restored or rebuilt with a lower index is read at once;
// an index that went backwards resets to 0 the same way; an index of 0 in an
// answer is taken as 1, so that the next query blocks instead of spinning;
// an unchanged index is a timeout of the wait and asks again.
type Loop struct {
	// Name says what is watched, in logs and errors.
	Name string
	// Wait is how long one query may block (Consul and Nomad add up to
	// Wait/16 of jitter). A context deadline shortens it.
	Wait time.Duration
	// MinInterval rate-limits the queries: two start at least this far
	// apart, plus up to half again of jitter.
	MinInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff after
	// failed queries; it resets after a good answer.
	MinBackoff, MaxBackoff time.Duration
	// Grace is how long past Wait + Wait/16 a query may stay unanswered
	// before the watchdog tears it down (and the loop asks again).
	Grace time.Duration
	// Logger receives the loop's warnings.
	Logger *slog.Logger
	// OnError, if set, is called with every failed query or handling; it
	// must not block.
	OnError func(error)
	// OnAnswer, if set, is called with the index of every answer of the
	// catalog (new or not); it must not block.
	OnAnswer func(index uint64)
}

// Fetch is one blocking query: it returns what changed after index,
// waiting at most wait, and the index of the answer. ctx ends the call.
type Fetch[T any] func(ctx context.Context, index uint64, wait time.Duration) (T, uint64, error)

// Run runs fetch until ctx is done and hands every answer whose index moved
// (and the first) to changed, on the loop's goroutine. An error from
// changed counts as a failed query: backoff, then a non-blocking query.
// Run returns when ctx is done.
func Run[T any](ctx context.Context, l Loop, fetch Fetch[T], changed func(context.Context, T) error) {
	bo := Backoff{Min: l.MinBackoff, Max: l.MaxBackoff}
	var (
		index uint64
		last  time.Time
		fresh = true // the next answer is handed on whatever its index
	)
	for {
		if !Sleep(ctx, time.Until(last.Add(Jitter(l.MinInterval)))) {
			return
		}
		last = time.Now()
		wait := l.Wait
		if d, ok := ctx.Deadline(); ok {
			wait = max(min(wait, time.Until(d)), time.Millisecond)
		}
		callCtx, cancel := context.WithTimeout(ctx, wait+wait/16+l.Grace)
		data, got, err := fetch(callCtx, index, wait)
		stuck := errors.Is(callCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if err == nil {
			if l.OnAnswer != nil {
				l.OnAnswer(got)
			}
			got = max(got, 1) // an index of 0 would never block
			next, reset := NextIndex(index, got)
			if reset && index != 0 {
				l.Logger.Info("index went backwards, reading again", "watch", l.Name, "was", index, "now", got)
			}
			if !reset && next == index && !fresh {
				bo.Reset()
				continue // the wait ran out with nothing new
			}
			if err = changed(ctx, data); err == nil {
				bo.Reset()
				index, fresh = next, reset
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		if stuck {
			l.Logger.Warn("watchdog: blocking query stuck, re-establishing", "watch", l.Name)
			err = fmt.Errorf("%s: no answer within %v: %w", l.Name, wait+wait/16+l.Grace, err)
		}
		if l.OnError != nil {
			l.OnError(err)
		}
		d := bo.Next()
		l.Logger.Warn("catalog call failed, retrying", "watch", l.Name, "err", err, "retry_in", d.Round(time.Millisecond))
		// After a failure the next query does not block: whatever changed
		// meanwhile, a restored catalog's lower index included, is seen
		// as soon as the catalog answers.
		index, fresh = 0, true
		if !Sleep(ctx, d) {
			return
		}
	}
}
