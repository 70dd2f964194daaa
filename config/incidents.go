package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Incidents contains the settings for following up a reported compromise.
type Incidents struct {
	// RemindEvery is the time between urgent reminders to the credential's
	// channels while an incident stays open, counted from its report.
	RemindEvery time.Duration
}

// DefaultIncidentRemindEvery is Incidents.RemindEvery when the file sets
// none.
const DefaultIncidentRemindEvery = 4 * time.Hour

// MinIncidentRemindEvery is the shortest Incidents.RemindEvery. rotor
// checks for due reminders once a minute, and a channel that repeats an
// urgent message every few minutes teaches people to mute it.
const MinIncidentRemindEvery = 15 * time.Minute

func (d *decoder) incidents(path string, n *yaml.Node, in *Incidents) {
	d.mapping(path, n,
		field{"remind_every", func(key string, v *yaml.Node) { d.duration(key, v, &in.RemindEvery) }},
	)
}

func (v *validator) incidents() {
	every := v.c.Incidents.RemindEvery
	if every != 0 && every < MinIncidentRemindEvery {
		v.add("incidents.remind_every", "%s is shorter than %s; remind at most every %s while an incident is open, such as 4h",
			formatDuration(every), formatDuration(MinIncidentRemindEvery), formatDuration(MinIncidentRemindEvery))
	}
}
