package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

// reminderRow is one stored reminder; seq orders rows planned in the same
// instant, as the Postgres store's identity column does.
type reminderRow struct {
	rotation.Reminder
	seq int64
}

// rowKey is a reminder's key in a comparable form: time.Time values that
// denote the same instant can differ under ==.
type rowKey struct {
	credentialID string
	dueAt        int64 // Unix microseconds
	beforeDue    time.Duration
	channel      string
}

func keyOf(k rotation.ReminderKey) rowKey {
	return rowKey{k.CredentialID, k.DueAt.UnixMicro(), k.BeforeDue, k.Channel}
}

// reminderTable is a Store's reminders. Every access holds the Store's
// mutex, as the Store's own maps do.
type reminderTable struct {
	rows    map[rowKey]*reminderRow
	lastSeq int64

	// planned holds each credential's next planning time, as the Postgres
	// column credentials.next_reminder_at does. A credential without an
	// entry needs planning at once.
	planned map[string]nextPlan
}

// nextPlan is a credential's next planning time.
type nextPlan struct {
	at    time.Time
	never bool // no planning until the credential changes
}

// reminders returns s's reminder table, creating it on first use. The
// caller holds s.mu.
func (s *Store) reminders() *reminderTable {
	if s.reminderRows == nil {
		s.reminderRows = &reminderTable{rows: make(map[rowKey]*reminderRow), planned: make(map[string]nextPlan)}
	}
	return s.reminderRows
}

// planAtOnce makes PlanDueReminders plan the credential at its next call.
// The caller holds s.mu.
func (s *Store) planAtOnce(credentialID string) {
	if s.reminderRows != nil {
		delete(s.reminderRows.planned, credentialID)
	}
}

func (s *Store) PlanReminders(ctx context.Context, rs []rotation.Reminder) error {
	for _, r := range rs {
		if err := rotation.CheckReminderPlan(r); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	// Check every credential first, so that an unknown one plans nothing,
	// as the Postgres store's rolled-back transaction does.
	for _, r := range rs {
		if _, ok := s.credentials[r.CredentialID]; !ok {
			return fmt.Errorf("plan reminder %s: credential %s: %w", r.ReminderKey, r.CredentialID, rotation.ErrNotFound)
		}
	}

	s.insertReminders(rs, s.stamp())
	return nil
}

// insertReminders is PlanReminders after its checks. The caller holds s.mu.
func (s *Store) insertReminders(rs []rotation.Reminder, now time.Time) {
	t := s.reminders()
	planned := make(map[string]bool)
	for _, r := range rs {
		planned[r.CredentialID] = true
		r.DueAt = r.DueAt.UTC().Truncate(time.Microsecond)
		r.BeforeDue = r.BeforeDue.Truncate(time.Microsecond)
		k := keyOf(r.ReminderKey)
		if _, ok := t.rows[k]; ok {
			continue
		}
		t.lastSeq++
		row := &reminderRow{seq: t.lastSeq, Reminder: rotation.Reminder{
			ReminderKey: r.ReminderKey, Status: r.Status, SkipReason: r.SkipReason,
			CreatedAt: now, UpdatedAt: now,
		}}
		if r.Status == rotation.ReminderPending {
			row.NextAttemptAt = r.SendAt()
		} else {
			row.FinishedAt = now
		}
		t.rows[k] = row
	}

	for _, earlier := range t.rows {
		if earlier.Status != rotation.ReminderPending || !planned[earlier.CredentialID] {
			continue
		}
		for _, later := range t.rows {
			if later.CredentialID == earlier.CredentialID && later.DueAt.Equal(earlier.DueAt) &&
				later.Channel == earlier.Channel && later.SendAt().After(earlier.SendAt()) &&
				!later.SendAt().After(now) && later.Status != rotation.ReminderSkipped {
				earlier.Status, earlier.SkipReason = rotation.ReminderSkipped, rotation.SkipSuperseded
				earlier.NextAttemptAt, earlier.FinishedAt, earlier.UpdatedAt = time.Time{}, now, now
				break
			}
		}
	}
}

// PlanDueReminders holds the store's mutex while plan runs, which is why
// plan must not call the store.
func (s *Store) PlanDueReminders(ctx context.Context, now time.Time, limit int, plan func(rotation.Credential) rotation.ReminderPlan) (int, error) {
	if limit < 1 || plan == nil {
		return 0, fmt.Errorf("plan due reminders: limit %d must be positive and plan set: %w", limit, rotation.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	now = now.UTC().Truncate(time.Microsecond)
	t := s.reminders()
	type due struct {
		cred rotation.Credential
		at   time.Time // zero when the credential needs planning at once
	}
	var candidates []due
	for id, c := range s.credentials {
		next, ok := t.planned[id]
		if ok && (next.never || next.at.After(now)) {
			continue
		}
		candidates = append(candidates, due{cred: c, at: next.at})
	}
	slices.SortFunc(candidates, func(a, b due) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.cred.ID, b.cred.ID))
	})
	if len(candidates) > limit {
		candidates = candidates[:limit]
	}

	// Check every plan before changing anything, as the Postgres store's
	// rolled-back transaction does.
	var (
		reminders []rotation.Reminder
		nexts     = make(map[string]nextPlan, len(candidates))
	)
	for _, d := range candidates {
		c := s.withOpen(d.cred)
		p := plan(c)
		if err := rotation.CheckReminderPlanFor(c, p, now); err != nil {
			return 0, err
		}
		reminders = append(reminders, p.Reminders...)
		nexts[c.ID] = nextPlan{at: ceilMicro(p.NextAt), never: p.NextAt.IsZero()}
	}
	s.insertReminders(reminders, s.stamp())
	for id, next := range nexts {
		t.planned[id] = next
	}
	return len(candidates), nil
}

