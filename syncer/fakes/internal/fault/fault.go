// Package fault holds what the Consul and Nomad fakes share: the fault knobs
// (down, slow, failing, hanging), ACL token checks, per-endpoint request
// counts and the index broadcast that blocking queries wait on.
//
// A Box is safe for concurrent use. Handlers call Enter first; it applies the
// knobs and reports whether the handler should go on.
package fault

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Box is the mutable state shared by a fake's handlers.
type Box struct {
	mu       sync.Mutex
	down     bool
	hang     bool
	delay    time.Duration
	failCode int
	token    string
	counts   map[string]int
	changed  chan struct{} // closed and replaced on every change
	quit     chan struct{}
	quitOnce sync.Once
}

// New returns a Box with no faults and no token.
func New() *Box {
	return &Box{counts: map[string]int{}, changed: make(chan struct{}), quit: make(chan struct{})}
}

// Close releases every handler waiting in the Box; call it before closing the
// HTTP server so that hanging and blocking handlers return.
func (b *Box) Close() { b.quitOnce.Do(func() { close(b.quit) }) }

// Quit is closed by Close.
func (b *Box) Quit() <-chan struct{} { return b.quit }

// SetDown makes every request (and every blocked one) have its connection
// closed without an answer, as a dead agent would.
func (b *Box) SetDown(down bool) { b.mu.Lock(); b.down = down; b.mu.Unlock(); b.Broadcast() }

// SetHang makes requests be accepted and never answered, as behind a network
// partition: new requests until the hang is lifted, blocked queries and event
// streams in flight until the client gives up.
func (b *Box) SetHang(hang bool) { b.mu.Lock(); b.hang = hang; b.mu.Unlock(); b.Broadcast() }

// SetDelay delays every answer by d (a slow agent).
func (b *Box) SetDelay(d time.Duration) { b.mu.Lock(); b.delay = d; b.mu.Unlock() }

// SetFailCode makes every request answer with this HTTP status (e.g. 500); 0
// turns it off.
func (b *Box) SetFailCode(code int) { b.mu.Lock(); b.failCode = code; b.mu.Unlock(); b.Broadcast() }

// SetToken requires this ACL token on every request; "" turns ACLs off.
func (b *Box) SetToken(tok string) { b.mu.Lock(); b.token = tok; b.mu.Unlock(); b.Broadcast() }

// Requests returns how many requests reached endpoint (as named by the fake).
func (b *Box) Requests(endpoint string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts[endpoint]
}

// RequestCounts returns a copy of the request counts by endpoint.
func (b *Box) RequestCounts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.counts))
	for k, v := range b.counts {
		out[k] = v
	}
	return out
}

// Count adds one request to endpoint without applying any knob.
func (b *Box) Count(endpoint string) { b.mu.Lock(); b.counts[endpoint]++; b.mu.Unlock() }

// ResetCounts sets every request count to zero.
func (b *Box) ResetCounts() { b.mu.Lock(); clear(b.counts); b.mu.Unlock() }

// Broadcast wakes every blocked query so that it re-evaluates its index.
func (b *Box) Broadcast() {
	b.mu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// Changed returns a channel closed at the next Broadcast.
func (b *Box) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// Broken reports whether a long-lived answer (an event stream) for a request
// with this token must be cut: the fake is down, failing, or the token is no
// longer accepted.
func (b *Box) Broken(token string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.down || b.failCode != 0 || (b.token != "" && token != b.token)
}

// Hung reports whether the hang knob is on.
func (b *Box) Hung() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.hang }

// Down reports whether the fake is down.
func (b *Box) Down() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.down }

// Enter counts the request under endpoint and applies the knobs: it closes the
// connection when down, waits when hanging or slow, answers 403 when the token
// (read by tokenOf) is wrong and the fail code when one is set. It returns
// false when the handler must not answer.
func (b *Box) Enter(w http.ResponseWriter, r *http.Request, endpoint, token string) bool {
	b.mu.Lock()
	b.counts[endpoint]++
	down, hang, delay, code, want := b.down, b.hang, b.delay, b.failCode, b.token
	b.mu.Unlock()
	if down {
		Drop(w)
		return false
	}
	if hang {
		for {
			select {
			case <-r.Context().Done():
				return false
			case <-b.quit:
				Drop(w)
				return false
			case <-b.Changed():
				b.mu.Lock()
				hang, down = b.hang, b.down
				b.mu.Unlock()
				if down {
					Drop(w)
					return false
				}
				if !hang {
					return b.Enter(w, r, endpoint+"#unhung", token)
				}
			}
		}
	}
	if delay > 0 && !Sleep(r.Context(), b.quit, delay) {
		return false
	}
	if want != "" && token != want {
		http.Error(w, "Permission denied", http.StatusForbidden)
		return false
	}
	if code != 0 {
		http.Error(w, "injected failure", code)
		return false
	}
	return true
}

// Drop closes the connection under w without writing a response.
func Drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// Sleep waits for d, or until ctx is done or quit is closed (then false).
func Sleep(ctx context.Context, quit <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-quit:
		return false
	}
}

// Blocking parses the blocking-query parameters index and wait (Go duration,
// or plain seconds); the default wait is 5 minutes, capped at 10.
func Blocking(r *http.Request) (index uint64, wait time.Duration) {
	index, _ = strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	wait = 5 * time.Minute
	if s := r.URL.Query().Get("wait"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			wait = d
		} else if n, err := strconv.Atoi(s); err == nil {
			wait = time.Duration(n) * time.Second
		}
	}
	return index, min(wait, 10*time.Minute)
}

// Wait blocks a query that asked for minIndex until current() is above it,
// the wait elapses, the request ends, or the fake goes down or closes. It
// returns false if the handler must not answer.
//
// Knobs turned on while a query waits apply to it: down drops it, a fail code
// or a token change answers it with that error, hang leaves it unanswered
// until the client gives up.
func (b *Box) Wait(w http.ResponseWriter, r *http.Request, token string, minIndex uint64, wait time.Duration, current func() uint64) bool {
	if minIndex == 0 {
		return true
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		ch := b.Changed()
		b.mu.Lock()
		down, code, want, hang := b.down, b.failCode, b.token, b.hang
		b.mu.Unlock()
		switch {
		case hang: // a partition: the query in flight is never answered
			select {
			case <-r.Context().Done():
			case <-b.quit:
				Drop(w)
			}
			return false
		case down:
			Drop(w)
			return false
		case want != "" && token != want:
			http.Error(w, "Permission denied", http.StatusForbidden)
			return false
		case code != 0:
			http.Error(w, "injected failure", code)
			return false
		}
		if current() > minIndex {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return true
		case <-r.Context().Done():
			return false
		case <-b.quit:
			Drop(w)
			return false
		}
	}
}
