-- +goose Up

-- Two changes to incidents.
--
-- First, an incident whose emergency rotation was cancelled can close too.
-- The cancellation leaves the leaked secret in use, so the incident then
-- waits for a later emergency rotation of the same credential, requested
-- at or after the cancellation, to be retired, because an emergency
-- retirement destroys the old version. The checklist must still be done.
-- The stores apply the same rule (rotation.SecretRetired) when they close.

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

COMMENT ON COLUMN incidents.closed_at IS 'Set once every checklist item is done and the leaked secret is retired: the incident''s rotation is old_retired, or it was cancelled and a later emergency rotation of the same credential, requested at or after the cancellation, is old_retired. The trigger incidents_guard refuses it earlier.';

-- Second, reminders while an incident stays open. Round n is due
-- n × incidents.remind_every after the report. The primary key makes the
-- claim of a round succeed once, so each round is sent at most once even
-- with several rotor processes. These are not rows of reminders: that
-- table is keyed by a credential's due date and planned from its reminder
-- schedule, while these follow the incident.
CREATE TABLE incident_reminders (
    incident_id  uuid NOT NULL REFERENCES incidents (id),
    round        integer NOT NULL CHECK (round >= 1),
    claimed_at   timestamptz NOT NULL,

    PRIMARY KEY (incident_id, round)
);

COMMENT ON TABLE incident_reminders IS 'One row per reminder round claimed for an open incident; the outcome per channel is an incident event.';

-- +goose Down

DROP TABLE incident_reminders;

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
        IF NOT EXISTS (SELECT 1 FROM rotations r WHERE r.id = NEW.rotation_id AND r.state = 'old_retired') THEN
            RAISE EXCEPTION 'incident % cannot close before its rotation is retired', NEW.id USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

COMMENT ON COLUMN incidents.closed_at IS 'Set once the rotation is retired and every checklist item is done; the trigger incidents_guard refuses it earlier.';
