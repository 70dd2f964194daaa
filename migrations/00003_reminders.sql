-- +goose Up

CREATE TYPE reminder_status AS ENUM ('pending', 'sending', 'sent', 'failed', 'skipped');

CREATE TABLE reminders (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    credential_id    text NOT NULL REFERENCES credentials (id),
    due_at           timestamptz NOT NULL,
    before_due       bigint NOT NULL,
    channel          text NOT NULL CHECK (channel <> '' AND octet_length(channel) <= 200),

    status           reminder_status NOT NULL,
    send_at          timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz,
    lease_until      timestamptz,
    last_error       text NOT NULL DEFAULT '',
    skip_reason      text,

    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    finished_at      timestamptz,

    CONSTRAINT reminders_one_per_key UNIQUE (credential_id, due_at, before_due, channel),
    CONSTRAINT send_at_from_offset CHECK (send_at = due_at - before_due * interval '1 microsecond'),
    CONSTRAINT claimable_has_next_attempt CHECK (
        (status IN ('pending', 'sending')) = (next_attempt_at IS NOT NULL)),
    CONSTRAINT sending_leased CHECK (
        (status = 'sending') = (lease_until IS NOT NULL)
        AND (status <> 'sending' OR (next_attempt_at = lease_until AND attempts >= 1))),
    CONSTRAINT finished_stamped CHECK (
        (status IN ('sent', 'failed', 'skipped')) = (finished_at IS NOT NULL)),
    CONSTRAINT sent_attempted CHECK (status NOT IN ('sent', 'failed') OR attempts >= 1),
    CONSTRAINT failed_has_error CHECK (status <> 'failed' OR last_error <> ''),
    CONSTRAINT skipped_has_reason CHECK (
        (status = 'skipped') = (skip_reason IS NOT NULL) AND (skip_reason IS NULL OR skip_reason <> ''))
);

COMMENT ON TABLE reminders IS 'One row per credential, due date, offset and channel, so that each reminder is sent at most once however many rotor processes run. Never holds a secret.';
COMMENT ON COLUMN reminders.due_at IS 'The credential''s due date when the reminder was planned. A retirement moves the due date, so later reminders get new rows.';
COMMENT ON COLUMN reminders.before_due IS 'Microseconds before due_at that the reminder is for: 0 at the due date, negative for the reminders repeated while overdue.';
COMMENT ON COLUMN reminders.attempts IS 'How often a scheduler claimed the row to send it, including claims whose lease expired.';
COMMENT ON COLUMN reminders.next_attempt_at IS 'Earliest time a scheduler may claim the row: the send or retry time while pending, the lease''s end while sending.';
COMMENT ON COLUMN reminders.lease_until IS 'While sending: the claim belongs to one scheduler until then. A scheduler that dies leaves the row to be claimed again after it.';
COMMENT ON COLUMN reminders.last_error IS 'The latest send error, with URLs cut to scheme and host. Never a secret or a webhook URL.';
COMMENT ON COLUMN reminders.skip_reason IS 'Why the reminder was recorded but not sent, such as a later reminder replacing one missed while rotor was down.';

-- The scheduler's claim reads this index only: rows that can still be sent,
-- in the order they became claimable.
CREATE INDEX reminders_claimable ON reminders (next_attempt_at, id) WHERE status IN ('pending', 'sending');

-- The dashboard's count of failed reminders per credential.
CREATE INDEX reminders_failed ON reminders (credential_id) WHERE status = 'failed';

-- +goose Down

DROP TABLE reminders;
DROP TYPE reminder_status;
