package metrics

import (
	"context"

	"github.com/rotorhq/rotor/rotation/scheduler"
)

// InstrumentSender returns s with each send attempt counted by channel
// name: rotor_reminders_sent_total when s returns nil, else
// rotor_reminders_send_failures_total. An attempt cut short by shutdown
// or a time-out counts as a failure. Messages and errors pass through
// unchanged.
func (m *Metrics) InstrumentSender(s scheduler.Sender) scheduler.Sender {
	return scheduler.SenderFunc(func(ctx context.Context, channel string, msg scheduler.Message, idempotencyKey string) error {
		err := s.Send(ctx, channel, msg, idempotencyKey)
		if err != nil {
			m.reminderFailures.WithLabelValues(channel).Inc()
			return err
		}
		m.remindersSent.WithLabelValues(channel).Inc()
		return nil
	})
}
