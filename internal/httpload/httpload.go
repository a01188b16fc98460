// Package httpload is the client side of the end-to-end tests and
// benchmarks: keep-alive clients that send requests to a proxy in a loop
// and count what they get back — statuses, bodies, transport errors, and
// when each failure happened — so that a test can say how many requests a
// change of the cluster cost.
package httpload

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Response is what a client saw for one request.
type Response struct {
	Status int
	Header http.Header
	Body   string
	Err    error
}

// NewClient returns a keep-alive client that returns redirects as they
// are.
func NewClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 8},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// Get sends GET base+path with the Host header host ("" keeps base's).
func Get(client *http.Client, base, host, path string) Response {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return Response{Err: err}
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Err: err}
}

// Target is what the clients of a Load ask for.
type Target struct {
	URL  string // base URL, e.g. Traefik's web entry point
	Host string // Host header; "" keeps URL's
	Path string
}

// Load is n clients sending requests until Stop. Its methods are safe to
// call while it runs.
type Load struct {
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	statuses map[int]int
	bodies   map[string]int
	errs     []error
	failedAt []time.Time // when each failure (non-200 or error) came back
}

// Start starts n keep-alive clients, each sending one request after the
// other to t.
func Start(n int, t Target) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{stop: cancel, statuses: map[int]int{}, bodies: map[string]int{}}
	for range n {
		client := NewClient()
		l.wg.Go(func() {
			for ctx.Err() == nil {
				l.record(Get(client, t.URL, t.Host, t.Path), ctx)
			}
		})
	}
	return l
}

func (l *Load) record(r Response, ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case r.Err != nil && ctx.Err() != nil:
		return // cut off by Stop
	case r.Err != nil:
		l.errs = append(l.errs, r.Err)
	default:
		l.statuses[r.Status]++
		l.bodies[strings.TrimSpace(r.Body)]++
		if r.Status == http.StatusOK {
			return
		}
	}
	l.failedAt = append(l.failedAt, time.Now())
}

// Stop stops the clients and waits for them. It may be called more than
// once.
func (l *Load) Stop() {
	l.stop()
	l.wg.Wait()
}

// Failures counts answers other than 200 and transport errors.
func (l *Load) Failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failedAt)
}

// FailedSince counts the failures that came back at or after t.
func (l *Load) FailedSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.failedAt, t, time.Time.Compare)
	return len(l.failedAt) - i
}

// Total counts every request answered or failed.
func (l *Load) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.errs)
	for _, k := range l.statuses {
		n += k
	}
	return n
}

// Bodies returns how often each body (trimmed) came back with any status.
func (l *Load) Bodies() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.bodies))
	for k, v := range l.bodies {
		out[k] = v
	}
	return out
}

// Summary is the counts so far, for messages.
func (l *Load) Summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	errs := l.errs
	if len(errs) > 3 {
		errs = errs[:3]
	}
	return fmt.Sprintf("statuses %v, transport errors %d %v, bodies %v", l.statuses, len(l.errs), errs, l.bodies)
}
