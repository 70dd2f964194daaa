package rotation

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Day is 24 hours. Reminder offsets and rotation periods are exact
// durations in UTC, so a reminder "7 days before" is 7 × 24 h before the
// due date whatever daylight saving time does in the operator's zone.
const Day = 24 * time.Hour

// ReminderStatus is the stage a reminder is in. The legal moves are
//
//	pending → sending → sent | failed | pending (retry)
//	sending → sending (the lease expired and another scheduler claimed it)
//	pending | sending → skipped
//
// and a row is planned as pending or skipped.
type ReminderStatus string

const (
	// ReminderPending: planned and not yet sent. A scheduler claims it
	// once NextAttemptAt has passed. Entered by planning or by a failed
	// attempt with attempts left.
	ReminderPending ReminderStatus = "pending"

	// ReminderSending: a scheduler claimed it and holds a lease until
	// LeaseUntil. Left by the scheduler's outcome, or by another claim
	// after the lease expired.
	ReminderSending ReminderStatus = "sending"

	// ReminderSent: the channel accepted the message. Terminal.
	ReminderSent ReminderStatus = "sent"

	// ReminderFailed: every attempt failed, or the last attempt's lease
	// expired with no attempts left. Terminal; counted on the dashboard.
	ReminderFailed ReminderStatus = "failed"

	// ReminderSkipped: recorded for the credential's history and never
	// sent, such as a reminder missed while rotor was down and replaced by
	// a later one, or one whose credential got a rotation before it went
	// out. Terminal.
	ReminderSkipped ReminderStatus = "skipped"
)

// Terminal reports whether no scheduler will touch a reminder in s again.
func (s ReminderStatus) Terminal() bool {
	return s == ReminderSent || s == ReminderFailed || s == ReminderSkipped
}

// ReminderKey identifies one reminder. The stores keep one row per key, so
// each credential, due date, offset and channel has one reminder.
type ReminderKey struct {
	CredentialID string
	DueAt        time.Time // the credential's NextDueAt when planned, UTC

	// BeforeDue is how long before DueAt the reminder is for: 0 at the due
	// date, negative for the reminders repeated while overdue.
	BeforeDue time.Duration

	Channel string
}

// SendAt returns when the reminder becomes due to send: DueAt − BeforeDue.
func (k ReminderKey) SendAt() time.Time { return k.DueAt.Add(-k.BeforeDue) }

// IdempotencyKey returns a stable hex string derived from the key alone. A
// message sent again after a crash carries the same key, so a receiver that
// deduplicates (a signed webhook) can drop the copy.
func (k ReminderKey) IdempotencyKey() string {
	sum := sha256.Sum256(fmt.Appendf(nil, "rotor-reminder|%q|%s|%d|%q",
		k.CredentialID, k.DueAt.UTC().Format(time.RFC3339Nano), k.BeforeDue.Microseconds(), k.Channel))
	return hex.EncodeToString(sum[:16])
}

func (k ReminderKey) String() string {
	return fmt.Sprintf("%s due %s %s via %s", k.CredentialID, k.DueAt.UTC().Format(time.RFC3339), DescribeOffset(k.BeforeDue), k.Channel)
}

// Reminder is one planned message about a credential's due date on one
// channel, and what became of it. It never holds a secret.
type Reminder struct {
	ReminderKey

	Status   ReminderStatus
	Attempts int // claims so far, including those whose lease expired

	// NextAttemptAt is the earliest time a scheduler may claim the
	// reminder: its send or retry time while pending, the lease's end
	// while sending. Zero once terminal.
	NextAttemptAt time.Time
	LeaseUntil    time.Time // set while sending

	LastError  string // the latest send error, already stripped of secrets
	SkipReason string // set when skipped

	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time // when it became sent, failed or skipped
}

// ReminderOutcome is the result a scheduler records for a reminder it
// claimed.
type ReminderOutcome struct {
	// Status is ReminderSent, ReminderFailed, ReminderSkipped, or
	// ReminderPending to try again after RetryAfter.
	Status ReminderStatus

	// Error is the send error for a retry or a failure, stripped of
	// secrets by the caller. A retry with no Error keeps the last one.
	Error string

	SkipReason string        // required when skipped
	RetryAfter time.Duration // for pending: how long until the next attempt
}

