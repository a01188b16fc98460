package output

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the syncer's Prometheus metrics. Its methods are safe for
// concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	syncs       prometheus.Counter
	writes      prometheus.Counter
	lastSuccess prometheus.Gauge
	watchErrors *prometheus.CounterVec
	watchdog    *prometheus.CounterVec
	services    prometheus.Gauge
	servers     prometheus.Gauge
	latency     prometheus.Histogram
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "whiskers_sync_total", Help: "Configurations built from the catalogs.",
		}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "whiskers_sync_writes_total", Help: "Configurations published because their bytes changed.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "whiskers_sync_last_success_timestamp_seconds", Help: "Unix time of the last successful sync.",
		}),
		watchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whiskers_watch_errors_total", Help: "Failed catalog calls, by source.",
		}, []string{"source"}),
		watchdog: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whiskers_watchdog_restarts_total", Help: "Stuck watches torn down and re-established, by source.",
		}, []string{"source"}),
		services: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "whiskers_services", Help: "Traefik services (http, tcp, udp) in the last configuration.",
		}),
		servers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "whiskers_servers", Help: "Servers of all Traefik services in the last configuration.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "whiskers_sync_change_seconds",
			Help:    "From a source's signal of a catalog change to the configuration published (throttle, build, render, write), for changes that were published.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	for _, c := range []prometheus.Collector{m.syncs, m.writes, m.lastSuccess, m.watchErrors, m.watchdog, m.services, m.servers, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Synced records a successful sync at t of a configuration with this many
// services and servers; wrote says whether it was published.
func (m *Metrics) Synced(t time.Time, services, servers int, wrote bool) {
	if m == nil {
		return
	}
	m.syncs.Inc()
	if wrote {
		m.writes.Inc()
	}
	m.lastSuccess.Set(float64(t.UnixNano()) / 1e9)
	m.services.Set(float64(services))
	m.servers.Set(float64(servers))
}

// ChangePublished records that a change signalled d ago is now published.
func (m *Metrics) ChangePublished(d time.Duration) {
	if m == nil {
		return
	}
	m.latency.Observe(d.Seconds())
}

// WatchError returns a function that counts one failed call of source; it
// is meant for the sources' OnError options.
func (m *Metrics) WatchError(source string) func(error) {
	if m == nil {
		return func(error) {}
	}
	c := m.watchErrors.WithLabelValues(source)
	d := m.watchdog.WithLabelValues(source)
	return func(err error) {
		c.Inc()
		if isWatchdog(err) {
			d.Inc()
		}
	}
}

// isWatchdog reports whether a failed call was a stuck call torn down by its
// deadline (the sources' watchdog).
func isWatchdog(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
