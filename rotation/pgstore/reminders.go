package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotorhq/rotor/rotation"
)

const reminderColumns = `credential_id, due_at, before_due, channel, status, attempts,
	next_attempt_at, lease_until, last_error, skip_reason, created_at, updated_at, finished_at`

func scanReminder(row pgx.Row) (rotation.Reminder, error) {
	var (
		r                            rotation.Reminder
		beforeDue                    int64
		status                       string
		nextAttempt, lease, finished *time.Time
		skipReason                   *string
	)
	err := row.Scan(&r.CredentialID, &r.DueAt, &beforeDue, &r.Channel, &status, &r.Attempts,
		&nextAttempt, &lease, &r.LastError, &skipReason, &r.CreatedAt, &r.UpdatedAt, &finished)
	if err != nil {
		return rotation.Reminder{}, err
	}
	r.BeforeDue = time.Duration(beforeDue) * time.Microsecond
	r.Status = rotation.ReminderStatus(status)
	r.DueAt = r.DueAt.UTC()
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.NextAttemptAt, r.LeaseUntil, r.FinishedAt = timeOrZero(nextAttempt), timeOrZero(lease), timeOrZero(finished)
	r.SkipReason = deref(skipReason)
	return r, nil
}

func collectReminders(rows pgx.Rows) ([]rotation.Reminder, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (rotation.Reminder, error) { return scanReminder(row) })
}

// PlanReminders inserts the reminders with ON CONFLICT DO NOTHING, in key
// order so that concurrent planners wait on each other instead of
// deadlocking, then skips the pending reminders that a later one replaces.
func (s *Store) PlanReminders(ctx context.Context, rs []rotation.Reminder) error {
	for _, r := range rs {
		if err := rotation.CheckReminderPlan(r); err != nil {
			return err
		}
	}
	if len(rs) == 0 {
		return nil
	}
	now := s.stamp()
	return s.inTx(ctx, func(tx pgx.Tx) error { return insertReminders(ctx, tx, rs, now) })
}

// insertReminders is PlanReminders after its checks, in tx. One INSERT
// takes every reminder, as arrays, in key order.
func insertReminders(ctx context.Context, tx pgx.Tx, rs []rotation.Reminder, now time.Time) error {
	if len(rs) == 0 {
		return nil
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, compareKeys)
	var (
		credentialIDs []string // each once, for the UPDATE below
		n             = len(sorted)
		ids           = make([]string, n)
		dueAts        = make([]time.Time, n)
		beforeDues    = make([]int64, n)
		channels      = make([]string, n)
		statuses      = make([]string, n)
		sendAts       = make([]time.Time, n)
		skipReasons   = make([]string, n)
	)
	for i, r := range sorted {
		if len(credentialIDs) == 0 || credentialIDs[len(credentialIDs)-1] != r.CredentialID {
			credentialIDs = append(credentialIDs, r.CredentialID)
		}
		ids[i], dueAts[i], beforeDues[i], channels[i] = r.CredentialID, r.DueAt.UTC(), r.BeforeDue.Microseconds(), r.Channel
		statuses[i], sendAts[i], skipReasons[i] = string(r.Status), r.SendAt().UTC(), r.SkipReason
	}

	_, err := tx.Exec(ctx, `
		INSERT INTO reminders (credential_id, due_at, before_due, channel, status, send_at,
			next_attempt_at, skip_reason, created_at, updated_at, finished_at)
		SELECT r.credential_id, r.due_at, r.before_due, r.channel, r.status::reminder_status, r.send_at,
			CASE WHEN r.status = 'pending' THEN r.send_at END,
			NULLIF(r.skip_reason, ''), $8, $8,
			CASE WHEN r.status = 'skipped' THEN $8::timestamptz END
		FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
			WITH ORDINALITY AS r (credential_id, due_at, before_due, channel, status, send_at, skip_reason, n)
		ORDER BY r.n
		ON CONFLICT ON CONSTRAINT reminders_one_per_key DO NOTHING`,
		ids, dueAts, beforeDues, channels, statuses, sendAts, skipReasons, now)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
		return fmt.Errorf("plan %d reminders: %s: %w", n, pgErr.Detail, rotation.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("plan %d reminders: %w", n, err)
	}

	// The status is compared as text so that the planner cannot read the
	// partial index reminders_claimable here. Right after a burst of
	// inserts, its statistics count almost no pending rows, and the plan
	// that scanned that index once per credential id took 0.3 to 1.5 s
	// per batch of 500 credentials with a few thousand reminders pending.
	// Compared as text, the ids are looked up in reminders_one_per_key.
	_, err = tx.Exec(ctx, `
		UPDATE reminders earlier SET status = 'skipped', skip_reason = $3,
			next_attempt_at = NULL, finished_at = $2, updated_at = $2
		WHERE earlier.status::text = 'pending' AND earlier.credential_id = ANY($1)
		  AND EXISTS (
			SELECT 1 FROM reminders later
			WHERE later.credential_id = earlier.credential_id AND later.due_at = earlier.due_at
			  AND later.channel = earlier.channel AND later.send_at > earlier.send_at
			  AND later.send_at <= $2 AND later.status <> 'skipped')`,
		credentialIDs, now, rotation.SkipSuperseded)
	if err != nil {
		return fmt.Errorf("skip replaced reminders: %w", err)
	}
	return nil
}

