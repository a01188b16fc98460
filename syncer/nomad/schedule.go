package nomad

import (
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// When the gate asks for a new allocation's checks (Source.gate), it asks
// when a result that can release the allocation may be there, by the
// schedule on which Nomad's client runs them (client/allocrunner's
// checks hook, 1.4 to 1.6): it starts observing an allocation's checks as
// it starts the allocation, runs each check first half an interval later
// (a result before is "pending"), then again an interval after each run.
// The gate takes the start to be when the syncer heard of the allocation
// (its placement or restart, since), so it expects the k-th run at
// since + interval/2 + k·interval. The client picks a placement up some
// milliseconds after the syncer hears of it, and each run's own duration
// delays the next: asks come askMargin after the expected run, and an
// answer that shows the schedule off (a restart, whose checks keep their
// old rhythm; a slow client) falls back to what a result's stamp alone
// says. Asking every GatePoll instead cost four to five requests per new
// allocation and syncer with the benchmarks' 1 s check on the real cluster
// (docs/benchmarks.md), and some twenty while the check was pending with
// Nomad's default interval of 10 s.

// askMargin is how long after a check's expected run the gate asks for
// its result.
const askMargin = 100 * time.Millisecond

// checkRef names a Nomad check as its results do: its task group, its
// service and its own name, as the job says them (not interpolated).
type checkRef struct{ group, service, check string }

// intervalsOf returns how often Nomad's client runs each check of j's
// services that it runs itself (those of provider "nomad") and that can
// hold an allocation back (not on_update = "ignore": a readiness check).
func intervalsOf(j *api.Job) map[checkRef]time.Duration {
	out := map[checkRef]time.Duration{}
	eachService(j, func(group, _ string, svc *api.Service) {
		if !strings.EqualFold(svc.Provider, "nomad") {
			return
		}
		for _, c := range svc.Checks {
			if c.Interval > 0 && c.OnUpdate != "ignore" {
				out[checkRef{group, svc.Name, c.Name}] = c.Interval
			}
		}
	})
	return out
}

// firstCountableRun is the first run expected of a check of that interval
// whose result can release an allocation that started at since: Nomad
// stamps results in whole seconds, and one stamped in since's second may
// be from before it (checksPass).
func firstCountableRun(since time.Time, every time.Duration) time.Time {
	run := since.Add(every / 2)
	for run.Unix() <= since.Unix() {
		run = run.Add(every)
	}
	return run
}

// lastRunBy is the latest run expected at or before t of a check of that
// interval in an allocation that started at since; false before the first.
func lastRunBy(since time.Time, every time.Duration, t time.Time) (time.Time, bool) {
	first := since.Add(every / 2)
	if t.Before(first) {
		return time.Time{}, false
	}
	return first.Add(t.Sub(first) / every * every), true
}

// nextAsk is when to ask again for a check of that interval, in an
// allocation that started at since, whose latest result (pending, or
// stamped at stamp) was read at now and did not release it; zero to ask
// at the next GatePoll.
//   - Still pending before its first expected run: after the first whose
//     result can count.
//   - Its result is the run expected last (same second): after the next.
//   - Still pending after its first expected run (a slow client): at once.
//   - Otherwise (a run off the schedule): an interval after the result's
//     second, no later than an interval from now (the client's clock may
//     run ahead).
func nextAsk(since time.Time, every time.Duration, pending bool, stamp int64, now time.Time) time.Time {
	last, ran := lastRunBy(since, every, now.Add(-askMargin))
	switch {
	case pending && !ran:
		return firstCountableRun(since, every).Add(askMargin)
	case pending:
		return time.Time{}
	case ran && last.Unix() == stamp:
		return last.Add(every + askMargin)
	}
	t := time.Unix(stamp, 0).Add(every)
	if limit := now.Add(every); t.After(limit) {
		t = limit
	}
	return t
}
