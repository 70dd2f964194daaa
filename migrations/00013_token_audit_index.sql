-- +goose Up

-- Indexes for the token events in the audit log search (pgstore's
-- SearchAudit), which pages through token_events together with events and
-- incident_events, newest first, by keyset on (at, id), as migration 00012
-- explains. Admins create and revoke tokens by hand, so the table stays
-- small, but without (at, id) every page would sort all of it. A
-- credential filter leaves token events out, so no index covers it.

CREATE INDEX token_events_newest_first ON token_events (at, id);
CREATE INDEX token_events_by_actor_at ON token_events (lower(actor), at, id);
CREATE INDEX token_events_by_action_at ON token_events (action, at, id);

-- +goose Down

DROP INDEX token_events_by_action_at;
DROP INDEX token_events_by_actor_at;
DROP INDEX token_events_newest_first;