// planDueSQL takes $1 now and $2 the limit. It reads the partial index
// credentials_reminder_due and locks the rows it returns, skipping those
// another planner holds. FOR NO KEY UPDATE, unlike FOR UPDATE, still lets
// CreateRotation insert a rotation that references the credential.
const planDueSQL = `SELECT ` + credentialColumns + ` FROM credentials c
	WHERE c.next_reminder_at <= $1
	ORDER BY c.next_reminder_at, c.id
	LIMIT $2
	FOR NO KEY UPDATE OF c SKIP LOCKED`

// PlanDueReminders selects and locks the credentials due for planning,
// inserts their reminders and stores each next planning time, in one
// transaction. A retirement, a cancellation or a sync of a credential that
// it holds waits for the lock, then marks the credential to be planned
// again.
func (s *Store) PlanDueReminders(ctx context.Context, now time.Time, limit int, plan func(rotation.Credential) rotation.ReminderPlan) (int, error) {
	if limit < 1 || plan == nil {
		return 0, fmt.Errorf("plan due reminders: limit %d must be positive and plan set: %w", limit, rotation.ErrInvalid)
	}
	now = now.UTC().Truncate(time.Microsecond)
	stamp := s.stamp()

	var planned int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, planDueSQL, now, limit)
		if err != nil {
			return fmt.Errorf("select credentials due for planning: %w", err)
		}
		creds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rotation.Credential, error) { return scanCredential(row) })
		if err != nil {
			return fmt.Errorf("select credentials due for planning: %w", err)
		}

		var (
			reminders []rotation.Reminder
			ids       = make([]string, len(creds))
			nexts     = make([]*time.Time, len(creds))
		)
		for i, c := range creds {
			p := plan(c)
			if err := rotation.CheckReminderPlanFor(c, p, now); err != nil {
				return err
			}
			reminders = append(reminders, p.Reminders...)
			ids[i] = c.ID
			if !p.NextAt.IsZero() {
				next := ceilMicro(p.NextAt.UTC())
				nexts[i] = &next
			}
		}

		if err := insertReminders(ctx, tx, reminders, stamp); err != nil {
			return err
		}
		if len(ids) > 0 {
			_, err = tx.Exec(ctx, `UPDATE credentials c SET next_reminder_at = v.next
				FROM unnest($1::text[], $2::timestamptz[]) AS v (id, next)
				WHERE c.id = v.id`, ids, nexts)
			if err != nil {
				return fmt.Errorf("store next planning times: %w", err)
			}
		}
		planned = len(creds)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return planned, nil
}

// ceilMicro rounds t up to Postgres's microsecond precision, so a stored
// planning time is never before the send time it stands for.
func ceilMicro(t time.Time) time.Time {
	if u := t.Truncate(time.Microsecond); u.Before(t) {
		return u.Add(time.Microsecond)
	}
	return t
}

func compareKeys(a, b rotation.Reminder) int {
	return cmp.Or(
		cmp.Compare(a.CredentialID, b.CredentialID),
		a.DueAt.Compare(b.DueAt),
		cmp.Compare(b.BeforeDue, a.BeforeDue),
		cmp.Compare(a.Channel, b.Channel))
}

// claimRemindersSQL takes $1 now, $2 the lease's end and $3 the limit.
const claimRemindersSQL = `
	WITH claimable AS (
		SELECT id FROM reminders
		WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
		ORDER BY next_attempt_at, id
		LIMIT $3
		FOR UPDATE SKIP LOCKED)
	UPDATE reminders r SET status = 'sending', attempts = r.attempts + 1,
		lease_until = $2, next_attempt_at = $2, updated_at = $1
	FROM claimable WHERE r.id = claimable.id
	RETURNING ` + reminderColumns

