package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotorhq/rotor/rotation"
)

// incidentDescs describe the incident clock: one series of each per open
// incident. The incident_id label is needed besides credential_id because
// a credential can have two open incidents: one whose rotation was
// cancelled, and the one that replaced it.
type incidentDescs struct {
	open         *prometheus.Desc
	sinceReport  *prometheus.Desc
	toNewSecret  *prometheus.Desc
	toRetirement *prometheus.Desc
}

func newIncidentDescs() incidentDescs {
	labels := []string{"credential_id", "incident_id"}
	return incidentDescs{
		open: prometheus.NewDesc("rotor_incident_open",
			"1 for each open incident, labelled with its credential and incident id.",
			labels, nil),
		sinceReport: prometheus.NewDesc("rotor_incident_seconds_since_report",
			"Seconds since the compromise was reported, for each open incident.",
			labels, nil),
		toNewSecret: prometheus.NewDesc("rotor_incident_seconds_to_new_secret",
			"Seconds from the report to the new secret being stored, once it is; 0 when the new secret came before the report. Absent while awaited or when the rotation was cancelled.",
			labels, nil),
		toRetirement: prometheus.NewDesc("rotor_incident_seconds_to_retirement",
			"Seconds from the report to the retirement of the old secret, once it is retired. Absent while awaited or when the rotation was cancelled.",
			labels, nil),
	}
}

func (d incidentDescs) describe(ch chan<- *prometheus.Desc) {
	ch <- d.open
	ch <- d.sinceReport
	ch <- d.toNewSecret
	ch <- d.toRetirement
}

// collectIncidents sends the clock of each open incident. A failed
// ListOpenIncidents leaves out every incident series; a failed GetRotation
// leaves out the two series that need the rotation. After the scrape
// time-out, which an earlier query already counted, it sends nothing.
func (c *storeCollector) collectIncidents(ctx context.Context, ch chan<- prometheus.Metric, now time.Time) {
	if ctx.Err() != nil {
		return
	}
	incs, err := c.store.ListOpenIncidents(ctx)
	if err != nil {
		c.scrapeError(ctx, queryListOpenIncidents, err)
		return
	}
	d := c.incidents
	for _, inc := range incs {
		gauge := func(desc *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, inc.CredentialID, inc.ID)
		}
		gauge(d.open, 1)
		gauge(d.sinceReport, nonNegativeSeconds(now.Sub(inc.ReportedAt)))

		if ctx.Err() != nil {
			continue
		}
		r, err := c.store.GetRotation(ctx, inc.RotationID)
		if err != nil {
			c.scrapeError(ctx, queryGetRotation, err)
			continue
		}
		// A cancelled rotation neither delivered a secret that stays nor
		// retired the leaked one.
		if r.State == rotation.StateCancelled {
			continue
		}
		clock := inc.Clock(r, now)
		switch {
		case clock.NewSecretBeforeReport:
			gauge(d.toNewSecret, 0)
		case !clock.NewSecretPending:
			gauge(d.toNewSecret, clock.ToNewSecret.Seconds())
		}
		if !clock.RetirementPending {
			gauge(d.toRetirement, clock.ToRetirement.Seconds())
		}
	}
}

func nonNegativeSeconds(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return d.Seconds()
}
