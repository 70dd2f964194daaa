package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rotorhq/rotor/rotation"
)

// querier is the part of a pool or a transaction that the read helpers use.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const incidentColumns = `id::text, credential_id, rotation_id::text, what, detected_at, reported_at, reported_by,
	reference, details, force_revoke, COALESCE(escalated_from::text, ''), closed_at, COALESCE(departing, '')`

func scanIncident(row pgx.Row) (rotation.Incident, error) {
	var (
		inc            rotation.Incident
		what, escFrom  string
		closed         *time.Time
		detected, repo time.Time
	)
	err := row.Scan(&inc.ID, &inc.CredentialID, &inc.RotationID, &what, &detected, &repo, &inc.ReportedBy,
		&inc.Reference, &inc.Details, &inc.ForceRevoke, &escFrom, &closed, &inc.Departing)
	if err != nil {
		return rotation.Incident{}, err
	}
	inc.What, inc.EscalatedFrom = rotation.IncidentWhat(what), rotation.Kind(escFrom)
	inc.DetectedAt, inc.ReportedAt, inc.ClosedAt = detected.UTC(), repo.UTC(), timeOrZero(closed)
	return inc, nil
}

// withChecklists reads the checklists of incs in one query and attaches
// them.
func withChecklists(ctx context.Context, q querier, incs []rotation.Incident) error {
	if len(incs) == 0 {
		return nil
	}
	ids := make([]string, len(incs))
	index := make(map[string]int, len(incs))
	for i, inc := range incs {
		ids[i], index[inc.ID] = inc.ID, i
	}
	rows, err := q.Query(ctx, `
		SELECT incident_id::text, item, title, added_by, added_at, done_by, done_at, note
		FROM incident_checklist WHERE incident_id = ANY($1::uuid[]) ORDER BY incident_id, item`, ids)
	if err != nil {
		return fmt.Errorf("read checklists: %w", err)
	}
	type row struct {
		incidentID string
		item       rotation.ChecklistItem
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var (
			out          row
			doneBy, note *string
			doneAt       *time.Time
		)
		err := r.Scan(&out.incidentID, &out.item.Item, &out.item.Title, &out.item.AddedBy, &out.item.AddedAt, &doneBy, &doneAt, &note)
		out.item.AddedAt = out.item.AddedAt.UTC()
		out.item.DoneBy, out.item.DoneAt, out.item.Note = deref(doneBy), timeOrZero(doneAt), deref(note)
		return out, err
	})
	if err != nil {
		return fmt.Errorf("read checklists: %w", err)
	}
	for _, it := range items {
		i := index[it.incidentID]
		incs[i].Checklist = append(incs[i].Checklist, it.item)
	}
	return nil
}

func getIncident(ctx context.Context, q querier, where string, arg any) (rotation.Incident, error) {
	inc, err := scanIncident(q.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE `+where, arg))
	if err != nil {
		return rotation.Incident{}, err
	}
	incs := []rotation.Incident{inc}
	if err := withChecklists(ctx, q, incs); err != nil {
		return rotation.Incident{}, err
	}
	return incs[0], nil
}

func listIncidents(ctx context.Context, q querier, sql string, args ...any) ([]rotation.Incident, error) {
	rows, err := q.Query(ctx, `SELECT `+incidentColumns+` FROM incidents `+sql, args...)
	if err != nil {
		return nil, err
	}
	incs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rotation.Incident, error) { return scanIncident(r) })
	if err != nil {
		return nil, err
	}
	if err := withChecklists(ctx, q, incs); err != nil {
		return nil, err
	}
	return incs, nil
}

func insertIncidentEvent(ctx context.Context, tx pgx.Tx, ev rotation.IncidentEvent, now time.Time) error {
	var item *int
	if ev.Item != 0 {
		item = &ev.Item
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO incident_events (incident_id, at, actor, action, item, detail)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		ev.IncidentID, now, ev.Actor, string(ev.Action), item, ev.Detail)
	if err != nil {
		return fmt.Errorf("append %s event to incident %s: %w", ev.Action, ev.IncidentID, err)
	}
	return nil
}

