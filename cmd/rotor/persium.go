package main

import (
	"context"
	"fmt"

	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/notify"
	"github.com/rotorhq/rotor/notify/smtp"
	"github.com/rotorhq/rotor/rotation"
)

// persiumMailer e-mails Persium's support address through one of the
// team's smtp channels: its server, login and sender, with Persium as the
// recipient and the channel's own recipients in copy and as Reply-To, so
// that the team sees what was sent and gets Persium's answer.
type persiumMailer struct {
	channel *smtp.Channel
	to      string
}

// newPersiumMailer returns the mailer that incidents.persium_support_email
// and incidents.persium_channel configure, or nil when they are not set.
// config.Validate has checked that the channel exists and is smtp.
func newPersiumMailer(cfg *config.Config, channels map[string]notify.Channel) (rotation.PersiumMailer, error) {
	in := cfg.Incidents
	if in.PersiumSupportEmail == "" || in.PersiumChannel == "" {
		return nil, nil
	}
	ch, ok := channels[in.PersiumChannel].(*smtp.Channel)
	if !ok {
		return nil, fmt.Errorf("incidents.persium_channel: channel %s is not an smtp channel", in.PersiumChannel)
	}
	return persiumMailer{channel: ch, to: in.PersiumSupportEmail}, nil
}

func (m persiumMailer) SendToPersium(ctx context.Context, subject, text, idempotencyKey string) error {
	return m.channel.SendMail(ctx, smtp.Mail{To: []string{m.to}, Cc: m.channel.Recipients(), Subject: subject, Text: text, IdempotencyKey: idempotencyKey})
}

func (m persiumMailer) Route() string {
	return m.to + " through channel " + m.channel.Name() + ", copied to the channel's recipients"
}