// ClaimReminders locks the claimable rows it picks with SKIP LOCKED, so a
// concurrent claim passes over them instead of waiting, and leases them in
// the same statement. The subquery reads the reminders_claimable index.
func (s *Store) ClaimReminders(ctx context.Context, lease time.Duration, limit int) ([]rotation.Reminder, error) {
	if lease <= 0 || limit <= 0 {
		return nil, fmt.Errorf("claim reminders: lease %v and limit %d must be positive: %w", lease, limit, rotation.ErrInvalid)
	}
	now := s.stamp()
	leaseUntil := now.Add(lease).Truncate(time.Microsecond)

	var out []rotation.Reminder
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, claimRemindersSQL, now, leaseUntil, limit)
		if err != nil {
			return fmt.Errorf("claim reminders: %w", err)
		}
		out, err = collectReminders(rows)
		if err != nil {
			return fmt.Errorf("claim reminders: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// RETURNING keeps no order; claimants expect the oldest first.
	slices.SortFunc(out, func(a, b rotation.Reminder) int {
		// Every row now shares one lease, so order by when it was due.
		return cmp.Or(a.SendAt().Compare(b.SendAt()), compareKeys(a, b))
	})
	return out, nil
}

// FinishReminder is one UPDATE guarded by the claim: status sending and
// the attempt count the claim returned.
func (s *Store) FinishReminder(ctx context.Context, r rotation.Reminder, o rotation.ReminderOutcome) error {
	if err := rotation.CheckReminderOutcome(o); err != nil {
		return fmt.Errorf("finish reminder %s: %w", r.ReminderKey, err)
	}
	now := s.stamp()
	retryAt := now.Add(o.RetryAfter).Truncate(time.Microsecond)

	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE reminders SET
				status = $6::reminder_status,
				next_attempt_at = CASE WHEN $6::reminder_status = 'pending' THEN $7::timestamptz END,
				lease_until = NULL,
				last_error = CASE WHEN $8 <> '' THEN $8 ELSE last_error END,
				skip_reason = CASE WHEN $6::reminder_status = 'skipped' THEN $9 END,
				finished_at = CASE WHEN $6::reminder_status <> 'pending' THEN $10::timestamptz END,
				updated_at = $10
			WHERE credential_id = $1 AND due_at = $2 AND before_due = $3 AND channel = $4
			  AND status = 'sending' AND attempts = $5`,
			r.CredentialID, r.DueAt.UTC(), r.BeforeDue.Microseconds(), r.Channel, r.Attempts,
			string(o.Status), retryAt, o.Error, o.SkipReason, now)
		if err != nil {
			return fmt.Errorf("finish reminder %s: %w", r.ReminderKey, err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		return explainFinishMiss(ctx, tx, r)
	})
}

// explainFinishMiss distinguishes a reminder that does not exist from a
// claim that no longer holds.
func explainFinishMiss(ctx context.Context, tx pgx.Tx, r rotation.Reminder) error {
	var (
		status   string
		attempts int
	)
	err := tx.QueryRow(ctx, `SELECT status, attempts FROM reminders
		WHERE credential_id = $1 AND due_at = $2 AND before_due = $3 AND channel = $4`,
		r.CredentialID, r.DueAt.UTC(), r.BeforeDue.Microseconds(), r.Channel).Scan(&status, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("finish reminder %s: %w", r.ReminderKey, rotation.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("finish reminder %s: %w", r.ReminderKey, err)
	}
	return fmt.Errorf("finish reminder %s: it is %s after %d attempts, not sending after %d: %w",
		r.ReminderKey, status, attempts, r.Attempts, rotation.ErrConflict)
}

func (s *Store) ListReminders(ctx context.Context, credentialID string) ([]rotation.Reminder, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+reminderColumns+` FROM reminders
		WHERE credential_id = $1 ORDER BY due_at, send_at, channel`, credentialID)
	if err != nil {
		return nil, mapError(fmt.Errorf("list reminders of credential %s: %w", credentialID, err))
	}
	out, err := collectReminders(rows)
	if err != nil {
		return nil, mapError(fmt.Errorf("list reminders of credential %s: %w", credentialID, err))
	}
	return out, nil
}

func (s *Store) CountFailedReminders(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT credential_id, count(*) FROM reminders
		WHERE status = 'failed' GROUP BY credential_id`)
	if err != nil {
		return nil, mapError(fmt.Errorf("count failed reminders: %w", err))
	}
	out := make(map[string]int)
	var (
		id string
		n  int
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[id] = n
		return nil
	})
	if err != nil {
		return nil, mapError(fmt.Errorf("count failed reminders: %w", err))
	}
	return out, nil
}

var _ rotation.ReminderStore = (*Store)(nil)
