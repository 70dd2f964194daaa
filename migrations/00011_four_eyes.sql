-- +goose Up

-- The four-eyes rule: a credential can require a second operator, other
-- than the rotation's requester, to approve retirement and a recorded
-- force-revoke. The approval is a rotation event of its own, so it sits in
-- the audit log between the states it connects.

ALTER TABLE credentials ADD COLUMN four_eyes boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN credentials.four_eyes IS 'Whether retirement and force-revoke need the approval of an operator other than the requester.';

ALTER TABLE events DROP CONSTRAINT events_action_check;
ALTER TABLE events ADD CONSTRAINT events_action_check CHECK (action IN (
    'request', 'issue', 'promote', 'rollback', 'retire', 'cancel', 'step_failed', 'paused', 'resumed',
    'escalated', 'old_revoked', 'approved'));

-- +goose Down

ALTER TABLE events DROP CONSTRAINT events_action_check;
ALTER TABLE events ADD CONSTRAINT events_action_check CHECK (action IN (
    'request', 'issue', 'promote', 'rollback', 'retire', 'cancel', 'step_failed', 'paused', 'resumed',
    'escalated', 'old_revoked'));

ALTER TABLE credentials DROP COLUMN four_eyes;
