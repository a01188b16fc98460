package wasmhost

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the host's Prometheus collectors. They are registered once
// per Registerer and shared by every Host built against it, so a reload
// keeps counting in the same series.
type metrics struct {
	requests       *prometheus.CounterVec   // handler, code
	duration       *prometheus.HistogramVec // handler
	instantiateErr *prometheus.CounterVec   // handler
	timeouts       *prometheus.CounterVec   // handler
	rejected       *prometheus.CounterVec   // handler, reason
	inFlight       *prometheus.GaugeVec     // handler
}

// newMetrics returns the host's collectors, registered with reg or, when
// reg already holds them, reg's.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "whiskers", Subsystem: "wasm", Name: "requests_total",
			Help: "Requests answered by a wasm handler, by handler and HTTP status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "whiskers", Subsystem: "wasm", Name: "request_duration_seconds",
			Help:    "Time from routing a request to a handler until its response is written.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"handler"}),
		instantiateErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "whiskers", Subsystem: "wasm", Name: "instantiation_errors_total",
			Help: "Requests whose wasm instance could not be created.",
		}, []string{"handler"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "whiskers", Subsystem: "wasm", Name: "timeouts_total",
			Help: "Guests stopped because they ran past their handler's timeout.",
		}, []string{"handler"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "whiskers", Subsystem: "wasm", Name: "limit_rejections_total",
			Help: "Requests refused or guests stopped by a limit: queue_timeout, request_body, response_size, nul.",
		}, []string{"handler", "reason"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "whiskers", Subsystem: "wasm", Name: "instances_in_flight",
			Help: "Wasm instances running now.",
		}, []string{"handler"}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.instantiateErr = register(reg, m.instantiateErr)
	m.timeouts = register(reg, m.timeouts)
	m.rejected = register(reg, m.rejected)
	m.inFlight = register(reg, m.inFlight)
	return m
}

// register registers c, or returns the identical collector registered
// earlier (by a Host this one replaces).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A conflicting collector of another shape: keep ours unregistered
		// rather than fail serving.
	}
	return c
}
