-- +goose Up

-- Sign-in with OpenID Connect (package sso). Two tables, neither of which
-- holds a value that a browser presents: each is keyed by the SHA-256 of
-- the random value in the cookie or the state parameter, so a copy of the
-- database cannot be replayed as a session or a sign-in.

CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    subject       text NOT NULL CHECK (subject <> '' AND octet_length(subject) <= 255),
    name          text NOT NULL CHECK (name <> '' AND octet_length(name) <= 200),
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    groups        text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,

    CONSTRAINT seen_after_created CHECK (last_seen_at >= created_at),
    CONSTRAINT expires_after_created CHECK (expires_at > created_at)
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);

COMMENT ON TABLE sessions IS 'One row per signed-in browser. Deleted at sign-out; expired and idle rows are deleted by sso.SignIn.Cleanup and at each sign-in.';
COMMENT ON COLUMN sessions.token_hash IS 'SHA-256 of the 32 random bytes in the rotor_session cookie. The cookie value itself is never stored.';
COMMENT ON COLUMN sessions.subject IS 'The sub claim of the ID token: the person''s stable id at the identity provider.';
COMMENT ON COLUMN sessions.name IS 'The name that audit events record for requests of this session, from the configured name claim.';
COMMENT ON COLUMN sessions.role IS 'The role mapped from the groups at sign-in. A change of groups at the identity provider applies at the next sign-in.';
COMMENT ON COLUMN sessions.groups IS 'The groups claim at sign-in, kept to explain the role.';
COMMENT ON COLUMN sessions.last_seen_at IS 'The last request of the session, updated at most once a minute; the idle timeout counts from it.';

CREATE TABLE sso_logins (
    state_hash  bytea PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    nonce       text NOT NULL CHECK (nonce <> ''),
    verifier    text NOT NULL CHECK (octet_length(verifier) BETWEEN 43 AND 128),
    next_path   text NOT NULL CHECK (next_path LIKE '/%' AND octet_length(next_path) <= 2048),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL CHECK (expires_at > created_at)
);

CREATE INDEX sso_logins_expires_at ON sso_logins (expires_at);

COMMENT ON TABLE sso_logins IS 'Sign-ins started at /auth/login and not yet finished at /auth/callback. A row is deleted when the callback uses it, so each state is accepted once, and expires after 10 minutes.';
COMMENT ON COLUMN sso_logins.state_hash IS 'SHA-256 of the state parameter, which the browser also carries in the rotor_login cookie.';
COMMENT ON COLUMN sso_logins.verifier IS 'The PKCE code verifier. It is useless without the authorization code, which only the browser receives, and lives for at most 10 minutes.';
COMMENT ON COLUMN sso_logins.next_path IS 'The local path to return to after sign-in.';

-- +goose Down

DROP TABLE sso_logins;
DROP TABLE sessions;