// ReminderStore persists reminders. Both rotation stores implement it and
// pass the same contract suite (rotation/storetest). The store stamps every
// time from its own clock, once per call.
//
// Errors: ErrNotFound for an unknown credential or reminder, ErrConflict
// when a scheduler reports on a claim it no longer holds, ErrInvalid for a
// reminder or outcome that breaks the rules below.
type ReminderStore interface {
	// PlanReminders inserts each reminder that does not exist yet, as
	// pending (claimable from its SendAt) or skipped (with a SkipReason),
	// and leaves existing ones untouched, whatever their status. Only the
	// key, Status and SkipReason of each reminder are read.
	//
	// In the same call, a pending reminder becomes skipped when a later
	// reminder for the same credential, due date and channel exists, is
	// not skipped itself, and has a send time that has passed. So after
	// downtime only the latest reminder goes out.
	PlanReminders(ctx context.Context, rs []Reminder) error

	// PlanDueReminders plans, in one transaction, up to limit credentials
	// whose next planning time is at or before now, earliest first. It
	// calls plan once for each, with OpenRotationID set, inserts the
	// reminders that plan returns as PlanReminders does, and stores NextAt
	// as the credential's next planning time. It returns the number of
	// credentials planned; fewer than limit means none was left but those
	// that concurrent callers hold. Concurrent callers, in any number of
	// processes, never plan one credential at the same time: the Postgres
	// store skips the rows another caller has locked.
	//
	// A credential needs planning at once when it is new, when its due
	// date changes, when a rotation of it ends, and after each
	// SyncCredentials, because the configuration may have changed its
	// reminder schedule or channels.
	//
	// plan must not call the store. A reminder for another credential, an
	// invalid reminder or a NextAt not after now is ErrInvalid, and then
	// nothing is planned.
	PlanDueReminders(ctx context.Context, now time.Time, limit int, plan func(Credential) ReminderPlan) (int, error)

	// ClaimReminders moves up to limit claimable reminders to
	// ReminderSending with a lease of the given length, adds one to their
	// Attempts and returns them, earliest NextAttemptAt first. Claimable
	// means pending with NextAttemptAt passed, or sending with its lease
	// expired. Concurrent calls, from any number of processes, never
	// return the same reminder while its lease holds.
	ClaimReminders(ctx context.Context, lease time.Duration, limit int) ([]Reminder, error)

	// FinishReminder records the outcome of the claim r came from. The
	// claim must still hold: the reminder is sending with r.Attempts
	// attempts. Otherwise, because its lease expired and another scheduler
	// claimed it, or it was finished, the result is ErrConflict and nothing
	// changes. A claim whose lease expired can still finish while no other
	// scheduler has claimed the reminder.
	FinishReminder(ctx context.Context, r Reminder, o ReminderOutcome) error

	// ListReminders returns a credential's reminders in every status, by
	// due date, then send time, then channel.
	ListReminders(ctx context.Context, credentialID string) ([]Reminder, error)

	// CountFailedReminders returns the number of failed reminders per
	// credential id, for credentials that have any.
	CountFailedReminders(ctx context.Context) (map[string]int, error)
}

// ReminderPlan is a scheduler's plan for one credential at one moment.
type ReminderPlan struct {
	// Reminders are inserted as ReminderStore.PlanReminders inserts them.
	Reminders []Reminder

	// NextAt is when the credential needs planning again if nothing about
	// it changes: the send time of its next reminder. Zero when no
	// reminder comes due until the credential changes.
	NextAt time.Time
}

// CheckReminderPlanFor reports the first rule that p, planned for c at
// now, breaks. Both stores call it from PlanDueReminders.
func CheckReminderPlanFor(c Credential, p ReminderPlan, now time.Time) error {
	if !p.NextAt.IsZero() && !p.NextAt.After(now) {
		return fmt.Errorf("plan reminders of credential %s: next planning time %s is not after %s: %w",
			c.ID, p.NextAt.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano), ErrInvalid)
	}
	for _, r := range p.Reminders {
		if r.CredentialID != c.ID {
			return fmt.Errorf("plan reminders of credential %s: reminder %s is for another credential: %w", c.ID, r.ReminderKey, ErrInvalid)
		}
		if err := CheckReminderPlan(r); err != nil {
			return err
		}
	}
	return nil
}

