-- +goose Up

-- Two columns that let the credential list and the reminder scheduler read
-- an index instead of every credential.
--
-- next_due_at is the due date that rotation.Credential.NextDueAt computes:
-- the rotation period after the last retirement, else after the configured
-- issue date, else after creation. A generated column cannot hold it,
-- because timestamptz + interval is only STABLE, so the trigger
-- credentials_next_due recomputes it on every INSERT and UPDATE, COPY
-- included, in the transaction that changes the row.
--
-- next_reminder_at is when the reminder scheduler must next plan the
-- credential's reminders. The scheduler sets it after planning, in the
-- same transaction as the reminders it inserts: the send time of the
-- credential's next reminder, or NULL when none will come due until the
-- credential changes. Every change that can move a reminder sets it to
-- '-infinity', meaning "plan at the next tick":
--   * a new credential (the column default);
--   * a change of the due date (the trigger credentials_next_due);
--   * the end of a rotation, retired or cancelled, because reminders stop
--     while a rotation is open (the trigger rotations_end_replans);
--   * every sync from the configuration file, which may change the
--     reminder schedule and channels (pgstore's SyncCredentials).

ALTER TABLE credentials
    ADD COLUMN next_due_at      timestamptz,
    ADD COLUMN next_reminder_at timestamptz DEFAULT '-infinity';

UPDATE credentials
SET next_due_at = COALESCE(last_retired_at, issued_at, created_at) + rotation_period * interval '1 microsecond';

ALTER TABLE credentials ALTER COLUMN next_due_at SET NOT NULL;

COMMENT ON COLUMN credentials.next_due_at IS 'When the credential is next due for rotation, kept by the trigger credentials_next_due; the order of the credential list.';
COMMENT ON COLUMN credentials.next_reminder_at IS 'When the reminder scheduler must next plan this credential: ''-infinity'' at the next tick, NULL not until the credential changes.';

-- +goose StatementBegin
CREATE FUNCTION credentials_next_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.next_due_at := COALESCE(NEW.last_retired_at, NEW.issued_at, NEW.created_at)
        + NEW.rotation_period * interval '1 microsecond';
    IF TG_OP = 'UPDATE' AND NEW.next_due_at IS DISTINCT FROM OLD.next_due_at THEN
        NEW.next_reminder_at := '-infinity';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER credentials_next_due BEFORE INSERT OR UPDATE ON credentials
    FOR EACH ROW EXECUTE FUNCTION credentials_next_due();

-- +goose StatementBegin
CREATE FUNCTION rotations_end_replans() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE credentials SET next_reminder_at = '-infinity' WHERE id = NEW.credential_id;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER rotations_end_replans AFTER UPDATE OF state ON rotations
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state AND NEW.state IN ('old_retired', 'cancelled'))
    EXECUTE FUNCTION rotations_end_replans();

-- The credential list pages through this index in due-date order.
CREATE INDEX credentials_by_next_due ON credentials (next_due_at, id);

-- The scheduler's planning query reads only this index: credentials whose
-- next reminder time has passed, earliest first.
CREATE INDEX credentials_reminder_due ON credentials (next_reminder_at, id)
    WHERE next_reminder_at IS NOT NULL;

-- +goose Down

DROP INDEX credentials_reminder_due;
DROP INDEX credentials_by_next_due;
DROP TRIGGER rotations_end_replans ON rotations;
DROP FUNCTION rotations_end_replans();
DROP TRIGGER credentials_next_due ON credentials;
DROP FUNCTION credentials_next_due();
ALTER TABLE credentials DROP COLUMN next_reminder_at, DROP COLUMN next_due_at;
