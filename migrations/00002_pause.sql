-- +goose Up

ALTER TABLE rotations
    ADD COLUMN paused_at      timestamptz,
    ADD COLUMN pause_reason   text,
    ADD COLUMN drift_accepted text NOT NULL DEFAULT '',
    ADD CONSTRAINT pause_set_together CHECK ((paused_at IS NULL) = (pause_reason IS NULL)),
    ADD CONSTRAINT pause_only_when_open CHECK (paused_at IS NULL OR state IN ('new_issued', 'dual_active'));

COMMENT ON COLUMN rotations.paused_at IS 'When rotor found a change to the secret that it did not make; transitions wait until an operator resumes.';
COMMENT ON COLUMN rotations.drift_accepted IS 'The change an operator accepted when resuming, so the watch does not pause the rotation again for it.';

ALTER TABLE events DROP CONSTRAINT events_action_check;
ALTER TABLE events ADD CONSTRAINT events_action_check CHECK (action IN (
    'request', 'issue', 'promote', 'rollback', 'retire', 'cancel', 'step_failed', 'paused', 'resumed'));

-- +goose Down

ALTER TABLE events DROP CONSTRAINT events_action_check;
ALTER TABLE events ADD CONSTRAINT events_action_check CHECK (action IN (
    'request', 'issue', 'promote', 'rollback', 'retire', 'cancel', 'step_failed'));
ALTER TABLE rotations
    DROP CONSTRAINT pause_only_when_open,
    DROP CONSTRAINT pause_set_together,
    DROP COLUMN drift_accepted,
    DROP COLUMN pause_reason,
    DROP COLUMN paused_at;
