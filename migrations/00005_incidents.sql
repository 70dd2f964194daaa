-- +goose Up

-- Reported compromises. An incident's own history (report, notifications,
-- checklist, closing) lives in incident_events: those events happen after
-- the rotation ended, and have no rotation state to record. What the
-- incident does to its rotation (the escalation, Persium's early
-- revocation) is a rotation event in events, so the rotation's own
-- timeline stays complete. The incident page merges both.

ALTER TABLE rotations
    ADD COLUMN old_revoked_at timestamptz,
    ADD CONSTRAINT old_revoked_before_promotion CHECK (
        old_revoked_at IS NULL OR promoted_at IS NULL OR old_revoked_at <= promoted_at),
    -- Lets incidents reference a rotation together with its credential.
    ADD CONSTRAINT rotations_id_credential UNIQUE (id, credential_id);

COMMENT ON COLUMN rotations.old_revoked_at IS 'When an operator recorded that Persium revoked the old secret before promotion; promote and retire then skip the low-traffic window and the minimum time in dual_active.';

ALTER TABLE events DROP CONSTRAINT events_action_check;
ALTER TABLE events ADD CONSTRAINT events_action_check CHECK (action IN (
    'request', 'issue', 'promote', 'rollback', 'retire', 'cancel', 'step_failed', 'paused', 'resumed',
    'escalated', 'old_revoked'));

CREATE TYPE incident_what AS ENUM ('public_commit', 'lost_device', 'offboarding', 'other');

CREATE TABLE incidents (
    id              uuid PRIMARY KEY,
    credential_id   text NOT NULL REFERENCES credentials (id),
    rotation_id     uuid NOT NULL UNIQUE,
    what            incident_what NOT NULL,
    detected_at     timestamptz NOT NULL,
    reported_at     timestamptz NOT NULL,
    reported_by     text NOT NULL CHECK (reported_by <> ''),
    reference       text NOT NULL DEFAULT '' CHECK (octet_length(reference) <= 200),
    details         text NOT NULL DEFAULT '' CHECK (octet_length(details) <= 2000),
    force_revoke    boolean NOT NULL,
    escalated_from  rotation_kind,
    closed_at       timestamptz,

    FOREIGN KEY (rotation_id, credential_id) REFERENCES rotations (id, credential_id),
    CONSTRAINT detected_before_report CHECK (detected_at <= reported_at + interval '1 minute'),
    CONSTRAINT closed_after_report CHECK (closed_at IS NULL OR closed_at >= reported_at)
);

COMMENT ON TABLE incidents IS 'Reported compromises of a credential''s secret, one per emergency rotation. Never holds a secret.';
COMMENT ON COLUMN incidents.detected_at IS 'When the compromise was detected, as reported; up to one minute after reported_at, for clocks that run ahead.';
COMMENT ON COLUMN incidents.escalated_from IS 'The kind of the open rotation the report made an emergency; NULL when the report opened the rotation.';
COMMENT ON COLUMN incidents.closed_at IS 'Set once the rotation is retired and every checklist item is done; the trigger incidents_guard refuses it earlier.';

CREATE INDEX incidents_by_credential ON incidents (credential_id, reported_at DESC);
CREATE INDEX incidents_open ON incidents (reported_at) WHERE closed_at IS NULL;

CREATE TABLE incident_checklist (
    incident_id  uuid NOT NULL REFERENCES incidents (id),
    item         integer NOT NULL CHECK (item >= 1),
    title        text NOT NULL CHECK (btrim(title) <> '' AND octet_length(title) <= 200),
    added_by     text NOT NULL CHECK (added_by <> ''),
    added_at     timestamptz NOT NULL,
    done_by      text,
    done_at      timestamptz,
    note         text,

    PRIMARY KEY (incident_id, item),
    CONSTRAINT done_set_together CHECK (
        (done_at IS NULL) = (done_by IS NULL) AND (done_at IS NULL) = (note IS NULL)),
    CONSTRAINT done_by_named_with_note CHECK (
        done_at IS NULL OR (btrim(done_by) <> '' AND btrim(note) <> '' AND octet_length(note) <= 2000)),
    CONSTRAINT done_after_added CHECK (done_at IS NULL OR done_at >= added_at)
);

COMMENT ON TABLE incident_checklist IS 'The blast-radius checklist of an incident: places where the old secret may persist. A tick names who, when and a note, and is final.';

CREATE UNIQUE INDEX incident_checklist_title ON incident_checklist (incident_id, lower(title));

CREATE TABLE incident_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  uuid NOT NULL REFERENCES incidents (id),
    at           timestamptz NOT NULL,
    actor        text NOT NULL CHECK (actor <> ''),
    action       text NOT NULL CHECK (action IN ('reported', 'notified', 'notify_failed', 'item_added', 'item_done', 'closed')),
    item         integer,
    detail       text NOT NULL DEFAULT '',

    FOREIGN KEY (incident_id, item) REFERENCES incident_checklist (incident_id, item),
    CONSTRAINT item_events_name_item CHECK ((action IN ('item_added', 'item_done')) = (item IS NOT NULL))
);

COMMENT ON TABLE incident_events IS 'Append-only audit log of incidents. Never holds a secret.';

CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);

CREATE TRIGGER incident_events_no_update BEFORE UPDATE OR DELETE ON incident_events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER incident_events_no_truncate BEFORE TRUNCATE ON incident_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- An incident changes only by closing, and closes only when its rotation
-- is retired and every checklist item is done.
-- +goose StatementBegin
CREATE FUNCTION incidents_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER incidents_guard BEFORE UPDATE OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_guard();

-- A checklist item is added to an open incident, changes only by being
-- ticked once, and is never removed.
-- +goose StatementBegin
CREATE FUNCTION incident_checklist_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'checklist item % of incident % cannot be removed', OLD.item, OLD.incident_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM incidents i WHERE i.id = NEW.incident_id AND i.closed_at IS NOT NULL) THEN
        RAISE EXCEPTION 'incident % is closed; its checklist cannot change', NEW.incident_id USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.done_at IS NOT NULL THEN
            RAISE EXCEPTION 'checklist item % of incident % is already done', OLD.item, OLD.incident_id
                USING ERRCODE = 'check_violation';
        END IF;
        IF (NEW.incident_id, NEW.item, NEW.title, NEW.added_by, NEW.added_at)
           IS DISTINCT FROM (OLD.incident_id, OLD.item, OLD.title, OLD.added_by, OLD.added_at) THEN
            RAISE EXCEPTION 'checklist item % of incident % can only be ticked', OLD.item, OLD.incident_id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER incident_checklist_guard BEFORE INSERT OR UPDATE OR DELETE ON incident_checklist
    FOR EACH ROW EXECUTE FUNCTION incident_checklist_guard();

-- +goose Down

DROP TABLE incident_events;
DROP TABLE incident_checklist;
DROP FUNCTION incident_checklist_guard();
DROP TABLE incidents;
DROP FUNCTION incidents_guard();
DROP TYPE incident_what;
ALTER TABLE events DROP CONSTRAINT events_action_check;
ALTER TABLE events ADD CONSTRAINT events_action_check CHECK (action IN (
    'request', 'issue', 'promote', 'rollback', 'retire', 'cancel', 'step_failed', 'paused', 'resumed'));
ALTER TABLE rotations
    DROP CONSTRAINT rotations_id_credential,
    DROP CONSTRAINT old_revoked_before_promotion,
    DROP COLUMN old_revoked_at;