// ReportIncident locks the credential's open rotation, if there is one,
// so that a concurrent transition or second report waits for this one.
func (s *Store) ReportIncident(ctx context.Context, rep rotation.IncidentReport) (rotation.Incident, rotation.Rotation, error) {
	if err := rotation.CheckIncidentReport(rep); err != nil {
		return rotation.Incident{}, rotation.Rotation{}, err
	}
	in := rep.Incident
	if !isUUID(in.ID) || !isUUID(rep.Rotation.ID) {
		return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("report incident %q: ids must be UUIDs: %w", in.ID, rotation.ErrInvalid)
	}

	now := s.stamp()
	if in.DetectedAt.After(now.Add(rotation.DetectedAtSkew)) {
		return rotation.Incident{}, rotation.Rotation{}, fmt.Errorf("report incident %s: detected after the report: %w", in.ID, rotation.ErrInvalid)
	}
	var (
		inc rotation.Incident
		rot rotation.Rotation
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		open, err := scanRotation(tx.QueryRow(ctx, `SELECT `+rotationColumns+` FROM rotations
			WHERE credential_id = $1 AND state IN ('requested', 'new_issued', 'dual_active') FOR UPDATE`, in.CredentialID))
		var escalatedFrom *string
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			rot, err = scanRotation(tx.QueryRow(ctx, `
				INSERT INTO rotations (id, credential_id, kind, state, version, reason, ticket, requested_by, created_at, updated_at)
				VALUES ($1, $2, $6, 'requested', 1, $3, '', $4, $5, $5)
				RETURNING `+rotationColumns,
				rep.Rotation.ID, in.CredentialID, rep.Rotation.Reason, rep.Rotation.RequestedBy, now, string(rep.Rotation.Kind)))
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
				return fmt.Errorf("report incident for credential %s: %w", in.CredentialID, rotation.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("open %s rotation for credential %s: %w", rep.Rotation.Kind, in.CredentialID, err)
			}
			err = insertEvent(ctx, tx, rot, "", rotation.Event{Actor: in.ReportedBy, Action: rotation.ActionRequest,
				Reason: rep.Rotation.Reason, Detail: rotation.OpenedDetail(rot.Kind, in.ID)}, now)
			if err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("read open rotation of credential %s: %w", in.CredentialID, err)
		default:
			if open.Step != rotation.StepNone {
				return fmt.Errorf("escalate rotation %s: a %s step is in progress: %w", open.ID, open.Step, rotation.ErrConflict)
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM incidents WHERE rotation_id = $1)`, open.ID).Scan(&exists); err != nil {
				return fmt.Errorf("look for an incident of rotation %s: %w", open.ID, err)
			}
			if exists {
				return fmt.Errorf("escalate rotation %s: it already has an incident: %w", open.ID, rotation.ErrConflict)
			}
			rot, err = scanRotation(tx.QueryRow(ctx, `
				UPDATE rotations SET kind = $3, version = version + 1, updated_at = $2
				WHERE id = $1 RETURNING `+rotationColumns, open.ID, now, string(rep.Rotation.Kind)))
			if err != nil {
				return fmt.Errorf("escalate rotation %s: %w", open.ID, err)
			}
			err = insertEvent(ctx, tx, rot, rot.State, rotation.Event{Actor: in.ReportedBy, Action: rotation.ActionEscalated,
				Detail: rotation.EscalationDetail(open.Kind, rot.Kind, open.State, in.ID)}, now)
			if err != nil {
				return err
			}
			from := string(open.Kind)
			escalatedFrom = &from
		}

		_, err = tx.Exec(ctx, `
			INSERT INTO incidents (id, credential_id, rotation_id, what, detected_at, reported_at, reported_by,
				reference, details, force_revoke, escalated_from, departing)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::rotation_kind, NULLIF($12, ''))`,
			in.ID, in.CredentialID, rot.ID, string(in.What), in.DetectedAt.UTC().Truncate(time.Microsecond), now, in.ReportedBy,
			in.Reference, in.Details, in.ForceRevoke, escalatedFrom, in.Departing)
		if err != nil {
			return fmt.Errorf("insert incident %s: %w", in.ID, err)
		}
		for i, it := range in.Checklist {
			_, err := tx.Exec(ctx, `INSERT INTO incident_checklist (incident_id, item, title, added_by, added_at) VALUES ($1, $2, $3, $4, $5)`,
				in.ID, i+1, it.Title, in.ReportedBy, now)
			if err != nil {
				return fmt.Errorf("insert checklist item %q of incident %s: %w", it.Title, in.ID, err)
			}
		}
		err = insertIncidentEvent(ctx, tx, rotation.IncidentEvent{IncidentID: in.ID, Actor: in.ReportedBy, Action: rotation.IncidentReported,
			Detail: rotation.ReportedDetail(in)}, now)
		if err != nil {
			return err
		}
		inc, err = getIncident(ctx, tx, `id = $1`, in.ID)
		return err
	})
	if err != nil {
		return rotation.Incident{}, rotation.Rotation{}, err
	}
	return inc, rot, nil
}

func (s *Store) GetIncident(ctx context.Context, id string) (rotation.Incident, error) {
	if !isUUID(id) {
		return rotation.Incident{}, fmt.Errorf("get incident %q: %w", id, rotation.ErrNotFound)
	}
	inc, err := getIncident(ctx, s.pool, `id = $1`, id)
	if err != nil {
		return rotation.Incident{}, mapError(fmt.Errorf("get incident %s: %w", id, err))
	}
	return inc, nil
}

func (s *Store) GetIncidentByRotation(ctx context.Context, rotationID string) (rotation.Incident, error) {
	if !isUUID(rotationID) {
		return rotation.Incident{}, fmt.Errorf("get incident of rotation %q: %w", rotationID, rotation.ErrNotFound)
	}
	inc, err := getIncident(ctx, s.pool, `rotation_id = $1`, rotationID)
	if err != nil {
		return rotation.Incident{}, mapError(fmt.Errorf("get incident of rotation %s: %w", rotationID, err))
	}
	return inc, nil
}

func (s *Store) ListIncidents(ctx context.Context, credentialID string) ([]rotation.Incident, error) {
	incs, err := listIncidents(ctx, s.pool, `WHERE credential_id = $1 ORDER BY reported_at DESC, id DESC`, credentialID)
	if err != nil {
		return nil, mapError(fmt.Errorf("list incidents of credential %s: %w", credentialID, err))
	}
	return incs, nil
}

func (s *Store) ListOpenIncidents(ctx context.Context) ([]rotation.Incident, error) {
	incs, err := listIncidents(ctx, s.pool, `WHERE closed_at IS NULL ORDER BY reported_at, id`)
	if err != nil {
		return nil, mapError(fmt.Errorf("list open incidents: %w", err))
	}
	return incs, nil
}

// lockOpenIncident locks an incident's row for the rest of tx, so that
// checklist changes and the closing check of one incident run one at a
// time. Without the lock, two concurrent ticks of the last two items could
// each see the other's item undone, and neither would close the incident.
func lockOpenIncident(ctx context.Context, tx pgx.Tx, id string) error {
	var closed *time.Time
	err := tx.QueryRow(ctx, `SELECT closed_at FROM incidents WHERE id = $1 FOR UPDATE`, id).Scan(&closed)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("incident %s: %w", id, rotation.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("lock incident %s: %w", id, err)
	}
	if closed != nil {
		return fmt.Errorf("incident %s is closed: %w", id, rotation.ErrConflict)
	}
	return nil
}

func (s *Store) AddChecklistItem(ctx context.Context, incidentID, title, actor string) (rotation.Incident, error) {
	if err := rotation.CheckItemTitle(title); err != nil {
		return rotation.Incident{}, err
	}
	if actor == "" {
		return rotation.Incident{}, fmt.Errorf("add checklist item to incident %s: no actor: %w", incidentID, rotation.ErrInvalid)
	}
	if !isUUID(incidentID) {
		return rotation.Incident{}, fmt.Errorf("add checklist item to incident %q: %w", incidentID, rotation.ErrNotFound)
	}
	now := s.stamp()
	var inc rotation.Incident
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOpenIncident(ctx, tx, incidentID); err != nil {
			return err
		}
		var item int
		err := tx.QueryRow(ctx, `
			INSERT INTO incident_checklist (incident_id, item, title, added_by, added_at)
			SELECT $1, COALESCE(MAX(item), 0) + 1, $2, $3, $4 FROM incident_checklist WHERE incident_id = $1
			RETURNING item`, incidentID, title, actor, now).Scan(&item)
		if err != nil {
			return fmt.Errorf("add checklist item %q to incident %s: %w", title, incidentID, err)
		}
		err = insertIncidentEvent(ctx, tx, rotation.IncidentEvent{IncidentID: incidentID, Actor: actor,
			Action: rotation.IncidentItemAdded, Item: item, Detail: title}, now)
		if err != nil {
			return err
		}
		inc, err = getIncident(ctx, tx, `id = $1`, incidentID)
		return err
	})
	if err != nil {
		return rotation.Incident{}, err
	}
	return inc, nil
}

func (s *Store) CompleteChecklistItem(ctx context.Context, incidentID string, item int, actor, note string) (rotation.Incident, error) {
	if actor == "" || note == "" || len(note) > rotation.MaxNoteBytes {
		return rotation.Incident{}, fmt.Errorf("tick item %d of incident %s: a named actor and a note of at most %d bytes are required: %w",
			item, incidentID, rotation.MaxNoteBytes, rotation.ErrInvalid)
	}
	if !isUUID(incidentID) {
		return rotation.Incident{}, fmt.Errorf("tick item %d of incident %q: %w", item, incidentID, rotation.ErrNotFound)
	}
	now := s.stamp()
	var inc rotation.Incident
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOpenIncident(ctx, tx, incidentID); err != nil {
			return err
		}
		var title string
		var doneAt *time.Time
		err := tx.QueryRow(ctx, `SELECT title, done_at FROM incident_checklist WHERE incident_id = $1 AND item = $2`,
			incidentID, item).Scan(&title, &doneAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("incident %s has no checklist item %d: %w", incidentID, item, rotation.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read item %d of incident %s: %w", item, incidentID, err)
		}
		if doneAt != nil {
			return fmt.Errorf("item %d of incident %s is already done: %w", item, incidentID, rotation.ErrConflict)
		}
		_, err = tx.Exec(ctx, `UPDATE incident_checklist SET done_by = $3, done_at = $4, note = $5 WHERE incident_id = $1 AND item = $2`,
			incidentID, item, actor, now, note)
		if err != nil {
			return fmt.Errorf("tick item %d of incident %s: %w", item, incidentID, err)
		}
		err = insertIncidentEvent(ctx, tx, rotation.IncidentEvent{IncidentID: incidentID, Actor: actor,
			Action: rotation.IncidentItemDone, Item: item, Detail: title + ": " + note}, now)
		if err != nil {
			return err
		}
		if err := closeIfDone(ctx, tx, incidentID, now); err != nil {
			return err
		}
		inc, err = getIncident(ctx, tx, `id = $1`, incidentID)
		return err
	})
	if err != nil {
		return rotation.Incident{}, err
	}
	return inc, nil
}

// secretRetiredSQL is rotation.SecretRetired over the incident i: its
// rotation is retired, or it was cancelled and a later emergency or
// offboarding rotation of the same credential, requested at or after the
// cancellation, is retired. The trigger incidents_guard (migration 00007) checks the same.
const secretRetiredSQL = `EXISTS (
	SELECT 1 FROM rotations r
	WHERE r.id = i.rotation_id
	  AND (r.state = 'old_retired'
	       OR (r.state = 'cancelled' AND EXISTS (
	           SELECT 1 FROM rotations n
	           WHERE n.credential_id = r.credential_id AND n.kind IN ('emergency', 'offboarding')
	             AND n.state = 'old_retired' AND n.created_at >= r.cancelled_at))))`

// closeIfDone closes an incident that tx locked, with a closed event, if
// every checklist item is done and rotation.SecretRetired holds.
func closeIfDone(ctx context.Context, tx pgx.Tx, incidentID string, now time.Time) error {
	var state rotation.State
	err := tx.QueryRow(ctx, `
		UPDATE incidents i SET closed_at = $2
		WHERE i.id = $1 AND i.closed_at IS NULL
		  AND NOT EXISTS (SELECT 1 FROM incident_checklist c WHERE c.incident_id = i.id AND c.done_at IS NULL)
		  AND `+secretRetiredSQL+`
		RETURNING (SELECT r.state::text FROM rotations r WHERE r.id = i.rotation_id)`, incidentID, now).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("close incident %s: %w", incidentID, err)
	}
	detail := closedDetail
	if state == rotation.StateCancelled {
		detail = closedByLaterDetail
	}
	return insertIncidentEvent(ctx, tx, rotation.IncidentEvent{IncidentID: incidentID, Actor: "rotor", Action: rotation.IncidentClosed,
		Detail: detail}, now)
}

// The details of an incident's closed event: its own rotation retired the
// secret, or a later rotation did after its rotation was cancelled.
const (
	closedDetail        = "the rotation is retired and every checklist item is done"
	closedByLaterDetail = "a later emergency or offboarding rotation retired the secret that the cancelled rotation left in use, and every checklist item is done"
)

// lockIncidentsOfRetiredSQL locks the open incidents of the credential of
// rotation $1 in id order, so that two such batches cannot deadlock. It
// locks nothing unless that rotation is old_retired at version $2, that
// is, unless the retirement before it in Store.applyRetire's batch was made.
const lockIncidentsOfRetiredSQL = `
	SELECT i.id FROM incidents i JOIN rotations retiring ON retiring.credential_id = i.credential_id
	WHERE retiring.id = $1 AND retiring.version = $2 AND retiring.state = 'old_retired' AND i.closed_at IS NULL
	ORDER BY i.id FOR UPDATE OF i`

// closeIncidentsOfRetiredSQL closes at $3, as closeIfDone does one by one,
// the incidents that lockIncidentsOfRetiredSQL locked and that may close,
// and appends a closed event for each, with detail $4 or $5.
const closeIncidentsOfRetiredSQL = `
	WITH closed AS (
		UPDATE incidents i SET closed_at = $3
		FROM rotations retiring
		WHERE retiring.id = $1 AND retiring.version = $2 AND retiring.state = 'old_retired'
		  AND i.credential_id = retiring.credential_id AND i.closed_at IS NULL
		  AND NOT EXISTS (SELECT 1 FROM incident_checklist c WHERE c.incident_id = i.id AND c.done_at IS NULL)
		  AND ` + secretRetiredSQL + `
		RETURNING i.id, (SELECT r.state FROM rotations r WHERE r.id = i.rotation_id) AS rotation_state
	)
	INSERT INTO incident_events (incident_id, at, actor, action, detail)
	SELECT id, $3, 'rotor', 'closed', CASE WHEN rotation_state = 'cancelled' THEN $5 ELSE $4 END
	FROM closed ORDER BY id`

func (s *Store) ClaimIncidentReminder(ctx context.Context, incidentID string, round int) (bool, error) {
	if round < 1 {
		return false, fmt.Errorf("claim reminder round %d of incident %s: %w", round, incidentID, rotation.ErrInvalid)
	}
	if !isUUID(incidentID) {
		return false, fmt.Errorf("claim a reminder of incident %q: %w", incidentID, rotation.ErrNotFound)
	}
	now := s.stamp()
	var claimed bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockOpenIncident(ctx, tx, incidentID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO incident_reminders (incident_id, round, claimed_at) VALUES ($1, $2, $3)
			ON CONFLICT (incident_id, round) DO NOTHING`, incidentID, round, now)
		if err != nil {
			return fmt.Errorf("claim reminder round %d of incident %s: %w", round, incidentID, err)
		}
		claimed = tag.RowsAffected() == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	return claimed, nil
}