// ceilMicro rounds t up to Postgres's microsecond precision, so a stored
// planning time is never before the send time it stands for.
func ceilMicro(t time.Time) time.Time {
	if u := t.Truncate(time.Microsecond); u.Before(t) {
		return u.Add(time.Microsecond)
	}
	return t
}

func (s *Store) ClaimReminders(ctx context.Context, lease time.Duration, limit int) ([]rotation.Reminder, error) {
	if lease <= 0 || limit <= 0 {
		return nil, fmt.Errorf("claim reminders: lease %v and limit %d must be positive: %w", lease, limit, rotation.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	now := s.stamp()
	leaseUntil := now.Add(lease).Truncate(time.Microsecond)
	var claimable []*reminderRow
	for _, row := range s.reminders().rows {
		if (row.Status == rotation.ReminderPending || row.Status == rotation.ReminderSending) && !row.NextAttemptAt.After(now) {
			claimable = append(claimable, row)
		}
	}
	slices.SortFunc(claimable, func(a, b *reminderRow) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.seq, b.seq))
	})
	if len(claimable) > limit {
		claimable = claimable[:limit]
	}

	out := make([]rotation.Reminder, 0, len(claimable))
	for _, row := range claimable {
		row.Status = rotation.ReminderSending
		row.Attempts++
		row.LeaseUntil, row.NextAttemptAt, row.UpdatedAt = leaseUntil, leaseUntil, now
		out = append(out, row.Reminder)
	}
	slices.SortFunc(out, func(a, b rotation.Reminder) int {
		return cmp.Or(a.SendAt().Compare(b.SendAt()), compareKeys(a, b))
	})
	return out, nil
}

func compareKeys(a, b rotation.Reminder) int {
	return cmp.Or(
		cmp.Compare(a.CredentialID, b.CredentialID),
		a.DueAt.Compare(b.DueAt),
		cmp.Compare(b.BeforeDue, a.BeforeDue),
		cmp.Compare(a.Channel, b.Channel))
}

func (s *Store) FinishReminder(ctx context.Context, r rotation.Reminder, o rotation.ReminderOutcome) error {
	if err := rotation.CheckReminderOutcome(o); err != nil {
		return fmt.Errorf("finish reminder %s: %w", r.ReminderKey, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	row, ok := s.reminders().rows[keyOf(r.ReminderKey)]
	if !ok {
		return fmt.Errorf("finish reminder %s: %w", r.ReminderKey, rotation.ErrNotFound)
	}
	if row.Status != rotation.ReminderSending || row.Attempts != r.Attempts {
		return fmt.Errorf("finish reminder %s: it is %s after %d attempts, not sending after %d: %w",
			r.ReminderKey, row.Status, row.Attempts, r.Attempts, rotation.ErrConflict)
	}

	now := s.stamp()
	row.Status, row.LeaseUntil, row.NextAttemptAt, row.UpdatedAt = o.Status, time.Time{}, time.Time{}, now
	if o.Error != "" {
		row.LastError = o.Error
	}
	row.SkipReason = ""
	switch o.Status {
	case rotation.ReminderPending:
		row.NextAttemptAt = now.Add(o.RetryAfter).Truncate(time.Microsecond)
	case rotation.ReminderSkipped:
		row.SkipReason, row.FinishedAt = o.SkipReason, now
	default:
		row.FinishedAt = now
	}
	return nil
}

func (s *Store) ListReminders(ctx context.Context, credentialID string) ([]rotation.Reminder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var out []rotation.Reminder
	for _, row := range s.reminders().rows {
		if row.CredentialID == credentialID {
			out = append(out, row.Reminder)
		}
	}
	slices.SortFunc(out, func(a, b rotation.Reminder) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), a.SendAt().Compare(b.SendAt()), cmp.Compare(a.Channel, b.Channel))
	})
	return out, nil
}

func (s *Store) CountFailedReminders(ctx context.Context) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	out := make(map[string]int)
	for _, row := range s.reminders().rows {
		if row.Status == rotation.ReminderFailed {
			out[row.CredentialID]++
		}
	}
	return out, nil
}

var _ rotation.ReminderStore = (*Store)(nil)
