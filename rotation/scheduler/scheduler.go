// Package scheduler sends the reminders of credentials' due dates. Any
// number of rotor processes may run a Scheduler on one store. Each reminder
// (credential, due date, offset, channel) is a row that one scheduler at a
// time claims with a lease. So a reminder goes out once, and at most once
// more when a process dies between sending it and recording that it did.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

// Store is the part of rotor's store that the scheduler uses. Both
// rotation stores implement it.
type Store interface {
	rotation.ReminderStore
	GetCredential(ctx context.Context, id string) (rotation.Credential, error)
}

// Defaults for the Scheduler's optional fields.
const (
	DefaultInterval    = time.Minute
	DefaultMaxAttempts = 5
	DefaultLease       = 5 * time.Minute
	DefaultSendTimeout = 30 * time.Second
	DefaultTickTimeout = 2 * time.Minute
	DefaultBatchSize   = 50
)

// planBatchSize is how many credentials one planning transaction takes.
// A tick runs as many as it needs for every credential due for planning.
const planBatchSize = 500

// finishTimeout bounds the store call that records an outcome. It runs on a
// context detached from the tick's, so that a send that finished just as
// the tick was cancelled is still recorded.
const finishTimeout = 10 * time.Second

// Scheduler plans and sends reminders. Store, Sender and Channels are
// required; the other fields have defaults. Set the fields before the
// first Tick or Start and do not change them afterwards.
type Scheduler struct {
	Store  Store
	Sender Sender

	// Channels returns the names of the channels that a credential's
	// reminders go to. A credential with none gets no reminders.
	Channels func(credentialID string) []string

	// Schedule returns a credential's reminder offsets. Default:
	// rotation.DefaultReminderSchedule for every credential.
	Schedule func(credentialID string) rotation.ReminderSchedule

	Now      func() time.Time // default time.Now; the store keeps its own clock
	Interval time.Duration    // between ticks after Start; default DefaultInterval
	Logger   *slog.Logger     // default discards

	// MaxAttempts bounds the claims of one reminder. A send that fails on
	// the last attempt, or a last attempt whose lease expires, marks the
	// reminder failed. Default DefaultMaxAttempts.
	MaxAttempts int

	// Backoff returns the delay before attempt n+1 after attempt n failed.
	// Default: one minute, doubling with each attempt, at most one hour.
	Backoff func(attempt int) time.Duration

	// Lease is how long a claim belongs to this scheduler before another
	// may take the reminder over. It must exceed SendTimeout plus the
	// clock difference between rotor processes. Default DefaultLease.
	Lease time.Duration

	SendTimeout time.Duration // per send; default DefaultSendTimeout
	TickTimeout time.Duration // per tick after Start; default DefaultTickTimeout
	BatchSize   int           // reminders claimed per tick; default DefaultBatchSize

	mu      sync.Mutex
	state   runState
	stopped chan struct{} // closed by Stop
	done    chan struct{} // closed when the loop returns
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateStopped
)

// settings is a Scheduler's configuration with defaults filled in.
type settings struct {
	now         func() time.Time
	log         *slog.Logger
	schedule    func(string) rotation.ReminderSchedule
	backoff     func(int) time.Duration
	interval    time.Duration
	maxAttempts int
	lease       time.Duration
	sendTimeout time.Duration
	tickTimeout time.Duration
	batchSize   int
}

func (s *Scheduler) settings() (settings, error) {
	switch {
	case s.Store == nil:
		return settings{}, errors.New("reminder scheduler has no store")
	case s.Sender == nil:
		return settings{}, errors.New("reminder scheduler has no sender")
	case s.Channels == nil:
		return settings{}, errors.New("reminder scheduler has no channel list")
	}

	c := settings{
		now: s.Now, log: s.Logger, schedule: s.Schedule, backoff: s.Backoff,
		interval: s.Interval, maxAttempts: s.MaxAttempts, lease: s.Lease,
		sendTimeout: s.SendTimeout, tickTimeout: s.TickTimeout, batchSize: s.BatchSize,
	}

	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.schedule == nil {
		c.schedule = func(string) rotation.ReminderSchedule { return rotation.DefaultReminderSchedule() }
	}
	if c.backoff == nil {
		c.backoff = DefaultBackoff
	}
	c.interval = cmpOr(c.interval, DefaultInterval)
	c.maxAttempts = cmpOr(c.maxAttempts, DefaultMaxAttempts)
	c.lease = cmpOr(c.lease, DefaultLease)
	c.sendTimeout = cmpOr(c.sendTimeout, DefaultSendTimeout)
	c.tickTimeout = cmpOr(c.tickTimeout, DefaultTickTimeout)
	c.batchSize = cmpOr(c.batchSize, DefaultBatchSize)

	if c.lease <= c.sendTimeout {
		return settings{}, fmt.Errorf("reminder lease %v must be longer than the send timeout %v", c.lease, c.sendTimeout)
	}
	return c, nil
}

