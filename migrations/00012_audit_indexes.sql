-- +goose Up

-- Indexes for the audit log search (pgstore's SearchAudit), which pages
-- through events and incident_events together, newest first, by keyset
-- on (at, id). Each filter has an index that starts with its column and
-- ends with (at, id), so a page is an index range read backwards from the
-- cursor, whatever the size of the log. Filtering incident events by
-- credential goes through incidents_by_credential and
-- incident_events_by_incident instead: a credential has few incidents.
--
-- Audit events are written once per transition or incident step, so the
-- extra index writes cost little. CREATE INDEX blocks writes to the table
-- while it runs, which on a log of 1,000,000 events takes seconds.

CREATE INDEX events_newest_first ON events (at, id);
CREATE INDEX events_by_credential_at ON events (credential_id, at, id);
CREATE INDEX events_by_actor_at ON events (lower(actor), at, id);
CREATE INDEX events_by_action_at ON events (action, at, id);

CREATE INDEX incident_events_newest_first ON incident_events (at, id);
CREATE INDEX incident_events_by_actor_at ON incident_events (lower(actor), at, id);
CREATE INDEX incident_events_by_action_at ON incident_events (action, at, id);

-- +goose Down

DROP INDEX incident_events_by_action_at;
DROP INDEX incident_events_by_actor_at;
DROP INDEX incident_events_newest_first;
DROP INDEX events_by_action_at;
DROP INDEX events_by_actor_at;
DROP INDEX events_by_credential_at;
DROP INDEX events_newest_first;
