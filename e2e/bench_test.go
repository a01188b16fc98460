package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/whiskers-dev/whiskers/internal/httpload"
)

// BenchmarkEdgeRedirect: one sequential keep-alive client sends, through
// the real Traefik, in turn a request that the whiskers plugin hands to
// redirect.wasm in the wasm host (/old/…), one that the same redirect
// answers inside Traefik as an http-wasm plugin (/edge-old/…), and one that
// Traefik's built-in redirectRegex answers (/builtin-old/…), on the same
// router set and entry point, all three 301 to the same place. Reported:
// p50/p99 of each and the ratios of the p50s to the built-in's (targets:
// plugin ≤ 1.5, in Traefik ≤ 1.1).
//
//	make traefik && go test -run '^$' -bench EdgeRedirect -benchtime 5000x -count 3 ./e2e
func BenchmarkEdgeRedirect(b *testing.B) {
	c := startCluster(b)
	compare(b, c, http.StatusMovedPermanently, []probe{
		{"plugin", appHost, "/old/page"},
		{"wasm", appHost, "/edge-old/page"},
		{"builtin", appHost, "/builtin-old/page"},
	})
}

// BenchmarkEdgeFile: one sequential keep-alive client asks Traefik in turn
// for a 4 KiB file that the fileserver answers inside Traefik as an
// http-wasm plugin (/edge/4k.txt) and for the same file from Go's
// http.FileServer behind the same Traefik (a Consul service). Reported:
// p50/p99 of each and the ratio of the p50s (target ≤ 0.8).
//
//	make traefik && go test -run '^$' -bench EdgeFile -benchtime 5000x -count 3 ./e2e
func BenchmarkEdgeFile(b *testing.B) {
	c := startCluster(b)
	compare(b, c, http.StatusOK, []probe{
		{"wasm", appHost, "/edge/4k.txt"},
		{"gofileserver", filesHost, "/4k.txt"},
	})
}

// probe is one kind of request a comparison sends.
type probe struct{ name, host, path string }

// compare sends the probes in turn, b.N rounds after a warm-up, each
// answering status, and reports each probe's p50 and p99 and the ratio of
// each p50 to the last probe's (the reference).
func compare(b *testing.B, c *cluster, status int, probes []probe) {
	client := httpload.NewClient()
	get := func(p probe) {
		r := httpload.Get(client, c.traefik.URL, p.host, p.path)
		if r.Err != nil || r.Status != status {
			b.Fatalf("%s %s: status %d, %v", p.host, p.path, r.Status, r.Err)
		}
	}
	for range 500 { // warm up: connections, Yaegi, the compiled modules
		for _, p := range probes {
			get(p)
		}
	}
	times := make([][]time.Duration, len(probes))
	b.ResetTimer()
	for range b.N {
		for i, p := range probes {
			t0 := time.Now()
			get(p)
			times[i] = append(times[i], time.Since(t0))
		}
	}
	b.StopTimer()
	ref := percentile(times[len(probes)-1], 50)
	for i, p := range probes {
		p50 := percentile(times[i], 50)
		b.ReportMetric(micros(p50), p.name+"-p50-µs")
		b.ReportMetric(micros(percentile(times[i], 99)), p.name+"-p99-µs")
		if i < len(probes)-1 {
			b.ReportMetric(float64(p50)/float64(ref), p.name+"-p50-ratio")
		}
	}
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
