package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/httpload"
)

// BenchmarkEdgeRedirect: one sequential keep-alive client sends, through
// the real Traefik, alternately a request that the whiskers plugin hands to
// redirect.wasm in the wasm host (/old/…) and one that Traefik's built-in
// redirectRegex answers (/builtin-old/…), on the same router set and entry
// point. Reported: p50/p99 of each and the ratio of the p50s (target ≤ 1.5).
//
//	make traefik && go test -run '^$' -bench EdgeRedirect -benchtime 5000x -count 3 ./e2e
func BenchmarkEdgeRedirect(b *testing.B) {
	c := startCluster(b)
	client := httpload.NewClient()
	get := func(path string) {
		r := httpload.Get(client, c.traefik.URL, appHost, path)
		if r.Err != nil || r.Status != http.StatusMovedPermanently {
			b.Fatalf("%s: status %d, %v", path, r.Status, r.Err)
		}
	}
	for range 500 { // warm up: connections, Yaegi, the compiled module
		get("/old/page")
		get("/builtin-old/page")
	}
	plugin := make([]time.Duration, 0, b.N)
	builtin := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		get("/old/page")
		t1 := time.Now()
		get("/builtin-old/page")
		t2 := time.Now()
		plugin = append(plugin, t1.Sub(t0))
		builtin = append(builtin, t2.Sub(t1))
	}
	b.StopTimer()
	p50 := percentile(plugin, 50)
	b.ReportMetric(micros(p50), "plugin-p50-µs")
	b.ReportMetric(micros(percentile(plugin, 99)), "plugin-p99-µs")
	b50 := percentile(builtin, 50)
	b.ReportMetric(micros(b50), "builtin-p50-µs")
	b.ReportMetric(micros(percentile(builtin, 99)), "builtin-p99-µs")
	b.ReportMetric(float64(p50)/float64(b50), "p50-ratio")
}

// BenchmarkDrain: two keep-alive clients load the finicky router; each
// iteration deregisters one worker from the fake Nomad and measures how
// long it still got requests (the last request it served, relative to the
// deregistration), then registers it again. Reported: p50 and max of that
// time (target ≤ 1 s) and the number of failed client requests (target 0).
//
//	make traefik && go test -run '^$' -bench Drain -benchtime 30x ./e2e
func BenchmarkDrain(b *testing.B) {
	c := startCluster(b)
	l := c.startLoad(2, appHost, "/hello")
	var times []time.Duration
	b.ResetTimer()
	for i := range b.N {
		w, reg := c.workers[i%len(c.workers)], c.regs[i%len(c.regs)]
		c.eventually(w.name+" serving", func() bool { return time.Since(w.lastHit()) < 50*time.Millisecond })
		t0 := time.Now()
		if !c.nomad.Deregister(reg.ID) {
			b.Fatalf("%s was not registered", reg.ID)
		}
		c.eventually(w.name+" out of the pool", func() bool { return time.Since(w.lastHit()) > 300*time.Millisecond })
		times = append(times, max(0, w.lastHit().Sub(t0)))
		c.nomad.Register(reg)
	}
	b.StopTimer()
	l.Stop()
	b.ReportMetric(float64(percentile(times, 50))/float64(time.Millisecond), "drain-p50-ms")
	b.ReportMetric(float64(slices.Max(times))/float64(time.Millisecond), "drain-max-ms")
	b.ReportMetric(float64(l.Failures()), "client-errors")
	b.ReportMetric(float64(l.Total()), "client-requests")
}

// percentile returns the p-th percentile of d (which it sorts).
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(len(d)-1)*p/100]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
