package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotorhq/rotor/rotation"
)

// Store is the read side of a rotation store that the collector queries on
// each scrape. Both rotation stores, rotation/pgstore and
// rotation/memstore, implement it.
type Store interface {
	// ListCredentials returns every credential with OpenRotationID set.
	ListCredentials(ctx context.Context) ([]rotation.Credential, error)

	// GetRotation returns one rotation.
	GetRotation(ctx context.Context, id string) (rotation.Rotation, error)

	// CountFailedReminders returns the number of failed reminders per
	// credential id, for the credentials that have any.
	CountFailedReminders(ctx context.Context) (map[string]int, error)

	// ListOpenIncidents returns every open incident, oldest report first.
	ListOpenIncidents(ctx context.Context) ([]rotation.Incident, error)
}

// The queries a scrape runs, as the query label of rotor_scrape_errors_total.
const (
	queryListCredentials      = "list_credentials"
	queryGetRotation          = "get_rotation"
	queryCountFailedReminders = "count_failed_reminders"
	queryListOpenIncidents    = "list_open_incidents"
)

// errorLogInterval is the shortest time between two log lines about scrape
// errors of one query. Without it, a database that stays down would add a
// line per scrape, every minute with Prometheus's default scrape_interval.
// The counter still counts every error.
const errorLogInterval = time.Minute

// storeCollector reads the stores on each scrape. It runs one
// ListCredentials, one CountFailedReminders, one ListOpenIncidents, and one
// GetRotation per open rotation and per open incident, so its cost grows
// with the credentials, the open rotations and the open incidents.
type storeCollector struct {
	store   Store
	now     func() time.Time
	timeout time.Duration
	log     *slog.Logger

	open        *prometheus.Desc
	daysUntil   *prometheus.Desc
	failed      *prometheus.Desc
	errorsTotal *prometheus.CounterVec
	incidents   incidentDescs

	mu         sync.Mutex
	lastLogged map[string]time.Time // by query
	suppressed map[string]int       // errors not logged since lastLogged, by query
}

func newStoreCollector(store Store, now func() time.Time, timeout time.Duration, log *slog.Logger) *storeCollector {
	c := &storeCollector{
		store: store, now: now, timeout: timeout, log: log,
		open: prometheus.NewDesc("rotor_rotations_open",
			"1 for each open rotation, labelled with its credential, state and kind.",
			[]string{"credential_id", "state", "kind"}, nil),
		daysUntil: prometheus.NewDesc("rotor_credential_days_until_due",
			"Days until the credential is due for rotation, in fractions of 24 hours; negative when overdue.",
			[]string{"credential_id"}, nil),
		failed: prometheus.NewDesc("rotor_reminders_failed",
			"Reminders of the credential that failed on every attempt.",
			[]string{"credential_id"}, nil),
		errorsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rotor_scrape_errors_total",
			Help: "Store queries that failed or timed out while rotor collected its metrics, by query.",
		}, []string{"query"}),
		incidents:  newIncidentDescs(),
		lastLogged: map[string]time.Time{},
		suppressed: map[string]int{},
	}
	for _, q := range []string{queryListCredentials, queryGetRotation, queryCountFailedReminders, queryListOpenIncidents} {
		c.errorsTotal.WithLabelValues(q)
	}
	return c
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.daysUntil
	ch <- c.failed
	c.incidents.describe(ch)
	c.errorsTotal.Describe(ch)
}

// Collect reads the stores within the scrape timeout. A failed query
// leaves out the metrics it feeds, counts an error and logs it; the other
// metrics are still sent.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	now := c.now()

	creds, err := c.store.ListCredentials(ctx)
	if err != nil {
		c.scrapeError(ctx, queryListCredentials, err)
		creds = nil
	}
	failures, err := c.store.CountFailedReminders(ctx)
	if err != nil {
		c.scrapeError(ctx, queryCountFailedReminders, err)
		failures = nil
	}

	reported := make(map[string]bool, len(creds))
	for _, cred := range creds {
		days := float64(cred.NextDueAt().Sub(now)) / float64(rotation.Day)
		ch <- prometheus.MustNewConstMetric(c.daysUntil, prometheus.GaugeValue, days, cred.ID)

		// A credential without failed reminders shows 0 rather than no
		// series, so that an alert on the value resolves. When the counts
		// could not be read, no value is sent.
		if failures != nil {
			ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(failures[cred.ID]), cred.ID)
			reported[cred.ID] = true
		}

		// Once the time-out has run out, every further query would fail
		// too: the first failure is counted, and the rest are not run.
		if cred.OpenRotationID == "" || ctx.Err() != nil {
			continue
		}
		r, err := c.store.GetRotation(ctx, cred.OpenRotationID)
		if err != nil {
			c.scrapeError(ctx, queryGetRotation, err)
			continue
		}
		// The rotation can have ended between the two queries.
		if r.Open() {
			ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, 1, r.CredentialID, string(r.State), string(r.Kind))
		}
	}
	// Failed reminders of credentials that the list left out: removed from
	// the configuration, or the list failed.
	for id, n := range failures {
		if !reported[id] {
			ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(n), id)
		}
	}

	c.collectIncidents(ctx, ch, now)
	c.errorsTotal.Collect(ch)
}

// scrapeError counts a failed query and logs it, at most once per
// errorLogInterval for each query.
func (c *storeCollector) scrapeError(ctx context.Context, query string, err error) {
	c.errorsTotal.WithLabelValues(query).Inc()

	c.mu.Lock()
	now := time.Now()
	if last, ok := c.lastLogged[query]; ok && now.Sub(last) < errorLogInterval {
		c.suppressed[query]++
		c.mu.Unlock()
		return
	}
	c.lastLogged[query] = now
	suppressed := c.suppressed[query]
	c.suppressed[query] = 0
	c.mu.Unlock()

	c.log.WarnContext(ctx, "collect metrics from the store", "query", query, "error", err,
		"scrape_timeout", c.timeout.String(), "errors_not_logged", suppressed)
}
