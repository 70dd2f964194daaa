-- +goose Up

-- Two changes to incidents.
--
-- First, a report of staff offboarding names the person who left, and
-- opens a rotation of kind offboarding instead of emergency. Both kinds
-- destroy the old version at retirement, so either one, retired after a
-- cancelled incident rotation, retires the secret that the cancellation
-- left in use. Reports recorded before this migration have no name; the
-- service requires one for every new report of offboarding.

ALTER TABLE incidents
    ADD COLUMN departing text,
    ADD CONSTRAINT departing_for_offboarding CHECK (
        departing IS NULL OR (what = 'offboarding' AND btrim(departing) <> '' AND octet_length(departing) <= 200));

COMMENT ON COLUMN incidents.departing IS 'The person whose departure was reported, for what = offboarding.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION incidents_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'incident % cannot be deleted', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'incident % is closed and cannot change', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.id, NEW.credential_id, NEW.rotation_id, NEW.what, NEW.detected_at, NEW.reported_at, NEW.reported_by,
        NEW.reference, NEW.details, NEW.force_revoke, NEW.escalated_from, NEW.departing)
       IS DISTINCT FROM
       (OLD.id, OLD.credential_id, OLD.rotation_id, OLD.what, OLD.detected_at, OLD.reported_at, OLD.reported_by,
        OLD.reference, OLD.details, OLD.force_revoke, OLD.escalated_from, OLD.departing) THEN
        RAISE EXCEPTION 'incident % can only be closed, not edited', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.closed_at IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM incident_checklist c WHERE c.incident_id = NEW.id AND c.done_at IS NULL) THEN
            RAISE EXCEPTION 'incident % has checklist items not done', NEW.id USING ERRCODE = 'check_violation';
        END IF;
        IF NOT EXISTS (
            SELECT 1 FROM rotations r
            WHERE r.id = NEW.rotation_id
              AND (r.state = 'old_retired'
                   OR (r.state = 'cancelled' AND EXISTS (
                       SELECT 1 FROM rotations n
                       WHERE n.credential_id = r.credential_id AND n.kind IN ('emergency', 'offboarding')
                         AND n.state = 'old_retired' AND n.created_at >= r.cancelled_at))))
        THEN
            RAISE EXCEPTION 'incident % cannot close before the leaked secret is retired', NEW.id USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

-- Second, rotor can e-mail the urgent request to Persium's support address
-- itself, and records each attempt and its outcome.
ALTER TABLE incident_events DROP CONSTRAINT incident_events_action_check;
ALTER TABLE incident_events ADD CONSTRAINT incident_events_action_check CHECK (action IN (
    'reported', 'notified', 'notify_failed', 'item_added', 'item_done', 'closed', 'persium_sent', 'persium_send_failed'));

-- +goose Down

ALTER TABLE incident_events DROP CONSTRAINT incident_events_action_check;
ALTER TABLE incident_events ADD CONSTRAINT incident_events_action_check CHECK (action IN (
    'reported', 'notified', 'notify_failed', 'item_added', 'item_done', 'closed'));

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION incidents_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'incident % cannot be deleted', OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'incident % is closed and cannot change', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.id, NEW.credential_id, NEW.rotation_id, NEW.what, NEW.detected_at, NEW.reported_at, NEW.reported_by,
        NEW.reference, NEW.details, NEW.force_revoke, NEW.escalated_from)
       IS DISTINCT FROM
       (OLD.id, OLD.credential_id, OLD.rotation_id, OLD.what, OLD.detected_at, OLD.reported_at, OLD.reported_by,
        OLD.reference, OLD.details, OLD.force_revoke, OLD.escalated_from) THEN
        RAISE EXCEPTION 'incident % can only be closed, not edited', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.closed_at IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM incident_checklist c WHERE c.incident_id = NEW.id AND c.done_at IS NULL) THEN
            RAISE EXCEPTION 'incident % has checklist items not done', NEW.id USING ERRCODE = 'check_violation';
        END IF;
        IF NOT EXISTS (
            SELECT 1 FROM rotations r
            WHERE r.id = NEW.rotation_id
              AND (r.state = 'old_retired'
                   OR (r.state = 'cancelled' AND EXISTS (
                       SELECT 1 FROM rotations n
                       WHERE n.credential_id = r.credential_id AND n.kind = 'emergency'
                         AND n.state = 'old_retired' AND n.created_at >= r.cancelled_at))))
        THEN
            RAISE EXCEPTION 'incident % cannot close before the leaked secret is retired', NEW.id USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

ALTER TABLE incidents DROP CONSTRAINT departing_for_offboarding, DROP COLUMN departing;