func (s *Store) AppendIncidentEvent(ctx context.Context, ev rotation.IncidentEvent) error {
	if ev.Actor == "" || ev.Action == "" {
		return fmt.Errorf("append event to incident %s: actor and action are required: %w", ev.IncidentID, rotation.ErrInvalid)
	}
	if !isUUID(ev.IncidentID) {
		return fmt.Errorf("append event to incident %q: %w", ev.IncidentID, rotation.ErrNotFound)
	}
	now := s.stamp()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		err := insertIncidentEvent(ctx, tx, ev, now)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
			return fmt.Errorf("append event to incident %s: %w", ev.IncidentID, rotation.ErrNotFound)
		}
		return err
	})
}

func (s *Store) ListIncidentEvents(ctx context.Context, incidentID string) ([]rotation.IncidentEvent, error) {
	if _, err := s.GetIncident(ctx, incidentID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, incident_id::text, at, actor, action, COALESCE(item, 0), detail
		FROM incident_events WHERE incident_id = $1 ORDER BY id`, incidentID)
	if err != nil {
		return nil, mapError(fmt.Errorf("list events of incident %s: %w", incidentID, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rotation.IncidentEvent, error) {
		var (
			e      rotation.IncidentEvent
			action string
		)
		err := row.Scan(&e.ID, &e.IncidentID, &e.At, &e.Actor, &action, &e.Item, &e.Detail)
		e.Action, e.At = rotation.IncidentAction(action), e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, mapError(fmt.Errorf("list events of incident %s: %w", incidentID, err))
	}
	return out, nil
}

var _ rotation.IncidentStore = (*Store)(nil)
