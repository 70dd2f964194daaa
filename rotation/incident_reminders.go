package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// DefaultIncidentRemindEvery is the time between reminders of an open
// incident when the configuration sets none.
const DefaultIncidentRemindEvery = 4 * time.Hour

// RemindOpenIncidents sends one urgent reminder per open incident whose
// current round is due: round n is due n × IncidentRemindEvery after the
// report. Each round is claimed in the store first, so it is sent at most
// once, even by several rotor processes. Rounds missed while rotor was
// down are not sent late: only the current one is. Each channel's outcome
// is an incident event. Errors of one incident are logged and do not stop
// the others; the error returned is a failure to list the open incidents.
func (s *Service) RemindOpenIncidents(ctx context.Context) error {
	if s.incidents == nil {
		return nil
	}
	open, err := s.incidents.ListOpenIncidents(ctx)
	if err != nil {
		return fmt.Errorf("list open incidents to remind: %w", err)
	}
	now := s.now()
	for _, inc := range open {
		if err := ctx.Err(); err != nil {
			return err
		}
		round := int(now.Sub(inc.ReportedAt) / s.remindEvery)
		if round < 1 {
			continue
		}
		if err := s.remindIncident(ctx, inc, round, now); err != nil {
			s.log.ErrorContext(ctx, "send reminder of open incident", "incident_id", inc.ID, "credential_id", inc.CredentialID,
				"round", round, "error", err)
		}
	}
	return nil
}

func (s *Service) remindIncident(ctx context.Context, inc Incident, round int, now time.Time) error {
	claimed, err := s.incidents.ClaimIncidentReminder(ctx, inc.ID, round)
	if errors.Is(err, ErrConflict) {
		return nil // closed since the list was read
	}
	if err != nil || !claimed {
		return err
	}
	// NOTE: the claim comes before the send, so a process that stops
	// between the two loses this round; the next round still goes out.
	c, err := s.store.GetCredential(ctx, inc.CredentialID)
	if err != nil {
		return fmt.Errorf("read credential %s: %w", inc.CredentialID, err)
	}
	r, err := s.store.GetRotation(ctx, inc.RotationID)
	if err != nil {
		return fmt.Errorf("read rotation %s: %w", inc.RotationID, err)
	}
	m := NewIncidentReminder(c, r, inc, round, now)
	s.sendUrgent(ctx, c, inc, m, fmt.Sprintf("reminder %d, %s after the report: ", round, FormatElapsed(now.Sub(inc.ReportedAt))))
	return nil
}

// NewIncidentReminder returns the urgent reminder of round round for an
// incident still open at now, with r its rotation. It names the next thing
// to do: finish the rotation, open a new one after a cancellation, or
// tick the checklist. It never holds a secret.
func NewIncidentReminder(c Credential, r Rotation, inc Incident, round int, now time.Time) UrgentMessage {
	elapsed := FormatElapsed(now.Sub(inc.ReportedAt))
	var b strings.Builder
	fmt.Fprintf(&b, "The suspected compromise of the Persium client secret of %s (client ID %s, credential %s), reported by %s on %s, is still open after %s.\n\n",
		c.Organisation, c.ClientID, c.ID, inc.ReportedBy, inc.ReportedAt.UTC().Format(time.RFC3339), elapsed)
	switch {
	case r.Open():
		fmt.Fprintf(&b, "Emergency rotation %s is in state %s. Follow its next step on the incident page.\n", r.ID, r.State)
	case r.State == StateCancelled:
		b.WriteString("Its emergency rotation was cancelled, so the leaked secret is still in use. Report the compromise again to open a new emergency rotation.\n")
	default:
		fmt.Fprintf(&b, "The old secret is retired. %d checklist items are left: search each place for the old secret and tick it on the incident page.\n", inc.ItemsLeft())
	}
	return UrgentMessage{
		Credential: c, IncidentID: inc.ID, RotationID: r.ID,
		Subject:        fmt.Sprintf("URGENT: compromise of the Persium client secret of %s (%s) still open after %s", c.Organisation, c.ID, elapsed),
		Text:           b.String(),
		Path:           "/incidents/" + inc.ID,
		IdempotencyKey: fmt.Sprintf("rotor-incident-%s-reminder-%d", inc.ID, round),
	}
}

// IncidentReminders runs Service.RemindOpenIncidents at once and then
// every Interval, until Stop.
type IncidentReminders struct {
	Service  *Service
	Interval time.Duration // default one minute
	Timeout  time.Duration // bounds one run; default 30 seconds
	Logger   *slog.Logger  // default discards

	mu      sync.Mutex
	started bool
	stopped chan struct{}
	done    chan struct{}
}

// Start starts the loop. It does nothing after the first Start or after
// Stop.
func (l *IncidentReminders) Start(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return
	}
	l.started = true
	l.stopped, l.done = make(chan struct{}), make(chan struct{})
	go l.loop(ctx, l.stopped, l.done)
}

func (l *IncidentReminders) loop(ctx context.Context, stopped <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	interval, timeout, log := l.Interval, l.Timeout, l.Logger
	if interval <= 0 {
		interval = time.Minute
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		err := l.Service.RemindOpenIncidents(rctx)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("send reminders of open incidents", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-stopped:
			return
		case <-ticker.C:
		}
	}
}

// Stop ends the loop and waits for a run in progress to finish. It is safe
// to call more than once, and before Start; after it, Start does nothing.
func (l *IncidentReminders) Stop() {
	l.mu.Lock()
	if !l.started {
		l.started = true
		l.mu.Unlock()
		return
	}
	stopped, done := l.stopped, l.done
	l.stopped = nil
	l.mu.Unlock()
	if stopped != nil {
		close(stopped)
	}
	<-done
}
