package nomad

import (
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
)

func TestIntervalsOf(t *testing.T) {
	t.Parallel()
	p := func(s string) *string { return &s }
	job := &api.Job{ID: p("shop"), TaskGroups: []*api.TaskGroup{{
		Name: p("web"),
		Services: []*api.Service{
			{Name: "front", Provider: "nomad", Checks: []api.ServiceCheck{
				{Name: "up", Type: "http", Interval: 5 * time.Second},
				{Name: "port", Type: "tcp", Interval: 2 * time.Second},
				// A readiness check: its result does not hold a copy back.
				{Name: "warm", Type: "http", Interval: time.Minute, OnUpdate: "ignore"},
			}},
			// Consul runs these checks, not Nomad's client.
			{Name: "legacy", Provider: "consul", Checks: []api.ServiceCheck{{Name: "up", Type: "http", Interval: time.Second}}},
		},
		Tasks: []*api.Task{{Name: "api", Services: []*api.Service{
			{Name: "api", Provider: "nomad", Checks: []api.ServiceCheck{{Name: "api up", Type: "http", Interval: 10 * time.Second}}},
		}}},
	}}}
	want := map[checkRef]time.Duration{
		{"web", "front", "up"}:   5 * time.Second,
		{"web", "front", "port"}: 2 * time.Second,
		{"web", "api", "api up"}: 10 * time.Second,
	}
	assert.Equal(t, want, intervalsOf(job))
	assert.Empty(t, intervalsOf(nil))
}

// TestSchedule: when the gate expects a check's runs (since + interval/2 +
// k·interval) and what it makes of the answers.
func TestSchedule(t *testing.T) {
	t.Parallel()
	since := time.Unix(100, 300e6) // 100.3 s
	at := func(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }

	t.Run("first countable run", func(t *testing.T) {
		assert.Equal(t, at(101.8), firstCountableRun(since, time.Second), "100.8 is stamped 100, in since's second")
		assert.Equal(t, at(105.3), firstCountableRun(since, 10*time.Second))
		assert.Equal(t, at(101.3), firstCountableRun(since, 2*time.Second))
	})

	tests := []struct {
		name    string
		every   time.Duration
		pending bool
		stamp   int64
		now     float64
		want    float64 // 0: at the next poll
	}{
		{"pending before its first run", 10 * time.Second, true, 100, 101, 105.4},
		{"pending before a first run that cannot count", time.Second, true, 100, 100.5, 101.9},
		{"pending after its first run: a slow client", 10 * time.Second, true, 100, 105.5, 0},
		{"the first run, failed", 10 * time.Second, false, 105, 105.45, 115.4},
		{"the run expected last, not countable yet", time.Second, false, 100, 100.95, 101.9},
		{"the run expected last, failed", time.Second, false, 101, 101.95, 102.9},
		{"the run before the one expected: a late run", time.Second, false, 100, 101.95, 101},
		{"a run off the schedule (a restart)", 10 * time.Second, false, 97, 100.4, 107},
		{"a stamp from the client's clock ahead", 10 * time.Second, false, 130, 100.4, 110.4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want time.Time
			if tt.want != 0 {
				want = at(tt.want)
			}
			got := nextAsk(since, tt.every, tt.pending, tt.stamp, at(tt.now))
			assert.Equal(t, want.UnixMilli(), got.UnixMilli(), "got %v", got)
			assert.Equal(t, want.IsZero(), got.IsZero())
		})
	}
}

// TestFirstAsk: the checks of a new allocation are first asked for once
// each check its client runs can have a result that counts; those of a
// restarted one at the second after the restart (their rhythm unknown);
// those of a job without such checks, or not known, at once.
func TestFirstAsk(t *testing.T) {
	t.Parallel()
	s := &Source{facts: newFacts()}
	shop := deployKey{"default", "shop", 1}
	s.facts.allocs["new"] = allocFacts{job: shop, taskGroup: "web"}
	s.facts.allocs["restarted"] = allocFacts{job: shop, taskGroup: "web", restarts: 1}
	s.facts.allocs["other group"] = allocFacts{job: shop, taskGroup: "batch"}
	s.facts.allocs["unknown job"] = allocFacts{job: deployKey{"default", "gone", 1}, taskGroup: "web"}
	s.facts.intervals[jobKey{"default", "shop"}] = map[checkRef]time.Duration{
		{"web", "front", "up"}:   time.Second,
		{"web", "front", "slow"}: 10 * time.Second,
	}
	since := time.Unix(100, 300e6)
	tests := map[string]time.Time{
		"new":         time.Unix(105, 400e6), // the slow check's first run (the other's, 101.8, comes earlier)
		"restarted":   time.Unix(101, 0),
		"other group": since,
		"unknown job": since,
	}
	for id, want := range tests {
		t.Run(id, func(t *testing.T) { assert.Equal(t, want, s.firstAskLocked(id, since)) })
	}
}
