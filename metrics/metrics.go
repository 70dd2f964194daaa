// Package metrics exposes rotor's Prometheus metrics on a registry of its
// own: what the stores hold (open rotations, days until each credential is
// due, failed reminders), read on each scrape, and what rotor did (calls to
// the secrets managers, HTTP requests, reminder sends), counted by
// decorators around those components.
//
// No label value comes from a secret or from a raw request path. Labels
// carry credential ids, rotation states and kinds, backend and channel
// names as configured, step names, error kinds, HTTP methods from a fixed
// set, route patterns and status codes.
package metrics

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultScrapeTimeout bounds the store queries of one scrape when
// Options.ScrapeTimeout is zero. Prometheus's default scrape_timeout is 10
// seconds, so a slow database shows as rotor_scrape_errors_total rather
// than as a failed scrape.
const DefaultScrapeTimeout = 5 * time.Second

// Options configure New.
type Options struct {
	// Store is read on each scrape for the open rotations, the due dates
	// and the failed reminders. Without one, those metrics are absent.
	Store Store

	// Logger receives scrape errors. Default: discard.
	Logger *slog.Logger

	// Now is the clock for days until due. Default time.Now.
	Now func() time.Time

	// ScrapeTimeout bounds the store queries of one scrape. Default
	// DefaultScrapeTimeout.
	ScrapeTimeout time.Duration

	// Version is rotor's build version, exposed as rotor_build_info.
	// Default "unknown".
	Version string

	// ReminderChannels are the configured reminder channel names. Their
	// send counters start at zero, so that increase() in an alert counts
	// the first failure too.
	ReminderChannels []string
}

// Metrics holds rotor's registry and the metrics the decorators update.
// Its methods are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	log      *slog.Logger

	backendCalls    *prometheus.CounterVec
	backendDuration *prometheus.HistogramVec

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	remindersSent    *prometheus.CounterVec
	reminderFailures *prometheus.CounterVec

	statuses backendStatuses
}

// backendBuckets range from a fast read (a few milliseconds) to a write
// that runs into the rotation service's default step time-out of 30
// seconds.
var backendBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New returns rotor's metrics on a new registry, with the Go runtime and
// process collectors added. It returns an error only when two collectors
// clash, which is a programming error.
func New(o Options) (*Metrics, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ScrapeTimeout <= 0 {
		o.ScrapeTimeout = DefaultScrapeTimeout
	}
	if o.Version == "" {
		o.Version = "unknown"
	}

	m := &Metrics{
		registry: prometheus.NewRegistry(),
		log:      o.Logger,
		backendCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rotor_backend_calls_total",
			Help: "Calls to a secrets manager by backend, step and result: ok, or the error kind (conflict, not_found, access, unavailable, invalid, drift, other).",
		}, []string{"backend", "op", "result"}),
		backendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rotor_backend_call_duration_seconds",
			Help:    "Duration of calls to a secrets manager by backend and step, failed calls included.",
			Buckets: backendBuckets,
		}, []string{"backend", "op"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rotor_http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		// TODO: time transitions inside rotation.Service, by transition and
		// outcome. That needs a hook in the service. Until then this
		// histogram on the transition routes is the transition latency,
		// and steps that Recover finishes after a restart are not timed.
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rotor_http_request_duration_seconds",
			Help:    "Duration of HTTP requests by method and route pattern. A transition's route measures the whole transition: token check, backend write and database change.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		remindersSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rotor_reminders_sent_total",
			Help: "Reminder messages a channel accepted.",
		}, []string{"channel"}),
		reminderFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rotor_reminders_send_failures_total",
			Help: "Reminder send attempts that returned an error, retried ones included.",
		}, []string{"channel"}),
	}
	for _, ch := range o.ReminderChannels {
		m.remindersSent.WithLabelValues(ch)
		m.reminderFailures.WithLabelValues(ch)
	}

	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "rotor_build_info",
		Help:        "Always 1; the version label is rotor's build version.",
		ConstLabels: prometheus.Labels{"version": o.Version},
	})
	buildInfo.Set(1)

	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.backendCalls, m.backendDuration,
		m.httpRequests, m.httpDuration,
		m.remindersSent, m.reminderFailures,
	}
	if o.Store != nil {
		cs = append(cs, newStoreCollector(o.Store, o.Now, o.ScrapeTimeout, o.Logger))
	}
	var errs []error
	for _, c := range cs {
		errs = append(errs, m.registry.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Registry returns the registry, so that callers can add collectors of
// their own or gather in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler returns the handler that serves the registry in the Prometheus
// exposition formats. A collector error is logged, and the other metrics
// are still served. At most four scrapes run at once, and a fifth gets a
// 503.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(m.log.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	})
}
