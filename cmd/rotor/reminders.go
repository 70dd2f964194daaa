package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/notify"
	"github.com/rotorhq/rotor/notify/slack"
	"github.com/rotorhq/rotor/notify/smtp"
	"github.com/rotorhq/rotor/notify/webhook"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/scheduler"
	"github.com/rotorhq/rotor/secret"
)

// buildChannels opens every configured channel. Their secrets come from
// the environment variables the configuration names; a missing one stops
// rotor at start-up rather than at the first reminder.
func buildChannels(cfg *config.Config, getenv func(string) string, loc *time.Location, log *slog.Logger) (map[string]notify.Channel, error) {
	out := make(map[string]notify.Channel, len(cfg.Channels))
	for _, name := range slices.Sorted(maps.Keys(cfg.Channels)) {
		ch, err := buildChannel(name, cfg.Channels[name], getenv, loc, log)
		if err != nil {
			return nil, err
		}
		out[name] = ch
	}
	return out, nil
}

// buildChannel opens one channel. Errors name the channel and the
// environment variable, never a value read from it.
func buildChannel(name string, c config.Channel, getenv func(string) string, loc *time.Location, log *slog.Logger) (notify.Channel, error) {
	env := func(variable, what string) (secret.Value, error) {
		v := getenv(variable)
		if v == "" {
			return secret.Value{}, fmt.Errorf("channel %s: the environment variable %s, which holds %s, is missing or empty; set it before starting rotor", name, variable, what)
		}
		return secret.New(v), nil
	}
	log = log.With("channel", name)
	var (
		ch  notify.Channel
		err error
	)
	switch c.Type {
	case config.ChannelSMTP:
		host, portText, _ := net.SplitHostPort(c.SMTP.Address)
		port, _ := strconv.Atoi(portText)
		var password secret.Value
		if c.SMTP.PasswordEnv != "" {
			if password, err = env(c.SMTP.PasswordEnv, "the SMTP password"); err != nil {
				return nil, err
			}
		}
		ch, err = smtp.New(smtp.Config{Name: name, Host: host, Port: port, Username: c.SMTP.Username, Password: password,
			From: c.SMTP.From, To: c.SMTP.To, Location: loc, Logger: log, AllowPlainLoopback: config.IsLoopback(host)})
	case config.ChannelSlack:
		var url secret.Value
		if url, err = env(c.Slack.URLEnv, "the Slack webhook URL"); err != nil {
			return nil, err
		}
		ch, err = slack.New(slack.Config{Name: name, WebhookURL: url, Location: loc, Logger: log})
	case config.ChannelWebhook:
		var url, key secret.Value
		if url, err = env(c.Webhook.URLEnv, "the webhook URL"); err != nil {
			return nil, err
		}
		if key, err = env(c.Webhook.SigningKeyEnv, "the webhook signing key"); err != nil {
			return nil, err
		}
		ch, err = webhook.New(webhook.Config{Name: name, URL: url, SigningKey: key, Location: loc, Logger: log, AllowLoopbackHTTP: true})
	default:
		return nil, fmt.Errorf("channel %s: unknown type %q", name, c.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", name, err)
	}
	return ch, nil
}

// newScheduler returns the reminder scheduler for the configured
// credentials and channels. Links in messages point at publicURL.
func newScheduler(store scheduler.Store, cfg *config.Config, channels map[string]notify.Channel, publicURL string, log *slog.Logger) *scheduler.Scheduler {
	byCredential := make(map[string][]string, len(cfg.Credentials))
	schedules := make(map[string]rotation.ReminderSchedule, len(cfg.Credentials))
	for _, c := range cfg.Credentials {
		byCredential[c.ID] = c.Channels
		r := cfg.RemindersFor(c)
		schedules[c.ID] = rotation.ReminderSchedule{Before: r.Before, OverdueEvery: r.OverdueEvery}
	}
	global := rotation.ReminderSchedule{Before: cfg.Reminders.Before, OverdueEvery: cfg.Reminders.OverdueEvery}

	send := func(ctx context.Context, channel string, m scheduler.Message, key string) error {
		ch, ok := channels[channel]
		if !ok {
			return fmt.Errorf("channel %s is not configured", channel)
		}
		kind := notify.KindReminder
		if m.Overdue() {
			kind = notify.KindOverdue
		}
		err := ch.Send(ctx, notify.Message{
			Kind: kind, CredentialID: m.CredentialID, Organisation: m.Organisation, ClientID: m.ClientID,
			DueAt: m.DueAt, DaysLeft: int(m.BeforeDue / (24 * time.Hour)), Offset: rotation.DescribeOffset(m.BeforeDue),
			URL:            publicURL + "/credentials/" + m.CredentialID,
			IdempotencyKey: key,
		})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, notify.ErrPermanent):
			return fmt.Errorf("%w: %w", scheduler.ErrPermanent, err)
		case notify.RetryAfter(err) > 0:
			return &scheduler.RetryAfterError{Err: err, After: notify.RetryAfter(err)}
		}
		return err
	}
	return &scheduler.Scheduler{
		Store:    store,
		Sender:   scheduler.SenderFunc(send),
		Channels: func(id string) []string { return byCredential[id] },
		Schedule: func(id string) rotation.ReminderSchedule {
			if s, ok := schedules[id]; ok {
				return s
			}
			return global
		},
		Logger: log.With("component", "reminders"),
	}
}

// publicURL returns where operators reach rotor, for links in messages.
func publicURL(cfg *config.Config, addr string) string {
	if cfg.Server.PublicURL != "" {
		return cfg.Server.PublicURL
	}
	return "http://" + addr
}
