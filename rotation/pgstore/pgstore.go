// Package pgstore is the Postgres rotation.Store. All of rotor's SQL lives
// here. Each exported method is one transaction. A transition is a single
// UPDATE that checks the state, version and step it expects, so two
// concurrent transitions cannot both win. The same statement inserts its
// audit event, so that a transition costs one round trip.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
)

// Store is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// New returns a store over pool that stamps times with now. The schema must
// be migrated (package migrations).
func New(pool *pgxpool.Pool, now func() time.Time) *Store {
	return &Store{pool: pool, now: now}
}

// stamp returns now in UTC at Postgres's microsecond precision, so a time
// read back equals the time written.
func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// inTx runs fn in a transaction and commits it if fn returns nil. It rolls
// back on an error or a panic, with a context that survives the
// cancellation of ctx so the rollback still reaches the server.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapError(fmt.Errorf("begin transaction: %w", err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()

	if err := fn(tx); err != nil {
		return mapError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return mapError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// mapError turns driver errors into rotation's kinds: the one place where
// pgx errors are interpreted.
func mapError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %w", rotation.ErrNotFound, err)
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return fmt.Errorf("%w: %w", rotation.ErrConflict, err)
	case errors.As(err, &pgErr) && pgErr.Code == "40001": // serialization_failure
		return fmt.Errorf("%w: %w", rotation.ErrConflict, err)
	case errors.As(err, &pgErr):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		// Connection errors: the database is unreachable or went away.
		if pgconn.SafeToRetry(err) || isConnError(err) {
			return fmt.Errorf("%w: %w", rotation.ErrUnavailable, err)
		}
		return err
	}
}

// isConnError reports whether err means the connection failed or broke,
// as when Postgres restarts. A connection closed under a query shows as an
// (unexpected) EOF or a network error, not as a server's error response.
func isConnError(err error) bool {
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	return errors.As(err, &connErr) || pgconn.Timeout(err) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, pgconn.ErrConnClosed)
}

const credentialColumns = `c.id, c.organisation, c.organisation_id::text, c.client_id, c.auth_method,
	c.rotation_period, c.min_dual_active, c.overlap, c.backend, c.secret_path, c.retire_mode,
	c.last_retired_at, c.created_at, c.issued_at, c.low_traffic_window, c.four_eyes,
	(SELECT r.id::text FROM rotations r WHERE r.credential_id = c.id
	   AND r.state IN ('requested', 'new_issued', 'dual_active'))`

func scanCredential(row pgx.Row) (rotation.Credential, error) {
	var dst credentialRow
	if err := row.Scan(dst.targets()...); err != nil {
		return rotation.Credential{}, err
	}
	return dst.credential(), nil
}

// credentialRow receives the columns of credentialColumns, so that a query
// can scan a credential next to other columns.
type credentialRow struct {
	c                     rotation.Credential
	period, minDual, over int64
	retireMode            string
	lastRetired, issued   *time.Time
	openID                *string
}

func (d *credentialRow) targets() []any {
	return []any{&d.c.ID, &d.c.Organisation, &d.c.OrganisationID, &d.c.ClientID, &d.c.AuthMethod,
		&d.period, &d.minDual, &d.over, &d.c.Backend, &d.c.SecretPath, &d.retireMode,
		&d.lastRetired, &d.c.CreatedAt, &d.issued, &d.c.Window, &d.c.FourEyes, &d.openID}
}

func (d *credentialRow) credential() rotation.Credential {
	c := d.c
	c.RotationPeriod = time.Duration(d.period) * time.Microsecond
	c.MinDualActive = time.Duration(d.minDual) * time.Microsecond
	c.Overlap = time.Duration(d.over) * time.Microsecond
	c.RetireMode = secretstore.RetireMode(d.retireMode)
	c.LastRetiredAt = timeOrZero(d.lastRetired)
	c.IssuedAt = timeOrZero(d.issued)
	c.CreatedAt = c.CreatedAt.UTC()
	c.OpenRotationID = deref(d.openID)
	return c
}

