// Package persiumsim simulates Persium's token endpoint, a Keycloak realm
// that issues client_credentials tokens, for rotor's tests and for
// `rotor dev`.
//
// The simulation follows the source of Keycloak's client-secret
// authenticator and token endpoint in the Jakarta-based releases (22 and
// later) in what a secret rotation can observe. It accepts
// client_secret_basic, with the id and secret form-decoded after Base64 as
// RFC 6749 section 2.3.1 requires, and client_secret_post. Each client has
// a current secret and at most one rotated secret. Status codes, OAuth
// error codes and error descriptions are Keycloak's. Everything outside
// the client_credentials grant is simplified: every other grant type gets
// unsupported_grant_type here, while Keycloak supports several.
package persiumsim

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/rotorhq/rotor/secret"
)

// ErrClientNotFound is returned for a client id that AddClient never added.
var ErrClientNotFound = errors.New("client not found")

// ErrNoRotatedSecret is returned by RetireOld when the client has no
// rotated secret to retire.
var ErrNoRotatedSecret = errors.New("client has no rotated secret")

// DefaultFaultDelay is how long FaultDelay holds a request when
// Options.FaultDelay is zero. It is longer than tokencheck's default
// time-out, so a check gives up first.
const DefaultFaultDelay = 30 * time.Second

// Options configures a Server.
type Options struct {
	// Realm is the Keycloak realm in the token path. Empty means "persium".
	Realm string
	// Now returns the current time, for the rotated secret's expiry. Nil
	// means time.Now.
	Now func() time.Time
	// RotatedSecretLifetime is how long a rotated secret keeps working
	// after Issue, like the expiration period of Keycloak's
	// secret-rotation client policy. Zero means until RetireOld or the
	// next Issue.
	RotatedSecretLifetime time.Duration
	// FaultDelay is how long FaultDelay holds a request before the normal
	// response, unless the client gives up first. Zero means
	// DefaultFaultDelay.
	FaultDelay time.Duration
	// Logger receives one record per token request and per secret change,
	// never a secret. Nil discards them.
	Logger *slog.Logger
}

// Server is a simulated Persium token endpoint. It is an http.Handler and
// is safe for concurrent use.
type Server struct {
	realm           string
	now             func() time.Time
	rotatedLifetime time.Duration
	faultDelay      time.Duration
	logger          *slog.Logger

	mu       sync.Mutex
	clients  map[string]*client
	fault    Fault
	requests int
}

// client holds one client's secrets, as Keycloak stores a confidential
// client's secret and its single rotated secret.
type client struct {
	current secret.Value
	// rotated is the previous current secret, zero when there is none.
	rotated secret.Value
	// rotatedExpiresAt is when rotated stops working; zero means never.
	rotatedExpiresAt time.Time
}

// rotatedValid reports whether the rotated secret still works at now.
func (c *client) rotatedValid(now time.Time) bool {
	if c.rotated.IsZero() {
		return false
	}
	return c.rotatedExpiresAt.IsZero() || now.Before(c.rotatedExpiresAt)
}

// New returns a Server without clients and without a fault.
func New(opts Options) *Server {
	s := &Server{
		realm:           opts.Realm,
		now:             opts.Now,
		rotatedLifetime: opts.RotatedSecretLifetime,
		faultDelay:      opts.FaultDelay,
		logger:          opts.Logger,
		clients:         make(map[string]*client),
	}
	if s.realm == "" {
		s.realm = "persium"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.faultDelay <= 0 {
		s.faultDelay = DefaultFaultDelay
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// TokenPath returns the path of the realm's token endpoint,
// /realms/{realm}/protocol/openid-connect/token.
func (s *Server) TokenPath() string {
	return "/realms/" + url.PathEscape(s.realm) + "/protocol/openid-connect/token"
}

// AddClient adds a confidential client with secret current, or replaces
// the client and forgets its rotated secret if it exists.
func (s *Server) AddClient(clientID string, current secret.Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = &client{current: current}
	s.logger.Info("persiumsim added client", "client_id", clientID)
}

// Issue generates a new random secret, makes it the client's current
// secret and returns it. The previous current secret becomes the rotated
// secret, which keeps working for Options.RotatedSecretLifetime or until
// RetireOld. Keycloak keeps a single rotated secret, so an Issue during an
// overlap drops the older rotated secret at once.
//
// A generated secret is 32 characters of standard Base64, ends in "==" and
// contains at least one '+' and one '/', so that client_secret_basic's
// form encoding matters; Keycloak's own generator yields letters and
// digits only. Issue returns ErrClientNotFound for an unknown client.
func (s *Server) Issue(clientID string) (secret.Value, error) {
	issued := generateSecret()

	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return secret.Value{}, fmt.Errorf("issue secret for client %q: %w", clientID, ErrClientNotFound)
	}

	now := s.now()
	droppedRotated := c.rotatedValid(now)
	c.rotated = c.current
	c.rotatedExpiresAt = time.Time{}
	if s.rotatedLifetime > 0 {
		c.rotatedExpiresAt = now.Add(s.rotatedLifetime)
	}
	c.current = issued

	attrs := []any{"client_id", clientID, "dropped_rotated_secret", droppedRotated}
	if !c.rotatedExpiresAt.IsZero() {
		attrs = append(attrs, "rotated_secret_expires_at", c.rotatedExpiresAt)
	}
	s.logger.Info("persiumsim issued a new client secret", attrs...)
	return issued, nil
}

// RetireOld makes the client's rotated secret stop working, as Keycloak's
// "invalidate rotated secret" action does. It returns ErrClientNotFound for
// an unknown client and ErrNoRotatedSecret when there is no rotated secret,
// including after an earlier RetireOld.
func (s *Server) RetireOld(clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return fmt.Errorf("retire rotated secret of client %q: %w", clientID, ErrClientNotFound)
	}
	if c.rotated.IsZero() {
		return fmt.Errorf("retire rotated secret of client %q: %w", clientID, ErrNoRotatedSecret)
	}

	c.rotated = secret.Value{}
	c.rotatedExpiresAt = time.Time{}
	s.logger.Info("persiumsim retired the rotated client secret", "client_id", clientID)
	return nil
}

// Requests returns how many HTTP requests the server has received on any
// path, including those that got a fault's response.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// generateSecret returns a new random secret in the shape Issue documents.
func generateSecret() secret.Value {
	var random [24]byte
	// crypto/rand.Read never returns an error; it crashes the program if
	// the system's random source fails.
	_, _ = rand.Read(random[:])

	// 22 bytes encode to 30 characters and "==" padding.
	text := []byte(base64.StdEncoding.EncodeToString(random[:22]))
	body := len(text) - 2
	plus := int(random[22]) % body
	slash := (plus + 1 + int(random[23])%(body-1)) % body
	text[plus] = '+'
	text[slash] = '/'

	issued := secret.FromBytes(text)
	clear(text)
	return issued
}

// accessToken returns a new opaque access token. Keycloak issues a signed
// JWT, but no rotor code may read a token, so an opaque one is enough.
func accessToken() string {
	var random [24]byte
	_, _ = rand.Read(random[:])
	return "persiumsim." + base64.RawURLEncoding.EncodeToString(random[:])
}