// ReminderSchedule is when a credential's reminders fall due.
type ReminderSchedule struct {
	// Before lists how long before the due date a reminder goes out; 0 is
	// the due date itself. Negative and duplicate offsets are invalid.
	Before []time.Duration

	// OverdueEvery repeats a reminder this often once the due date has
	// passed: at due + OverdueEvery, due + 2 × OverdueEvery, and so on.
	// 0 means no repeats.
	OverdueEvery time.Duration
}

// DefaultReminderSchedule returns 14, 7 and 1 days before the due date, the
// due date, then every 7 days while overdue.
func DefaultReminderSchedule() ReminderSchedule {
	return ReminderSchedule{
		Before:       []time.Duration{14 * Day, 7 * Day, 1 * Day, 0},
		OverdueEvery: 7 * Day,
	}
}

// Validate reports the first rule that s breaks.
func (s ReminderSchedule) Validate() error {
	seen := make(map[time.Duration]bool, len(s.Before))
	for _, b := range s.Before {
		switch {
		case b < 0:
			return fmt.Errorf("reminder offset %v is negative; use the overdue interval for reminders after the due date: %w", b, ErrInvalid)
		case seen[b]:
			return fmt.Errorf("reminder offset %v is listed twice: %w", b, ErrInvalid)
		}
		seen[b] = true
	}
	if s.OverdueEvery < 0 {
		return fmt.Errorf("overdue reminder interval %v is negative: %w", s.OverdueEvery, ErrInvalid)
	}
	return nil
}

// Due returns the offset of the latest reminder whose send time is at or
// before now, for a due date, and the offsets of the earlier ones, earliest
// first. ok is false when no reminder is due yet. Offsets are as in
// ReminderKey.BeforeDue. The schedule must be valid.
func (s ReminderSchedule) Due(dueAt, now time.Time) (latest time.Duration, earlier []time.Duration, ok bool) {
	var reached []time.Duration
	for _, b := range s.Before {
		if !dueAt.Add(-b).After(now) {
			reached = append(reached, b)
		}
	}
	if s.OverdueEvery > 0 && now.After(dueAt) {
		repeats := now.Sub(dueAt) / s.OverdueEvery
		for i := time.Duration(1); i <= repeats; i++ {
			reached = append(reached, -i*s.OverdueEvery)
		}
	}
	if len(reached) == 0 {
		return 0, nil, false
	}
	// Earliest send time first: the largest offset before the due date.
	slices.SortFunc(reached, func(a, b time.Duration) int { return cmp.Compare(b, a) })
	latest, earlier = reached[len(reached)-1], reached[:len(reached)-1]
	if len(earlier) == 0 {
		earlier = nil
	}
	return latest, earlier, true
}

// Next returns the earliest send time after now of a reminder for a due
// date. ok is false when none is left: every offset before the due date
// has passed and there are no overdue repeats. The schedule must be valid.
func (s ReminderSchedule) Next(dueAt, now time.Time) (next time.Time, ok bool) {
	for _, b := range s.Before {
		if at := dueAt.Add(-b); at.After(now) && (!ok || at.Before(next)) {
			next, ok = at, true
		}
	}
	if s.OverdueEvery > 0 {
		// The first repeat after now, counted as Due counts them.
		n := time.Duration(1)
		if now.After(dueAt) {
			n = now.Sub(dueAt)/s.OverdueEvery + 1
		}
		if at := dueAt.Add(n * s.OverdueEvery); !ok || at.Before(next) {
			next, ok = at, true
		}
	}
	return next, ok
}

// SkipMissed is the SkipReason of a reminder that came due while no
// scheduler ran and that a later reminder replaces.
const SkipMissed = "missed while rotor was not running; a later reminder replaced it"

// SkipSuperseded is the SkipReason of a pending reminder that a later
// reminder for the same credential, due date and channel replaced before
// it went out, such as one waiting to retry.
const SkipSuperseded = "a later reminder replaced it before it went out"

