package apitoken

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
)

// Store keeps API tokens in the api_tokens table and their audit events in
// token_events. It implements api.TokenManager and api.Authenticator, and
// is safe for concurrent use.
//
// Errors for people are *rotation.Error values of the kinds ErrInvalid,
// ErrConflict and ErrNotFound. A database that cannot be reached gives an
// error that wraps rotation.ErrUnavailable.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	log  *slog.Logger
}

// New returns a store over pool, whose schema must be migrated (package
// migrations). now stamps every time it writes; log receives token
// creations, revocations and rejected tokens, never a token itself.
func New(pool *pgxpool.Pool, now func() time.Time, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, now: now, log: log}
}

// stamp returns now in UTC at Postgres's microsecond precision, so a time
// read back equals the time written.
func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

const tokenColumns = `id::text, name, role, token_hash, created_by, created_at, expires_at,
	last_used_at, revoked_at, revoked_by`

// scanToken reads tokenColumns into a token and its stored hash.
func scanToken(row pgx.Row) (api.Token, []byte, error) {
	var (
		t                  api.Token
		role               string
		hash               []byte
		lastUsed, revoked  *time.Time
		revokedBy          *string
		createdAt, expires time.Time
	)
	err := row.Scan(&t.ID, &t.Name, &role, &hash, &t.CreatedBy, &createdAt, &expires, &lastUsed, &revoked, &revokedBy)
	if err != nil {
		return api.Token{}, nil, err
	}
	r, ok := api.ParseRole(role)
	if !ok {
		return api.Token{}, nil, fmt.Errorf("API token %s has the unknown role %q", t.ID, role)
	}
	t.Role = r
	t.CreatedAt, t.ExpiresAt = createdAt.UTC(), expires.UTC()
	if lastUsed != nil {
		t.LastUsedAt = lastUsed.UTC()
	}
	if revoked != nil {
		t.RevokedAt = revoked.UTC()
	}
	if revokedBy != nil {
		t.RevokedBy = *revokedBy
	}
	return t, hash, nil
}

// Create stores a new token named name with role, valid until expiresAt,
// and records actor as its creator in token_events. It returns the token's
// record and the token itself, which exists nowhere else afterwards.
//
// Errors: rotation.ErrInvalid for a bad name, role or expiry (at most
// MaxLifetime from now), rotation.ErrConflict when an active token has the
// same name, compared without case.
func (s *Store) Create(ctx context.Context, actor, name string, role api.Role, expiresAt time.Time) (api.Token, secret.Value, error) {
	now := s.stamp()
	expiresAt = expiresAt.UTC().Truncate(time.Microsecond)
	if actor == "" {
		return api.Token{}, secret.Value{}, errors.New("create API token: no actor")
	}
	for _, err := range []error{checkName(name), checkRole(role), checkExpiry(expiresAt, now)} {
		if err != nil {
			return api.Token{}, secret.Value{}, err
		}
	}

	value, hash := generate()
	t := api.Token{ID: uuid.NewString(), Name: name, Role: role, CreatedBy: actor, CreatedAt: now, ExpiresAt: expiresAt}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The lock makes the check and the insert below one step for
		// concurrent creations. Reads go on meanwhile, but writes of
		// last_used_at wait for the commit.
		if _, err := tx.Exec(ctx, `LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock api_tokens: %w", err)
		}
		var (
			otherBy string
			otherAt time.Time
		)
		err := tx.QueryRow(ctx, `
			SELECT created_by, created_at FROM api_tokens
			WHERE lower(name) = lower($1) AND revoked_at IS NULL AND expires_at > $2
			LIMIT 1`, name, now).Scan(&otherBy, &otherAt)
		switch {
		case err == nil:
			return &rotation.Error{Kind: rotation.ErrConflict, Code: "token_name_taken", Message: fmt.Sprintf(
				"An active API token named %q already exists, created by %s at %s. Choose another name, or revoke that token first.",
				name, otherBy, otherAt.UTC().Format(time.RFC3339))}
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("look for an active token named %q: %w", name, err)
		}

		if _, err := tx.Exec(ctx, `
			INSERT INTO api_tokens (id, name, role, token_hash, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			t.ID, t.Name, t.Role.String(), hash[:], t.CreatedBy, t.CreatedAt, t.ExpiresAt); err != nil {
			return fmt.Errorf("insert API token: %w", err)
		}
		detail := fmt.Sprintf("name %s, role %s, expires %s", t.Name, t.Role, t.ExpiresAt.Format(time.RFC3339))
		return insertEvent(ctx, tx, t.ID, now, actor, "created", detail)
	})
	if err != nil {
		return api.Token{}, secret.Value{}, tokenError(fmt.Sprintf("create API token %q", name), err)
	}
	s.log.InfoContext(ctx, "api token created", "token_id", t.ID, "token_name", t.Name, "role", t.Role.String(),
		"expires_at", t.ExpiresAt, "actor", actor)
	return t, value, nil
}

