package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/api"
)

const (
	// SessionCookie carries the session token: 32 random bytes, base64url
	// without padding.
	SessionCookie = "rotor_session"

	// LoginCookie carries the state of a sign-in in progress, so that the
	// callback accepts only the browser that started it.
	LoginCookie = "rotor_login"

	// seenEvery is how stale a session's last_seen_at may get before a
	// request updates it, so that a busy page does not write on every
	// request. The idle timeout is thus honoured to within this much.
	seenEvery = time.Minute
)

// errNotFound is returned for a session or a started sign-in that does
// not exist, has expired or was used.
var errNotFound = errors.New("not found")

// session is one row of the sessions table.
type session struct {
	ID        uuid.UUID
	Subject   string
	Name      string
	Role      api.Role
	Groups    []string
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
}

// pendingLogin is one row of the sso_logins table.
type pendingLogin struct {
	Nonce     string
	Verifier  string
	Next      string
	ExpiresAt time.Time
}

// Authenticate returns the principal of the request's session cookie. A
// request without a cookie, or with one whose session is unknown, expired
// or idle for longer than the idle timeout, gets api.ErrUnauthenticated,
// so a browser is sent to sign in again. Any other error is the database's.
func (s *SignIn) Authenticate(r *http.Request) (api.Principal, error) {
	token, ok := sessionToken(r)
	if !ok {
		return api.Principal{}, api.ErrUnauthenticated
	}
	ctx := r.Context()
	now := s.stamp()

	sess, err := s.lookupSession(ctx, token)
	if errors.Is(err, errNotFound) {
		return api.Principal{}, api.ErrUnauthenticated
	}
	if err != nil {
		return api.Principal{}, err
	}

	if !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeen.Add(s.cfg.IdleTimeout)) {
		if err := s.deleteSession(ctx, sess.ID); err != nil {
			s.log.WarnContext(ctx, "delete ended session", "session_id", sess.ID, "error", err)
		}
		s.log.InfoContext(ctx, "session ended", "session_id", sess.ID, "subject", sess.Subject,
			"reason", endReason(now, sess))
		return api.Principal{}, api.ErrUnauthenticated
	}

	if now.Sub(sess.LastSeen) >= seenEvery {
		if err := s.touchSession(ctx, sess.ID, now); err != nil {
			return api.Principal{}, err
		}
	}
	return api.Principal{Name: sess.Name, Role: sess.Role, Session: sess.ID.String()}, nil
}

func endReason(now time.Time, sess session) string {
	if !now.Before(sess.ExpiresAt) {
		return "expired"
	}
	return "idle"
}

// Cleanup deletes expired and idle sessions and expired sign-ins, and
// returns how many of each it deleted. Sign-in already deletes them as it
// goes, so calling Cleanup periodically only keeps the tables small when
// nobody signs in for a long time.
func (s *SignIn) Cleanup(ctx context.Context) (sessions, logins int64, err error) {
	now := s.stamp()
	sessions, err = s.deleteEndedSessions(ctx, now)
	if err != nil {
		return 0, 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM sso_logins WHERE expires_at <= $1`, now)
	if err != nil {
		return sessions, 0, fmt.Errorf("delete expired sign-ins: %w", err)
	}
	return sessions, tag.RowsAffected(), nil
}

// stamp returns now in UTC at Postgres's microsecond precision, so a time
// read back equals the time written.
func (s *SignIn) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newToken returns 32 random bytes as base64url, and their SHA-256.
func newToken() (token string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// sessionToken returns the request's session cookie if it has the shape
// newToken gives, so that garbage never reaches the database.
func sessionToken(r *http.Request) (string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return c.Value, true
}

// createSession stores a new session and returns its cookie token. It
// first deletes ended sessions, so the table does not grow without a
// periodic Cleanup.
func (s *SignIn) createSession(ctx context.Context, sess *session) (string, error) {
	if _, err := s.deleteEndedSessions(ctx, sess.CreatedAt); err != nil {
		s.log.WarnContext(ctx, "delete ended sessions", "error", err)
	}
	token, hash := newToken()
	sess.ID = uuid.New()
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sessions (id, token_hash, subject, name, role, groups, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`,
		sess.ID, hash, sess.Subject, sess.Name, sess.Role.String(), sess.Groups, sess.CreatedAt, sess.ExpiresAt)
	if err != nil {
		return "", fmt.Errorf("insert session for %s: %w", sess.Subject, err)
	}
	return token, nil
}