func (s *Store) SyncCredentials(ctx context.Context, creds []rotation.Credential) error {
	now := s.stamp()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, c := range creds {
			_, err := tx.Exec(ctx, `
				INSERT INTO credentials (id, organisation, organisation_id, client_id, auth_method,
					rotation_period, min_dual_active, overlap, backend, secret_path, retire_mode,
					issued_at, low_traffic_window, created_at, updated_at, four_eyes)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14, $12, $12, $15)
				ON CONFLICT (id) DO UPDATE SET
					organisation = EXCLUDED.organisation, organisation_id = EXCLUDED.organisation_id,
					client_id = EXCLUDED.client_id, auth_method = EXCLUDED.auth_method,
					rotation_period = EXCLUDED.rotation_period, min_dual_active = EXCLUDED.min_dual_active,
					overlap = EXCLUDED.overlap, backend = EXCLUDED.backend,
					secret_path = EXCLUDED.secret_path, retire_mode = EXCLUDED.retire_mode,
					issued_at = EXCLUDED.issued_at, low_traffic_window = EXCLUDED.low_traffic_window,
					four_eyes = EXCLUDED.four_eyes, updated_at = EXCLUDED.updated_at,
					-- The configuration may have changed the reminder schedule
					-- or channels, which the row does not show: plan again.
					next_reminder_at = '-infinity'`,
				c.ID, c.Organisation, c.OrganisationID, c.ClientID, c.AuthMethod,
				c.RotationPeriod.Microseconds(), c.MinDualActive.Microseconds(), c.Overlap.Microseconds(),
				c.Backend, c.SecretPath, string(c.RetireMode), now, nullTime(c.IssuedAt), c.Window, c.FourEyes)
			if err != nil {
				return fmt.Errorf("sync credential %s: %w", c.ID, err)
			}
		}
		return nil
	})
}