// List returns every token, newest first, revoked and expired ones
// included.
func (s *Store) List(ctx context.Context) ([]api.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, tokenError("list API tokens", err)
	}
	tokens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.Token, error) {
		t, _, err := scanToken(row)
		return t, err
	})
	if err != nil {
		return nil, tokenError("list API tokens", err)
	}
	return tokens, nil
}

// Revoke ends the token with id at once, and records actor in
// token_events. An expired token can be revoked too.
//
// Errors: rotation.ErrNotFound for an unknown id, rotation.ErrConflict
// (code token_already_revoked) for a token that is already revoked.
func (s *Store) Revoke(ctx context.Context, actor, id string) (api.Token, error) {
	now := s.stamp()
	if actor == "" {
		return api.Token{}, errors.New("revoke API token: no actor")
	}
	notFound := &rotation.Error{Kind: rotation.ErrNotFound, Code: "token_not_found",
		Message: "There is no API token with this id. Reload the tokens page to see the current list."}
	if _, err := uuid.Parse(id); err != nil {
		return api.Token{}, notFound
	}

	var t api.Token
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, _, err = scanToken(tx.QueryRow(ctx, `
			UPDATE api_tokens SET revoked_at = $2, revoked_by = $3
			WHERE id = $1 AND revoked_at IS NULL
			RETURNING `+tokenColumns, id, now, actor))
		if errors.Is(err, pgx.ErrNoRows) {
			t, _, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, id))
			if errors.Is(err, pgx.ErrNoRows) {
				return notFound
			}
			if err != nil {
				return fmt.Errorf("read API token: %w", err)
			}
			return &rotation.Error{Kind: rotation.ErrConflict, Code: "token_already_revoked", Message: fmt.Sprintf(
				"The API token %q was already revoked at %s by %s.", t.Name, t.RevokedAt.Format(time.RFC3339), t.RevokedBy)}
		}
		if err != nil {
			return fmt.Errorf("mark revoked: %w", err)
		}
		return insertEvent(ctx, tx, t.ID, now, actor, "revoked", "name "+t.Name)
	})
	if err != nil {
		return api.Token{}, tokenError("revoke API token "+id, err)
	}
	s.log.InfoContext(ctx, "api token revoked", "token_id", t.ID, "token_name", t.Name, "actor", actor)
	return t, nil
}