func (s *SignIn) lookupSession(ctx context.Context, token string) (session, error) {
	var sess session
	var role string
	err := s.pool.QueryRow(ctx, `
		SELECT id, subject, name, role, groups, created_at, last_seen_at, expires_at
		FROM sessions WHERE token_hash = $1`, hashToken(token)).
		Scan(&sess.ID, &sess.Subject, &sess.Name, &role, &sess.Groups, &sess.CreatedAt, &sess.LastSeen, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return session{}, errNotFound
	}
	if err != nil {
		return session{}, fmt.Errorf("look up session: %w", err)
	}
	r, ok := api.ParseRole(role)
	if !ok {
		return session{}, fmt.Errorf("session %s has the unknown role %q", sess.ID, role)
	}
	sess.Role = r
	return sess, nil
}

// touchSession moves last_seen_at forward. The condition keeps concurrent
// requests from moving it backwards.
func (s *SignIn) touchSession(ctx context.Context, id uuid.UUID, now time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2`, id, now)
	if err != nil {
		return fmt.Errorf("update last seen of session %s: %w", id, err)
	}
	return nil
}

func (s *SignIn) deleteSession(ctx context.Context, id uuid.UUID) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	return nil
}

// endSession deletes the session of token and returns it.
func (s *SignIn) endSession(ctx context.Context, token string) (session, error) {
	var sess session
	err := s.pool.QueryRow(ctx, `DELETE FROM sessions WHERE token_hash = $1 RETURNING id, subject`, hashToken(token)).
		Scan(&sess.ID, &sess.Subject)
	if errors.Is(err, pgx.ErrNoRows) {
		return session{}, errNotFound
	}
	if err != nil {
		return session{}, fmt.Errorf("delete session: %w", err)
	}
	return sess, nil
}

func (s *SignIn) deleteEndedSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		now, now.Add(-s.cfg.IdleTimeout))
	if err != nil {
		return 0, fmt.Errorf("delete ended sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// errTooManyLogins is returned when maxPendingLogins sign-ins are in
// progress.
var errTooManyLogins = errors.New("too many sign-ins in progress")

// startLogin stores a sign-in in progress under the hash of state. It
// deletes expired ones first, and fails with errTooManyLogins rather than
// let unauthenticated requests grow the table without bound.
func (s *SignIn) startLogin(ctx context.Context, state string, l pendingLogin) error {
	now := s.stamp()
	if _, err := s.pool.Exec(ctx, `DELETE FROM sso_logins WHERE expires_at <= $1`, now); err != nil {
		return fmt.Errorf("delete expired sign-ins: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO sso_logins (state_hash, nonce, verifier, next_path, created_at, expires_at)
		SELECT $1, $2, $3, $4, $5, $6
		WHERE (SELECT count(*) FROM sso_logins) < $7`,
		hashToken(state), l.Nonce, l.Verifier, l.Next, now, l.ExpiresAt, maxPendingLogins)
	if err != nil {
		return fmt.Errorf("insert sign-in: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errTooManyLogins
	}
	return nil
}

// takeLogin deletes the sign-in stored under the hash of state and returns
// it, so that each state is accepted once. An expired one is errNotFound.
func (s *SignIn) takeLogin(ctx context.Context, state string) (pendingLogin, error) {
	var l pendingLogin
	err := s.pool.QueryRow(ctx, `
		DELETE FROM sso_logins WHERE state_hash = $1
		RETURNING nonce, verifier, next_path, expires_at`, hashToken(state)).
		Scan(&l.Nonce, &l.Verifier, &l.Next, &l.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return pendingLogin{}, errNotFound
	}
	if err != nil {
		return pendingLogin{}, fmt.Errorf("take sign-in: %w", err)
	}
	if !s.stamp().Before(l.ExpiresAt) {
		return pendingLogin{}, errNotFound
	}
	return l, nil
}