// ListCredentials orders by next_due_at, which the trigger
// credentials_next_due keeps equal to rotation.Credential.NextDueAt.
func (s *Store) ListCredentials(ctx context.Context) ([]rotation.Credential, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+credentialColumns+` FROM credentials c ORDER BY c.next_due_at, c.id`)
	if err != nil {
		return nil, mapError(fmt.Errorf("list credentials: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rotation.Credential, error) { return scanCredential(row) })
	if err != nil {
		return nil, mapError(fmt.Errorf("list credentials: %w", err))
	}
	return out, nil
}

func (s *Store) GetCredential(ctx context.Context, id string) (rotation.Credential, error) {
	c, err := scanCredential(s.pool.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials c WHERE c.id = $1`, id))
	if err != nil {
		return rotation.Credential{}, mapError(fmt.Errorf("get credential %s: %w", id, err))
	}
	return c, nil
}

const rotationColumns = `id::text, credential_id, kind, state, version, reason, ticket, requested_by,
	step, step_by, step_reason, step_started_at, old_version, staged_version, new_version,
	created_at, updated_at, issued_at, promoted_at, retired_at, cancelled_at,
	paused_at, pause_reason, drift_accepted, old_revoked_at`

func scanRotation(row pgx.Row) (rotation.Rotation, error) {
	var dst rotationRow
	if err := row.Scan(dst.targets()...); err != nil {
		return rotation.Rotation{}, err
	}
	return dst.rotation(), nil
}

// rotationRow receives the columns of rotationColumns, so that a query can
// scan a rotation next to other columns.
type rotationRow struct {
	r                             rotation.Rotation
	kind, state                   string
	step, stepBy, stepReason      *string
	oldV, stagedV, newV           *string
	stepStarted, issued, promoted *time.Time
	retired, cancelled            *time.Time
	paused, oldRevoked            *time.Time
	pauseReason                   *string
}

func (d *rotationRow) targets() []any {
	return []any{&d.r.ID, &d.r.CredentialID, &d.kind, &d.state, &d.r.Version, &d.r.Reason, &d.r.Ticket, &d.r.RequestedBy,
		&d.step, &d.stepBy, &d.stepReason, &d.stepStarted, &d.oldV, &d.stagedV, &d.newV,
		&d.r.CreatedAt, &d.r.UpdatedAt, &d.issued, &d.promoted, &d.retired, &d.cancelled,
		&d.paused, &d.pauseReason, &d.r.DriftAccepted, &d.oldRevoked}
}

func (d *rotationRow) rotation() rotation.Rotation {
	r := d.r
	r.Kind, r.State = rotation.Kind(d.kind), rotation.State(d.state)
	r.Step, r.StepBy, r.StepReason = rotation.Step(deref(d.step)), deref(d.stepBy), deref(d.stepReason)
	r.StepStartedAt = timeOrZero(d.stepStarted)
	r.Versions = secretstore.Versions{
		Old:    secretstore.Version(deref(d.oldV)),
		Staged: secretstore.Version(deref(d.stagedV)),
		New:    secretstore.Version(deref(d.newV)),
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.IssuedAt, r.PromotedAt = timeOrZero(d.issued), timeOrZero(d.promoted)
	r.RetiredAt, r.CancelledAt = timeOrZero(d.retired), timeOrZero(d.cancelled)
	r.PausedAt, r.PauseReason = timeOrZero(d.paused), deref(d.pauseReason)
	r.OldRevokedAt = timeOrZero(d.oldRevoked)
	return r
}

// CreateRotation inserts the rotation and its event in one statement: one
// transaction and one round trip.
func (s *Store) CreateRotation(ctx context.Context, r rotation.Rotation, ev rotation.Event) (rotation.Rotation, error) {
	now := s.stamp()
	out, err := scanRotation(s.pool.QueryRow(ctx, `
		WITH created AS (
			INSERT INTO rotations (id, credential_id, kind, state, version, reason, ticket, requested_by, created_at, updated_at)
			VALUES ($1, $2, $3, 'requested', 1, $4, $5, $6, $7, $7)
			RETURNING *
		), logged AS (
			INSERT INTO events (rotation_id, credential_id, at, actor, action, to_state, reason, detail)
			SELECT created.id, created.credential_id, $7, $8, $9, created.state, $10, $11 FROM created
		)
		SELECT `+rotationColumns+` FROM created`,
		r.ID, r.CredentialID, string(r.Kind), r.Reason, r.Ticket, r.RequestedBy, now,
		ev.Actor, string(ev.Action), ev.Reason, ev.Detail))
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
			return rotation.Rotation{}, fmt.Errorf("create rotation for credential %s: %w", r.CredentialID, rotation.ErrNotFound)
		}
		return rotation.Rotation{}, mapError(fmt.Errorf("create rotation for credential %s with its %s event: %w", r.CredentialID, ev.Action, err))
	}
	return out, nil
}

func insertEvent(ctx context.Context, tx pgx.Tx, r rotation.Rotation, from rotation.State, ev rotation.Event, now time.Time) error {
	var fromState *string
	if from != "" {
		f := string(from)
		fromState = &f
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO events (rotation_id, credential_id, at, actor, action, from_state, to_state, reason, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, r.CredentialID, now, ev.Actor, string(ev.Action), fromState, string(r.State), ev.Reason, ev.Detail)
	if err != nil {
		return fmt.Errorf("append %s event to rotation %s: %w", ev.Action, r.ID, err)
	}
	return nil
}

func (s *Store) GetRotation(ctx context.Context, id string) (rotation.Rotation, error) {
	if !isUUID(id) {
		return rotation.Rotation{}, fmt.Errorf("get rotation %q: %w", id, rotation.ErrNotFound)
	}
	r, err := scanRotation(s.pool.QueryRow(ctx, `SELECT `+rotationColumns+` FROM rotations WHERE id = $1`, id))
	if err != nil {
		return rotation.Rotation{}, mapError(fmt.Errorf("get rotation %s: %w", id, err))
	}
	return r, nil
}

// RotationWithCredential reads the rotation and its credential in one
// query, so a transition costs one read before its change.
func (s *Store) RotationWithCredential(ctx context.Context, rotationID string) (rotation.Rotation, rotation.Credential, error) {
	if !isUUID(rotationID) {
		return rotation.Rotation{}, rotation.Credential{}, fmt.Errorf("get rotation %q: %w", rotationID, rotation.ErrNotFound)
	}
	var (
		rot  rotationRow
		cred credentialRow
	)
	err := s.pool.QueryRow(ctx, `
		SELECT rot.*, `+credentialColumns+`
		FROM (SELECT `+rotationColumns+` FROM rotations WHERE id = $1) rot
		JOIN credentials c ON c.id = rot.credential_id`, rotationID).Scan(append(rot.targets(), cred.targets()...)...)
	if err != nil {
		return rotation.Rotation{}, rotation.Credential{}, mapError(fmt.Errorf("get rotation %s with its credential: %w", rotationID, err))
	}
	return rot.rotation(), cred.credential(), nil
}

func (s *Store) ListRotations(ctx context.Context, credentialID string) ([]rotation.Rotation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rotationColumns+` FROM rotations
		WHERE credential_id = $1 ORDER BY created_at DESC, id DESC`, credentialID)
	if err != nil {
		return nil, mapError(fmt.Errorf("list rotations of credential %s: %w", credentialID, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rotation.Rotation, error) { return scanRotation(row) })
	if err != nil {
		return nil, mapError(fmt.Errorf("list rotations of credential %s: %w", credentialID, err))
	}
	return out, nil
}

// Apply runs the change as one statement, which Postgres commits as one
// transaction in one round trip. The statement is an UPDATE whose WHERE
// clause is the optimistic check, with data-modifying CTEs that use only
// the row it returns: the event's INSERT and, for a retirement, the
// credential's UPDATE. No row back means the check failed and nothing
// changed. A retirement also closes the credential's incidents, in the
// same batch (see applyRetire).
func (s *Store) Apply(ctx context.Context, c rotation.Change) (rotation.Rotation, error) {
	if !isUUID(c.RotationID) {
		return rotation.Rotation{}, fmt.Errorf("change rotation %q: %w", c.RotationID, rotation.ErrNotFound)
	}
	if !rotation.Legal(c.From, c.To) {
		return rotation.Rotation{}, fmt.Errorf("change rotation %s: %s to %s is not a legal transition", c.RotationID, c.From, c.To)
	}

	now := s.stamp()
	query, args := applyStatement(c, now)
	var (
		out rotation.Rotation
		err error
	)
	if c.To == rotation.StateOldRetired {
		out, err = s.applyRetire(ctx, c, query, args, now)
	} else {
		out, err = scanRotation(s.pool.QueryRow(ctx, query, args...))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return rotation.Rotation{}, s.explainMiss(ctx, c)
	}
	if err != nil {
		return rotation.Rotation{}, mapError(fmt.Errorf("change rotation %s: %w", c.RotationID, err))
	}
	return out, nil
}

// applyStatement returns the statement that makes c at now, and its
// arguments. The SET clause computes the same fields as
// rotation.Change.Result; in it, a bare column name is the value before the
// update.
func applyStatement(c rotation.Change, now time.Time) (string, []any) {
	setVersions := c.Versions != nil
	var v secretstore.Versions
	if setVersions {
		v = *c.Versions
	}
	args := []any{c.RotationID, string(c.From), c.Version, string(c.Step),
		string(c.To), now, string(c.NewStep), c.StepBy, c.StepReason,
		setVersions, string(v.Old), string(v.Staged), string(v.New),
		c.Pause, c.Resume && c.Pause == "", c.AcceptDrift, c.OldRevoked}

	var query strings.Builder
	query.WriteString(`
		WITH changed AS (
			UPDATE rotations SET
				state = $5::rotation_state,
				issued_at = CASE WHEN $5 = 'new_issued' AND state <> 'new_issued' THEN COALESCE(issued_at, $6) ELSE issued_at END,
				promoted_at = CASE
					WHEN $5 = 'new_issued' AND state <> 'new_issued' THEN NULL
					WHEN $5 = 'dual_active' AND state <> 'dual_active' THEN $6
					ELSE promoted_at END,
				retired_at = CASE WHEN $5 = 'old_retired' THEN $6 ELSE retired_at END,
				cancelled_at = CASE WHEN $5 = 'cancelled' THEN $6 ELSE cancelled_at END,
				step = NULLIF($7, '')::rotation_step,
				step_by = NULLIF($8, ''),
				step_reason = CASE WHEN $7 = '' THEN NULL ELSE $9 END,
				step_started_at = CASE WHEN $7 = '' THEN NULL ELSE $6 END,
				old_version = CASE WHEN $10 THEN NULLIF($11, '') ELSE old_version END,
				staged_version = CASE WHEN $10 THEN NULLIF($12, '') ELSE staged_version END,
				new_version = CASE WHEN $10 THEN NULLIF($13, '') ELSE new_version END,
				paused_at = CASE
					WHEN $14 <> '' THEN $6
					WHEN $15 OR $5::rotation_state <> state THEN NULL
					ELSE paused_at END,
				pause_reason = CASE
					WHEN $14 <> '' THEN $14
					WHEN $15 OR $5::rotation_state <> state THEN NULL
					ELSE pause_reason END,
				drift_accepted = CASE WHEN $15 THEN $16 ELSE drift_accepted END,
				old_revoked_at = CASE WHEN $17 THEN COALESCE(old_revoked_at, $6) ELSE old_revoked_at END,
				version = version + 1,
				updated_at = $6
			WHERE id = $1 AND state = $2 AND version = $3 AND step IS NOT DISTINCT FROM NULLIF($4, '')::rotation_step
			RETURNING *
		)`)
	if c.Event != nil {
		query.WriteString(`, logged AS (
			INSERT INTO events (rotation_id, credential_id, at, actor, action, from_state, to_state, reason, detail)
			SELECT changed.id, changed.credential_id, $6, $18, $19, $2, changed.state, $20, $21 FROM changed
		)`)
		args = append(args, c.Event.Actor, string(c.Event.Action), c.Event.Reason, c.Event.Detail)
	}
	if c.To == rotation.StateOldRetired {
		query.WriteString(`, retired AS (
			UPDATE credentials SET last_retired_at = $6, updated_at = $6
			FROM changed WHERE credentials.id = changed.credential_id
		)`)
	}
	query.WriteString(`
		SELECT ` + rotationColumns + ` FROM changed`)
	return query.String(), args
}

// applyRetire sends the retirement, query with args, and the closing of
// the credential's incidents as one batch: one round trip. pgx v5 sends a
// batch outside a transaction with a single Sync, so Postgres runs it as
// one implicit transaction. The incidents close only if the retirement
// commits, and each statement sees the changes of those before it. The
// incidents are locked and closed in two statements, so that the closing
// reads with a snapshot taken after the locks were granted, as the
// separate statements of a transaction did before.
func (s *Store) applyRetire(ctx context.Context, c rotation.Change, query string, args []any, now time.Time) (rotation.Rotation, error) {
	var b pgx.Batch
	b.Queue(query, args...)
	b.Queue(lockIncidentsOfRetiredSQL, c.RotationID, c.Version+1)
	b.Queue(closeIncidentsOfRetiredSQL, c.RotationID, c.Version+1, now, closedDetail, closedByLaterDetail)

	br := s.pool.SendBatch(ctx, &b)
	out, changeErr := scanRotation(br.QueryRow())
	_, lockErr := br.Exec()
	_, closeErr := br.Exec()
	batchErr := br.Close()

	if changeErr != nil && !errors.Is(changeErr, pgx.ErrNoRows) {
		return rotation.Rotation{}, changeErr
	}
	if lockErr != nil {
		return rotation.Rotation{}, fmt.Errorf("lock the open incidents of the credential: %w", lockErr)
	}
	if closeErr != nil {
		return rotation.Rotation{}, fmt.Errorf("close the incidents of the credential: %w", closeErr)
	}
	if batchErr != nil {
		return rotation.Rotation{}, batchErr
	}
	return out, changeErr
}

// explainMiss distinguishes a rotation that does not exist from one that
// moved on. It reads after the change's statement ended, so the state it
// reports may be newer than the one that failed the check.
func (s *Store) explainMiss(ctx context.Context, c rotation.Change) error {
	var (
		state   string
		version int64
	)
	err := s.pool.QueryRow(ctx, `SELECT state, version FROM rotations WHERE id = $1`, c.RotationID).Scan(&state, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("change rotation %s: %w", c.RotationID, rotation.ErrNotFound)
	}
	if err != nil {
		return mapError(fmt.Errorf("change rotation %s: %w", c.RotationID, err))
	}
	return fmt.Errorf("change rotation %s: it is %s at version %d, not %s at version %d: %w",
		c.RotationID, state, version, c.From, c.Version, rotation.ErrConflict)
}

func (s *Store) ListEvents(ctx context.Context, rotationID string) ([]rotation.Event, error) {
	if _, err := s.GetRotation(ctx, rotationID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, rotation_id::text, credential_id, at, actor, action, COALESCE(from_state::text, ''), to_state, reason, detail
		FROM events WHERE rotation_id = $1 ORDER BY id`, rotationID)
	if err != nil {
		return nil, mapError(fmt.Errorf("list events of rotation %s: %w", rotationID, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rotation.Event, error) {
		var (
			e                  rotation.Event
			action, from, toSt string
		)
		err := row.Scan(&e.ID, &e.RotationID, &e.CredentialID, &e.At, &e.Actor, &action, &from, &toSt, &e.Reason, &e.Detail)
		e.Action, e.From, e.To, e.At = rotation.Action(action), rotation.State(from), rotation.State(toSt), e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, mapError(fmt.Errorf("list events of rotation %s: %w", rotationID, err))
	}
	return out, nil
}

func (s *Store) ListUnfinished(ctx context.Context) ([]rotation.Rotation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rotationColumns+` FROM rotations WHERE step IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, mapError(fmt.Errorf("list unfinished rotations: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rotation.Rotation, error) { return scanRotation(row) })
	if err != nil {
		return nil, mapError(fmt.Errorf("list unfinished rotations: %w", err))
	}
	return out, nil
}

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return mapError(fmt.Errorf("ping database: %w", err))
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nullTime returns nil for the zero time, so it is stored as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// isUUID reports whether id has the shape of a UUID, so that a malformed id
// is "not found" rather than a Postgres syntax error.
func isUUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, ch := range id {
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F') {
				return false
			}
		}
	}
	return true
}

var (
	_ rotation.Store                    = (*Store)(nil)
	_ rotation.RotationCredentialReader = (*Store)(nil)
)
