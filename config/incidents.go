package config

import (
	"net/mail"
	"time"

	"go.yaml.in/yaml/v3"
)

// Incidents contains the settings for following up a reported compromise.
type Incidents struct {
	// RemindEvery is the time between urgent reminders to the credential's
	// channels while an incident stays open, counted from its report.
	RemindEvery time.Duration

	// PersiumSupportEmail is Persium's support address. With
	// PersiumChannel, rotor e-mails the urgent request of an incident
	// there when an operator asks it to.
	PersiumSupportEmail string

	// PersiumChannel names the smtp channel whose server and sender the
	// request to Persium goes through.
	PersiumChannel string
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
		field{"persium_support_email", func(key string, v *yaml.Node) { d.str(key, v, &in.PersiumSupportEmail) }},
		field{"persium_channel", func(key string, v *yaml.Node) { d.str(key, v, &in.PersiumChannel) }},
	)
}

func (v *validator) incidents() {
	v.persiumMail()
	every := v.c.Incidents.RemindEvery
	if every != 0 && every < MinIncidentRemindEvery {
		v.add("incidents.remind_every", "%s is shorter than %s; remind at most every %s while an incident is open, such as 4h",
			formatDuration(every), formatDuration(MinIncidentRemindEvery), formatDuration(MinIncidentRemindEvery))
	}
}

// persiumMail checks that the two settings for e-mailing Persium come
// together, and that they name an address and an smtp channel.
func (v *validator) persiumMail() {
	in := v.c.Incidents
	switch {
	case in.PersiumSupportEmail == "" && in.PersiumChannel == "":
		return
	case in.PersiumSupportEmail == "":
		v.add("incidents.persium_support_email", "is required with incidents.persium_channel; set Persium's support address, such as support@persium.example")
	case in.PersiumChannel == "":
		v.add("incidents.persium_channel", "is required with incidents.persium_support_email; name the smtp channel to send through, one of %s", v.channelChoice())
	}
	if in.PersiumSupportEmail != "" {
		if _, err := mail.ParseAddress(in.PersiumSupportEmail); err != nil {
			v.add("incidents.persium_support_email", "%s is not an e-mail address; write it such as support@persium.example", quote(in.PersiumSupportEmail))
		}
	}
	if in.PersiumChannel == "" {
		return
	}
	c, ok := v.c.Channels[in.PersiumChannel]
	switch {
	case !ok:
		v.add("incidents.persium_channel", "%s is not a configured channel; use one of %s", quote(in.PersiumChannel), v.channelChoice())
	case c.Type != ChannelSMTP:
		v.add("incidents.persium_channel", "channel %s is of type %s; name an smtp channel, because the request to Persium is an e-mail", quote(in.PersiumChannel), c.Type)
	}
}