func insertEvent(ctx context.Context, tx pgx.Tx, tokenID string, at time.Time, actor, action, detail string) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO token_events (token_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)`,
		tokenID, at, actor, action, detail); err != nil {
		return fmt.Errorf("record %s event: %w", action, err)
	}
	return nil
}

// Authenticate finds the token in a request's "Authorization: Bearer"
// header. It looks only at requests under /api/, so a token cannot act
// through the browser pages and their forms, which rely on the session
// cookie alone.
//
// It returns api.ErrUnauthenticated for a request outside /api/ or without
// a bearer token, so that the next authenticator may try. A malformed,
// unknown, revoked or expired token gives an *api.AuthError with the code
// invalid_token, token_revoked or token_expired. Any other error means the
// database could not be asked.
func (s *Store) Authenticate(r *http.Request) (api.Principal, error) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return api.Principal{}, api.ErrUnauthenticated
	}
	headers := r.Header.Values("Authorization")
	if len(headers) == 0 {
		return api.Principal{}, api.ErrUnauthenticated
	}
	scheme, credentials, _ := strings.Cut(headers[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return api.Principal{}, api.ErrUnauthenticated
	}
	if len(headers) > 1 {
		return api.Principal{}, errSeveralHeaders
	}
	hash, ok := hashToken(strings.TrimSpace(credentials))
	if !ok {
		return api.Principal{}, errMalformed
	}

	ctx := r.Context()
	t, err := s.lookup(ctx, hash)
	if err != nil {
		return api.Principal{}, err
	}
	now := s.stamp()
	switch {
	case !t.RevokedAt.IsZero():
		s.log.InfoContext(ctx, "api token rejected", "token_id", t.ID, "token_name", t.Name, "code", "token_revoked")
		return api.Principal{}, errRevoked(t)
	case !now.Before(t.ExpiresAt):
		s.log.InfoContext(ctx, "api token rejected", "token_id", t.ID, "token_name", t.Name, "code", "token_expired")
		return api.Principal{}, errExpired(t)
	}

	if t.LastUsedAt.IsZero() || now.Sub(t.LastUsedAt) >= lastUsedResolution {
		s.touch(ctx, t.ID, now)
	}
	return api.Principal{Name: "token:" + t.Name, Role: t.Role}, nil
}

// lookup returns the token whose hash is hash, or errUnknown.
//
// The database finds the row through the unique index on token_hash, and
// an index search does not take constant time. That leaks nothing useful:
// the timing could at most reveal how much of a guess's hash matches a
// stored hash, and that does not bring an attacker closer to a token with
// that hash. The comparison in Go is constant-time all the same, so that
// no code path compares the secret-derived bytes in variable time.
func (s *Store) lookup(ctx context.Context, hash [sha256.Size]byte) (api.Token, error) {
	t, stored, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = $1`, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return api.Token{}, errUnknown
	}
	if err != nil {
		return api.Token{}, tokenError("look up API token", err)
	}
	if subtle.ConstantTimeCompare(stored, hash[:]) != 1 {
		return api.Token{}, errUnknown
	}
	return t, nil
}

// touch sets the token's last_used_at to now unless another request did
// within lastUsedResolution. A failure is logged and does not fail the
// request, whose token is valid.
func (s *Store) touch(ctx context.Context, id string, now time.Time) {
	_, err := s.pool.Exec(ctx, `
		UPDATE api_tokens SET last_used_at = $2
		WHERE id = $1 AND revoked_at IS NULL AND (last_used_at IS NULL OR last_used_at <= $3)`,
		id, now, now.Add(-lastUsedResolution))
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.WarnContext(ctx, "record api token use", "token_id", id, "error", err)
	}
}

// inTx runs fn in a transaction and commits it if fn returns nil. It rolls
// back on an error or a panic, with a context that survives the
// cancellation of ctx so the rollback still reaches the server.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()

	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// tokenError passes a *rotation.Error through and wraps anything else with
// what was being done. A database that cannot be reached becomes
// rotation.ErrUnavailable, which the HTTP layer shows as 503.
func tokenError(doing string, err error) error {
	if _, ok := rotation.AsError(err); ok {
		return err
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) && !errors.Is(err, context.Canceled) && isConnError(err) {
		return fmt.Errorf("%s: %w: %w", doing, rotation.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func isConnError(err error) bool {
	var connErr *pgconn.ConnectError
	return pgconn.SafeToRetry(err) || errors.As(err, &connErr) || pgconn.Timeout(err)
}
