-- +goose Up

-- API tokens for automation. A token is "rotor_" and 43 base64url
-- characters from 32 random bytes; rotor stores only its SHA-256 hash and
-- shows the token itself once, when it is created.
--
-- Names are unique among active tokens only (neither revoked nor expired),
-- so a name can be reused once its token has expired. A unique index
-- cannot express "not expired", because that depends on the time of the
-- check, so package apitoken locks the table while it checks and inserts.

CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]([A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?$'),
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_by    text NOT NULL CHECK (created_by <> ''),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    revoked_by    text,

    CONSTRAINT expires_within_a_year CHECK (
        expires_at > created_at AND expires_at <= created_at + interval '8760 hours'),
    CONSTRAINT revoked_set_together CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CONSTRAINT revoked_by_named CHECK (revoked_by IS NULL OR revoked_by <> ''),
    CONSTRAINT revoked_after_creation CHECK (revoked_at IS NULL OR revoked_at >= created_at),
    CONSTRAINT used_after_creation CHECK (last_used_at IS NULL OR last_used_at >= created_at)
);

COMMENT ON TABLE api_tokens IS 'API tokens for automation. Never holds a token, only its hash.';
COMMENT ON COLUMN api_tokens.token_hash IS 'SHA-256 of the whole token, "rotor_" prefix included. The token carries 256 random bits, so a fast hash is enough: there is nothing to guess.';
COMMENT ON COLUMN api_tokens.expires_at IS 'Required, and at most 365 days (8760 hours) after creation.';
COMMENT ON COLUMN api_tokens.last_used_at IS 'When the token last authenticated a request, written at most once a minute per token.';

CREATE INDEX api_tokens_newest_first ON api_tokens (created_at DESC, id);
CREATE INDEX api_tokens_unrevoked_name ON api_tokens (lower(name)) WHERE revoked_at IS NULL;

-- A token changes only by being used or revoked, revocation is final, and
-- a token is never deleted, so the audit log's token names stay resolvable.
-- +goose StatementBegin
CREATE FUNCTION api_tokens_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'API token % cannot be deleted; revoke it instead', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.name, NEW.role, NEW.token_hash, NEW.created_by, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.name, OLD.role, OLD.token_hash, OLD.created_by, OLD.created_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'API token % can only be used or revoked, not edited', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.revoked_at IS NOT NULL AND (NEW.revoked_at, NEW.revoked_by) IS DISTINCT FROM (OLD.revoked_at, OLD.revoked_by) THEN
        RAISE EXCEPTION 'API token % is already revoked', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER api_tokens_guard BEFORE UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_guard();
CREATE TRIGGER api_tokens_no_truncate BEFORE TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE token_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_id  uuid NOT NULL REFERENCES api_tokens (id),
    at        timestamptz NOT NULL,
    actor     text NOT NULL CHECK (actor <> ''),
    action    text NOT NULL CHECK (action IN ('created', 'revoked')),
    detail    text NOT NULL DEFAULT ''
);

COMMENT ON TABLE token_events IS 'Append-only audit log of API tokens: who created and who revoked each one. Never holds a token.';

CREATE INDEX token_events_by_token ON token_events (token_id, id);

CREATE TRIGGER token_events_no_update BEFORE UPDATE OR DELETE ON token_events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER token_events_no_truncate BEFORE TRUNCATE ON token_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- +goose Down

DROP TABLE token_events;
DROP TABLE api_tokens;
DROP FUNCTION api_tokens_guard();