// cmpOr returns v, or def when v is zero or negative.
func cmpOr[T time.Duration | int](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// DefaultBackoff waits one minute after the first failed attempt and
// doubles the wait with each further one, up to one hour.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Minute
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Start runs a tick at once and then every Interval, in the background,
// until ctx ends or Stop is called. Each tick gets TickTimeout. Errors are
// logged, except those of a cancelled context. Start does nothing when the
// scheduler was started or stopped before, or lacks a required field (it
// logs why).
func (s *Scheduler) Start(ctx context.Context) {
	cfg, err := s.settings()
	if err != nil {
		if s.Logger != nil {
			s.Logger.Error("start reminder scheduler", "error", err)
		}
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return
	}
	s.state = stateRunning
	s.stopped, s.done = make(chan struct{}), make(chan struct{})
	go s.loop(ctx, cfg, s.stopped, s.done)
}

func (s *Scheduler) loop(ctx context.Context, cfg settings, stopped <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ticker := time.NewTicker(cfg.interval)
	defer ticker.Stop()
	for {
		tctx, cancel := context.WithTimeout(ctx, cfg.tickTimeout)
		err := s.Tick(tctx)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			cfg.log.Error("reminder tick", "error", err)
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

// Stop ends the loop and waits for it. A tick in progress finishes the send
// it is in, hands its other claimed reminders back for the next scheduler
// and returns. Stop is safe to call more than once, and before Start; after
// it, Start does nothing.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	if s.state == stateRunning {
		close(s.stopped)
	}
	s.state = stateStopped
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (s *Scheduler) stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateStopped
}

// Tick plans the reminders that are due and sends the ones it claims, at
// most BatchSize. Tests call it directly. It returns the errors of
// planning, claiming and recording. A failed send is not an error of the
// tick: it is recorded with the reminder, retried after Backoff and logged.
func (s *Scheduler) Tick(ctx context.Context) error {
	cfg, err := s.settings()
	if err != nil {
		return err
	}
	planErr := s.plan(ctx, cfg)
	sendErr := s.sendClaimed(ctx, cfg)
	return errors.Join(planErr, sendErr)
}

// plan inserts every reminder that is due now and was not planned before.
// The store hands over only the credentials whose next reminder time has
// passed, read from an index, so a tick costs in proportion to the
// reminders due, not to the credentials. Each credential's next reminder
// time is stored with its reminders. Inserts ignore rows that exist, so
// schedulers that plan the same credential one after another insert each
// reminder once.
func (s *Scheduler) plan(ctx context.Context, cfg settings) error {
	now := cfg.now()
	var errs []error
	planOne := func(c rotation.Credential) rotation.ReminderPlan {
		sched := cfg.schedule(c.ID)
		if err := sched.Validate(); err != nil {
			// Look again at the next tick, and report the error each time.
			errs = append(errs, fmt.Errorf("reminder schedule of credential %s: %w", c.ID, err))
			return rotation.ReminderPlan{NextAt: now.Add(cfg.interval)}
		}
		channels := s.Channels(c.ID)
		return rotation.ReminderPlan{
			Reminders: rotation.RemindersDue(c, sched, channels, now),
			NextAt:    rotation.NextReminderAt(c, sched, channels, now),
		}
	}

	for {
		// Each batch moves the next reminder time of every credential it
		// plans past now, so the loop ends once all due ones are planned.
		n, err := s.Store.PlanDueReminders(ctx, now, planBatchSize, planOne)
		if err != nil {
			errs = append(errs, fmt.Errorf("plan reminders: %w", err))
			break
		}
		if n < planBatchSize {
			break
		}
	}
	return errors.Join(errs...)
}

// sendClaimed claims one batch and delivers it in order. When Stop is
// called or ctx ends, it hands back the reminders it has not started.
func (s *Scheduler) sendClaimed(ctx context.Context, cfg settings) error {
	claimed, err := s.Store.ClaimReminders(ctx, cfg.lease, cfg.batchSize)
	if err != nil {
		return fmt.Errorf("claim reminders: %w", err)
	}
	var errs []error
	for i, r := range claimed {
		if s.stopping() || ctx.Err() != nil {
			for _, rest := range claimed[i:] {
				errs = append(errs, s.release(ctx, cfg, rest))
			}
			break
		}
		errs = append(errs, s.deliver(ctx, cfg, r))
	}
	return errors.Join(errs...)
}

// deliver sends one claimed reminder, unless it should not go out any
// more, and records the outcome.
func (s *Scheduler) deliver(ctx context.Context, cfg settings, r rotation.Reminder) error {
	key := r.IdempotencyKey()
	log := cfg.log.With("credential_id", r.CredentialID, "channel", r.Channel, "due_at", r.DueAt,
		"before_due", rotation.DescribeOffset(r.BeforeDue), "attempt", r.Attempts, "idempotency_key", key)

	if r.Attempts > cfg.maxAttempts {
		// Only an expired lease gets a reminder here: the last attempt's
		// scheduler died or hung, and whether it sent is unknown.
		msg := fmt.Sprintf("the lease of attempt %d expired before its outcome was recorded, and no attempts are left", r.Attempts-1)
		log.Error("reminder failed", "error", msg)
		return s.finish(ctx, log, r, rotation.ReminderOutcome{Status: rotation.ReminderFailed, Error: msg})
	}
	if now := cfg.now(); now.Add(cfg.sendTimeout).After(r.LeaseUntil) {
		// Too little of the lease is left to send within it, because the
		// batch took long: another scheduler could take over mid-send.
		return s.release(ctx, cfg, r)
	}

	cred, err := s.Store.GetCredential(ctx, r.CredentialID)
	if err != nil {
		return errors.Join(fmt.Errorf("read credential %s for reminder: %w", r.CredentialID, err), s.release(ctx, cfg, r))
	}
	if reason := skipReason(cred, r); reason != "" {
		log.Info("reminder skipped", "reason", reason)
		return s.finish(ctx, log, r, rotation.ReminderOutcome{Status: rotation.ReminderSkipped, SkipReason: reason})
	}

	sctx, cancel := context.WithTimeout(ctx, cfg.sendTimeout)
	err = s.Sender.Send(sctx, r.Channel, NewMessage(cred, r.ReminderKey), key)
	cancel()

	switch {
	case err == nil:
		log.Info("reminder sent")
		return s.finish(ctx, log, r, rotation.ReminderOutcome{Status: rotation.ReminderSent})
	case ctx.Err() != nil:
		// Shutting down or out of tick time: the next scheduler tries
		// again, with the same idempotency key in case this one arrived.
		log.Info("reminder send interrupted; it will be retried", "error", errorText(err))
		return s.finish(ctx, log, r, rotation.ReminderOutcome{Status: rotation.ReminderPending, Error: errorText(err)})
	case r.Attempts >= cfg.maxAttempts || errors.Is(err, ErrPermanent):
		log.Error("reminder failed", "error", errorText(err), "attempts", r.Attempts, "permanent", errors.Is(err, ErrPermanent))
		return s.finish(ctx, log, r, rotation.ReminderOutcome{Status: rotation.ReminderFailed, Error: errorText(err)})
	default:
		delay := cfg.backoff(r.Attempts)
		var hint *RetryAfterError
		if errors.As(err, &hint) && hint.After > delay {
			delay = hint.After
		}
		log.Warn("reminder send failed; it will be retried", "error", errorText(err), "retry_in", delay.String())
		return s.finish(ctx, log, r, rotation.ReminderOutcome{Status: rotation.ReminderPending, Error: errorText(err), RetryAfter: delay})
	}
}

// skipReason returns why a claimed reminder must not go out any more, or
// "" when it still applies.
func skipReason(c rotation.Credential, r rotation.Reminder) string {
	if c.OpenRotationID != "" {
		return fmt.Sprintf("rotation %s of the credential was open when the reminder was due", c.OpenRotationID)
	}
	if due := c.NextDueAt().Truncate(time.Microsecond); !due.Equal(r.DueAt) {
		return fmt.Sprintf("the credential's due date moved to %s", due.Format(time.RFC3339))
	}
	return ""
}

// release hands a claimed reminder back as pending at once, for this or
// another scheduler's next tick. The attempt still counts.
func (s *Scheduler) release(ctx context.Context, cfg settings, r rotation.Reminder) error {
	log := cfg.log.With("credential_id", r.CredentialID, "channel", r.Channel, "attempt", r.Attempts)
	return s.finish(ctx, log, r, rotation.ReminderOutcome{Status: rotation.ReminderPending})
}

// finish records an outcome on a context that survives the tick's
// cancellation. A claim that another scheduler took over is logged, not
// returned: the reminder is in that scheduler's hands.
func (s *Scheduler) finish(ctx context.Context, log *slog.Logger, r rotation.Reminder, o rotation.ReminderOutcome) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	err := s.Store.FinishReminder(fctx, r, o)
	if errors.Is(err, rotation.ErrConflict) {
		log.Warn("reminder claim lost to another scheduler before its outcome was recorded", "outcome", string(o.Status), "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record reminder %s as %s: %w", r.ReminderKey, o.Status, err)
	}
	return nil
}
