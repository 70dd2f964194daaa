package metrics_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/metrics"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/rotation/scheduler"
	"github.com/rotorhq/rotor/rotation/storetest"
)

// TestInstrumentSender runs the real scheduler on the memory store with an
// instrumented sender: the e-mail channel accepts, the Slack channel
// fails, and each reminder gets one attempt.
func TestInstrumentSender(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := storetest.NewClock()
	store := memstore.New(clock.Now)
	// Issued 89 days ago: the 1-day reminder is due now.
	if err := store.SyncCredentials(ctx, []rotation.Credential{credential("cred-a", clock.Now(), 89*rotation.Day)}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	f := setup(t, metrics.Options{Store: store, Now: clock.Now, ReminderChannels: []string{"ops-email", "ops-slack", "ops-webhook"}})

	var sentTo []string
	inner := scheduler.SenderFunc(func(ctx context.Context, channel string, m scheduler.Message, key string) error {
		if channel == "ops-slack" {
			return errors.New("post https://hooks.slack.com: 500 Internal Server Error")
		}
		sentTo = append(sentTo, channel)
		return nil
	})
	s := &scheduler.Scheduler{
		Store:       store,
		Sender:      f.m.InstrumentSender(inner),
		Channels:    func(string) []string { return []string{"ops-email", "ops-slack"} },
		Now:         clock.Now,
		MaxAttempts: 1,
	}
	if err := s.Tick(ctx); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if diff := cmp.Diff([]string{"ops-email"}, sentTo); diff != "" {
		t.Fatalf("channels that received the reminder (-want +got):\n%s", diff)
	}

	got := f.scrape(t)
	want := map[string]string{
		`rotor_reminders_sent_total{channel="ops-email"}`:            "1",
		`rotor_reminders_sent_total{channel="ops-slack"}`:            "0",
		`rotor_reminders_sent_total{channel="ops-webhook"}`:          "0",
		`rotor_reminders_send_failures_total{channel="ops-email"}`:   "0",
		`rotor_reminders_send_failures_total{channel="ops-slack"}`:   "1",
		`rotor_reminders_send_failures_total{channel="ops-webhook"}`: "0",
	}
	sends := got.withPrefix("rotor_reminders_sen")
	if diff := cmp.Diff(want, sends); diff != "" {
		t.Errorf("reminder send counters (-want +got):\n%s", diff)
	}
	// With one attempt, the Slack reminder failed for good.
	if v := got.value(`rotor_reminders_failed{credential_id="cred-a"}`); v != "1" {
		t.Errorf("failed reminders of cred-a = %s, want 1", v)
	}
}