// RemindersDue returns the reminders that are due for c at now on each
// channel, for ReminderStore.PlanReminders: the latest due one as pending
// and the earlier ones as skipped with SkipMissed. Earlier reminders that
// were planned already stay as they are, because planning never changes an
// existing row. A credential with an open rotation gets none: the operator
// is already at work. The due date is c.NextDueAt, the one rule the UI and
// the API show too.
func RemindersDue(c Credential, s ReminderSchedule, channels []string, now time.Time) []Reminder {
	if c.OpenRotationID != "" || len(channels) == 0 {
		return nil
	}
	dueAt := c.NextDueAt().Truncate(time.Microsecond)
	latest, earlier, ok := s.Due(dueAt, now)
	if !ok {
		return nil
	}
	var out []Reminder
	for _, ch := range channels {
		for _, b := range earlier {
			out = append(out, Reminder{
				ReminderKey: ReminderKey{CredentialID: c.ID, DueAt: dueAt, BeforeDue: b, Channel: ch},
				Status:      ReminderSkipped, SkipReason: SkipMissed,
			})
		}
		out = append(out, Reminder{
			ReminderKey: ReminderKey{CredentialID: c.ID, DueAt: dueAt, BeforeDue: latest, Channel: ch},
			Status:      ReminderPending,
		})
	}
	return out
}

// NextReminderAt returns when RemindersDue for c next returns a reminder
// it did not return at now, if c does not change: the send time of its
// next reminder. It returns the zero time when that never happens while c
// stays as it is, because a rotation is open, c has no channels or no
// reminder is left. A change of the due date or the end of the rotation
// makes the stores plan c again at once.
func NextReminderAt(c Credential, s ReminderSchedule, channels []string, now time.Time) time.Time {
	if c.OpenRotationID != "" || len(channels) == 0 {
		return time.Time{}
	}
	next, ok := s.Next(c.NextDueAt().Truncate(time.Microsecond), now)
	if !ok {
		return time.Time{}
	}
	return next
}

// DescribeOffset returns an offset as people read it: "14 days before the
// due date", "at the due date", "7 days overdue". Offsets that are not
// whole days are shown in hours.
func DescribeOffset(beforeDue time.Duration) string {
	if beforeDue == 0 {
		return "at the due date"
	}
	d := beforeDue
	if d < 0 {
		d = -d
	}
	var amount string
	switch {
	case d == Day:
		amount = "1 day"
	case d%Day == 0:
		amount = fmt.Sprintf("%d days", d/Day)
	case d == time.Hour:
		amount = "1 hour"
	case d%time.Hour == 0:
		amount = fmt.Sprintf("%d hours", d/time.Hour)
	default:
		amount = d.String()
	}
	if beforeDue < 0 {
		return amount + " overdue"
	}
	return amount + " before the due date"
}

// CheckReminderPlan reports the first rule that a reminder given to
// ReminderStore.PlanReminders breaks. Both stores call it.
func CheckReminderPlan(r Reminder) error {
	switch {
	case r.CredentialID == "":
		return fmt.Errorf("plan reminder: no credential: %w", ErrInvalid)
	case r.Channel == "" || len(r.Channel) > 200:
		return fmt.Errorf("plan reminder %s: channel name must be 1 to 200 bytes: %w", r.ReminderKey, ErrInvalid)
	case r.DueAt.IsZero():
		return fmt.Errorf("plan reminder %s: no due date: %w", r.ReminderKey, ErrInvalid)
	case r.Status == ReminderPending && r.SkipReason != "":
		return fmt.Errorf("plan reminder %s: a pending reminder has no skip reason: %w", r.ReminderKey, ErrInvalid)
	case r.Status == ReminderSkipped && r.SkipReason == "":
		return fmt.Errorf("plan reminder %s: a skipped reminder needs a reason: %w", r.ReminderKey, ErrInvalid)
	case r.Status != ReminderPending && r.Status != ReminderSkipped:
		return fmt.Errorf("plan reminder %s: status %q; only pending and skipped can be planned: %w", r.ReminderKey, r.Status, ErrInvalid)
	}
	return nil
}

// CheckReminderOutcome reports the first rule that an outcome given to
// ReminderStore.FinishReminder breaks. Both stores call it.
func CheckReminderOutcome(o ReminderOutcome) error {
	switch o.Status {
	case ReminderSent:
	case ReminderPending:
		if o.RetryAfter < 0 {
			return fmt.Errorf("finish reminder: negative retry delay %v: %w", o.RetryAfter, ErrInvalid)
		}
	case ReminderFailed:
		if o.Error == "" {
			return fmt.Errorf("finish reminder: a failure needs its error: %w", ErrInvalid)
		}
	case ReminderSkipped:
		if o.SkipReason == "" {
			return fmt.Errorf("finish reminder: a skip needs a reason: %w", ErrInvalid)
		}
	default:
		return fmt.Errorf("finish reminder: outcome %q is not sent, failed, skipped or pending: %w", o.Status, ErrInvalid)
	}
	return nil
}
