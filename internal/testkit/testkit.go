// Package testkit holds the helpers the tests of this module share: the
// wait on a condition with a deadline. It is imported by _test.go files and
// by test-support packages (syncer/catalog/catalogtest), never by the
// programs.
//
// A test that needs a logger that drops everything uses
// slog.New(slog.DiscardHandler) from the standard library.
package testkit

import (
	"testing"
	"time"
)

// Patience is how long WaitFor waits before it fails the test: generous,
// because a condition that holds at all holds long before it, even on a
// loaded two-core machine, and a timing target does not belong in a
// pass/fail test (see the benchmarks for those).
const Patience = 60 * time.Second

// poll is how often WaitFor looks at its condition. It is no wait for a
// result: the condition decides when WaitFor returns.
const poll = 5 * time.Millisecond

// WaitFor returns as soon as cond holds, and fails t (naming what it was
// waiting for) if it does not within Patience. cond is called from the
// test's goroutine only.
//
// Inside a testing/synctest bubble, prefer synctest.Wait and a direct
// assertion: WaitFor's polling would move the bubble's fake clock.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, what, Patience, poll, cond)
}

// WaitWithin is WaitFor with its own patience, looking at cond every
// period: for tests that wait on other processes (a real cluster), which
// may take longer and need not be asked as often.
func WaitWithin(t testing.TB, what string, patience, every time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", patience, what)
		}
		time.Sleep(every)
	}
}
