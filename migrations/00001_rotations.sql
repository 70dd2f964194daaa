-- +goose Up

CREATE TYPE rotation_state AS ENUM ('requested', 'new_issued', 'dual_active', 'old_retired', 'cancelled');
CREATE TYPE rotation_kind AS ENUM ('scheduled', 'manual', 'emergency', 'offboarding');
CREATE TYPE rotation_step AS ENUM ('stage', 'promote', 'rollback', 'retire', 'discard');

CREATE TABLE credentials (
    id               text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    organisation     text NOT NULL CHECK (organisation <> ''),
    organisation_id  uuid NOT NULL,
    client_id        text NOT NULL UNIQUE CHECK (client_id <> ''),
    auth_method      text NOT NULL CHECK (auth_method IN ('basic', 'post')),
    rotation_period  bigint NOT NULL CHECK (rotation_period >= 3600000000),
    min_dual_active  bigint NOT NULL CHECK (min_dual_active >= 0),
    overlap          bigint NOT NULL CHECK (overlap >= 0),
    backend          text NOT NULL,
    secret_path      text NOT NULL,
    retire_mode      text NOT NULL CHECK (retire_mode IN ('disable', 'destroy')),
    last_retired_at  timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

COMMENT ON TABLE credentials IS 'Persium client credentials, synced from the configuration file. Never holds a secret.';
COMMENT ON COLUMN credentials.rotation_period IS 'Microseconds. Periods are exact durations so that due dates do not move with daylight saving time.';
COMMENT ON COLUMN credentials.min_dual_active IS 'Microseconds between promote and retire below which retiring needs a written reason.';
COMMENT ON COLUMN credentials.overlap IS 'Microseconds Persium keeps the old secret valid after issuing a new one; 0 when not declared.';

CREATE TABLE rotations (
    id               uuid PRIMARY KEY,
    credential_id    text NOT NULL REFERENCES credentials (id),
    kind             rotation_kind NOT NULL,
    state            rotation_state NOT NULL,
    version          bigint NOT NULL CHECK (version >= 1),
    reason           text NOT NULL DEFAULT '',
    ticket           text NOT NULL DEFAULT '',
    requested_by     text NOT NULL CHECK (requested_by <> ''),

    step             rotation_step,
    step_by          text,
    step_reason      text,
    step_started_at  timestamptz,

    old_version      text,
    staged_version   text,
    new_version      text,

    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    issued_at        timestamptz,
    promoted_at      timestamptz,
    retired_at       timestamptz,
    cancelled_at     timestamptz,

    CONSTRAINT step_set_together CHECK (
        (step IS NULL) = (step_started_at IS NULL) AND (step IS NULL) = (step_by IS NULL)),
    CONSTRAINT step_matches_state CHECK (
        step IS NULL
        OR (step = 'stage' AND state = 'requested')
        OR (step IN ('promote', 'discard') AND state = 'new_issued')
        OR (step IN ('rollback', 'retire') AND state = 'dual_active')),
    CONSTRAINT requested_not_issued CHECK (
        state <> 'requested' OR (issued_at IS NULL AND staged_version IS NULL)),
    CONSTRAINT new_issued_staged CHECK (
        state <> 'new_issued' OR (issued_at IS NOT NULL AND staged_version IS NOT NULL AND promoted_at IS NULL)),
    CONSTRAINT dual_active_promoted CHECK (
        state <> 'dual_active' OR (promoted_at IS NOT NULL AND old_version IS NOT NULL AND new_version IS NOT NULL)),
    CONSTRAINT old_retired_stamped CHECK (
        state <> 'old_retired' OR (retired_at IS NOT NULL AND promoted_at IS NOT NULL)),
    CONSTRAINT cancelled_stamped CHECK (
        state <> 'cancelled' OR (cancelled_at IS NOT NULL AND promoted_at IS NULL))
);

COMMENT ON COLUMN rotations.version IS 'Optimistic concurrency: every update names the version it read and adds one.';
COMMENT ON COLUMN rotations.step IS 'A secrets-manager write recorded as intended and not yet completed; found and finished after a crash.';
COMMENT ON COLUMN rotations.old_version IS 'Backend version consumers read before the rotation. Never the value.';

-- At most one rotation per credential is open: Persium keeps a single old
-- secret, so a second concurrent rotation would drop it.
CREATE UNIQUE INDEX rotations_one_open_per_credential ON rotations (credential_id)
    WHERE state IN ('requested', 'new_issued', 'dual_active');

CREATE INDEX rotations_by_credential ON rotations (credential_id, created_at DESC);
CREATE INDEX rotations_unfinished ON rotations (id) WHERE step IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION rotations_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state IN ('old_retired', 'cancelled') THEN
        RAISE EXCEPTION 'rotation % is % and cannot change', OLD.id, OLD.state
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.version <> OLD.version + 1 THEN
        RAISE EXCEPTION 'rotation % must move from version % to %, not %', OLD.id, OLD.version, OLD.version + 1, NEW.version
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.id <> OLD.id OR NEW.credential_id <> OLD.credential_id OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'rotation % cannot change its id, credential or creation time', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.state <> OLD.state AND (OLD.state, NEW.state) NOT IN (
        ('requested', 'new_issued'), ('requested', 'cancelled'),
        ('new_issued', 'dual_active'), ('new_issued', 'cancelled'),
        ('dual_active', 'old_retired'), ('dual_active', 'new_issued')) THEN
        RAISE EXCEPTION 'rotation % cannot move from % to %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER rotations_guard BEFORE UPDATE ON rotations
    FOR EACH ROW EXECUTE FUNCTION rotations_guard();

CREATE TABLE events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rotation_id    uuid NOT NULL REFERENCES rotations (id),
    credential_id  text NOT NULL REFERENCES credentials (id),
    at             timestamptz NOT NULL,
    actor          text NOT NULL CHECK (actor <> ''),
    action         text NOT NULL CHECK (action IN ('request', 'issue', 'promote', 'rollback', 'retire', 'cancel', 'step_failed')),
    from_state     rotation_state,
    to_state       rotation_state NOT NULL,
    reason         text NOT NULL DEFAULT '',
    detail         text NOT NULL DEFAULT ''
);

COMMENT ON TABLE events IS 'Append-only audit log of rotations. Never holds a secret.';

CREATE INDEX events_by_rotation ON events (rotation_id, id);

-- +goose StatementBegin
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- +goose Down

DROP TABLE events;
DROP FUNCTION events_append_only();
DROP TABLE rotations;
DROP FUNCTION rotations_guard();
DROP TABLE credentials;
DROP TYPE rotation_step;
DROP TYPE rotation_kind;
DROP TYPE rotation_state;
