package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
)

// Token is an API token's record. The token itself is not part of it:
// rotor shows it once, when it is created, and keeps only its hash.
type Token struct {
	ID         string
	Name       string // recorded in audit events after "token:"
	Role       Role
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time // zero until the token authenticates a request
	RevokedAt  time.Time // zero unless revoked
	RevokedBy  string
}

// TokenStatus is whether a token is accepted at a given time.
type TokenStatus string

const (
	TokenActive  TokenStatus = "active"
	TokenExpired TokenStatus = "expired"
	TokenRevoked TokenStatus = "revoked" // whether or not it has expired since
)

// Status returns the token's status at now.
func (t Token) Status(now time.Time) TokenStatus {
	switch {
	case !t.RevokedAt.IsZero():
		return TokenRevoked
	case !now.Before(t.ExpiresAt):
		return TokenExpired
	}
	return TokenActive
}

// TokenManager creates, lists and revokes API tokens. Package apitoken
// implements it.
type TokenManager interface {
	// Create stores a new token for actor and returns its record and the
	// token itself, which rotor cannot show again. A bad name, role or
	// expiry is a rotation.ErrInvalid, and a name that an active token
	// has is a rotation.ErrConflict.
	Create(ctx context.Context, actor, name string, role Role, expiresAt time.Time) (Token, secret.Value, error)

	// List returns every token, newest first, revoked and expired ones
	// included.
	List(ctx context.Context) ([]Token, error)

	// Revoke ends a token at once. An unknown id is a
	// rotation.ErrNotFound, a token revoked before a rotation.ErrConflict
	// with the code token_already_revoked.
	Revoke(ctx context.Context, actor, id string) (Token, error)
}

// tokenExpiryDays are the lifetimes the create form offers, in days.
var tokenExpiryDays = []int{30, 90, 365}

// maxTokenDays is the longest lifetime the JSON API accepts, matching
// apitoken.MaxLifetime.
const maxTokenDays = 365

// tokenExpiry returns the expiry days after now, or an error that names
// the accepted range.
func tokenExpiry(now time.Time, days int) (time.Time, error) {
	if days < 1 || days > maxTokenDays {
		return time.Time{}, badRequest("invalid_token_expiry", fmt.Sprintf(
			"The token must expire in 1 to %d days, not %d. rotor requires every token to expire within a year.", maxTokenDays, days))
	}
	return now.Add(time.Duration(days) * 24 * time.Hour), nil
}

func parseTokenRole(name string) (Role, error) {
	role, ok := ParseRole(name)
	if !ok {
		return 0, badRequest("invalid_role", fmt.Sprintf("The role %q is not one of viewer, operator or admin.", clip(name)))
	}
	return role, nil
}

// tokenUIRoutes registers the admin pages for API tokens, when rotor has a
// TokenManager.
func (s *Server) tokenUIRoutes(r chi.Router) {
	if s.tokens == nil {
		return
	}
	r.Get("/admin/tokens", s.uiHandler(s.tokensPage))
	r.Post("/admin/tokens", s.uiHandler(s.uiCreateToken))
	r.Post("/admin/tokens/{id}/revoke", s.uiHandler(s.uiRevokeToken))
}

// tokenJSONRoutes registers the token routes under /api/v1, when rotor has
// a TokenManager.
func (s *Server) tokenJSONRoutes(r chi.Router) {
	if s.tokens == nil {
		return
	}
	r.Get("/tokens", s.jsonHandler(s.listTokens))
	r.Post("/tokens", s.jsonHandler(s.createToken))
	r.Post("/tokens/{id}/revoke", s.jsonHandler(s.revokeToken))
}

// The pages.

// tokenForm holds the create form's values, so a rejected form comes back
// filled in.
type tokenForm struct {
	Name string
	Role string
	Days int
}

// tokenRow is a token with its status at render time. Its Status field
// shadows the method Token.Status.
type tokenRow struct {
	Token
	Status TokenStatus
}

// createdToken is the token shown once after its creation.
type createdToken struct {
	Token
	Value string
}

type tokensView struct {
	page
	Tokens     []tokenRow
	Created    *createdToken
	Form       tokenForm
	Roles      []Role
	ExpiryDays []int
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleAdmin); err != nil {
		return err
	}
	return s.renderTokens(w, r, http.StatusOK, s.base(r, "API tokens"), tokenForm{}, nil)
}

// renderTokens renders the tokens page with status: the list, the create
// form filled with form, and created, when not nil, shown once above them.
func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, status int, base page, form tokenForm, created *createdToken) error {
	tokens, err := s.tokens.List(r.Context())
	if err != nil {
		return err
	}
	now := s.now()
	rows := make([]tokenRow, len(tokens))
	for i, t := range tokens {
		rows[i] = tokenRow{Token: t, Status: t.Status(now)}
	}
	if form.Role == "" {
		form.Role = RoleViewer.String()
	}
	if form.Days == 0 {
		form.Days = tokenExpiryDays[1]
	}
	s.render(w, r, status, "tokens", tokensView{
		page: base, Tokens: rows, Created: created, Form: form,
		Roles: []Role{RoleViewer, RoleOperator, RoleAdmin}, ExpiryDays: tokenExpiryDays,
	})
	return nil
}

// uiCreateToken creates a token and renders it in the response, once. It
// does not redirect, since the token must not travel in a URL, and the
// response carries the global Cache-Control: no-store.
func (s *Server) uiCreateToken(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleAdmin)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	form := tokenForm{Name: r.PostFormValue("name"), Role: r.PostFormValue("role")}
	form.Days, err = strconv.Atoi(r.PostFormValue("expires_in_days"))
	if err != nil {
		return s.tokenFormError(w, r, form, badRequest("invalid_token_expiry", "The expiry is missing or not a number of days. Choose when the token expires."))
	}

	role, err := parseTokenRole(form.Role)
	if err != nil {
		return s.tokenFormError(w, r, form, err)
	}
	expiresAt, err := tokenExpiry(s.now(), form.Days)
	if err != nil {
		return s.tokenFormError(w, r, form, err)
	}
	t, value, err := s.tokens.Create(r.Context(), p.Name, form.Name, role, expiresAt)
	if err != nil {
		return s.tokenFormError(w, r, form, err)
	}

	base := s.base(r, "API token created")
	base.Notice, base.NoticeKey = fmt.Sprintf("API token %q created.", t.Name), "token-created"
	return s.renderTokens(w, r, http.StatusCreated, base, tokenForm{}, &createdToken{Token: t, Value: value.Reveal()})
}

// tokenFormError re-renders the tokens page with err above the form, or
// returns err when it does not belong to the form.
func (s *Server) tokenFormError(w http.ResponseWriter, r *http.Request, form tokenForm, err error) error {
	status, _, message, internal := describe(err, "")
	if internal || status >= 500 || status == http.StatusForbidden || status == http.StatusNotFound {
		return err
	}
	base := s.base(r, "API tokens")
	base.Error = message
	return s.renderTokens(w, r, status, base, form, nil)
}

// uiRevokeToken revokes a token and shows the list again. Revoking a token
// that is already revoked, as from a second click, shows the list with a
// notice rather than an error.
func (s *Server) uiRevokeToken(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleAdmin)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	t, err := s.tokens.Revoke(r.Context(), p.Name, chi.URLParam(r, "id"))
	base := s.base(r, "API tokens")
	if e, ok := rotation.AsError(err); ok && e.Code == "token_already_revoked" {
		base.Notice, base.NoticeKey = e.Message, "token-already-revoked"
		return s.renderTokens(w, r, http.StatusOK, base, tokenForm{}, nil)
	}
	if err != nil {
		return err
	}
	base.Notice, base.NoticeKey = fmt.Sprintf("API token %q revoked. rotor rejects it from now on with the code token_revoked.", t.Name), "token-revoked"
	return s.renderTokens(w, r, http.StatusOK, base, tokenForm{}, nil)
}

// The JSON API.

type tokenJSON struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Role       string      `json:"role"`
	Status     TokenStatus `json:"status"`
	CreatedBy  string      `json:"created_by"`
	CreatedAt  time.Time   `json:"created_at"`
	ExpiresAt  time.Time   `json:"expires_at"`
	LastUsedAt *time.Time  `json:"last_used_at"`
	RevokedAt  *time.Time  `json:"revoked_at"`
	RevokedBy  *string     `json:"revoked_by"`
}

func toTokenJSON(t Token, now time.Time) tokenJSON {
	out := tokenJSON{
		ID: t.ID, Name: t.Name, Role: t.Role.String(), Status: t.Status(now),
		CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt.UTC(), ExpiresAt: t.ExpiresAt.UTC(),
		LastUsedAt: timePtr(t.LastUsedAt), RevokedAt: timePtr(t.RevokedAt),
	}
	if t.RevokedBy != "" {
		by := t.RevokedBy
		out.RevokedBy = &by
	}
	return out
}

// createdTokenJSON is the one response that carries a token.
type createdTokenJSON struct {
	tokenJSON
	Token string `json:"token"`
}

type createTokenBody struct {
	Name          string `json:"name"`
	Role          string `json:"role"`
	ExpiresInDays int    `json:"expires_in_days"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleAdmin); err != nil {
		return err
	}
	tokens, err := s.tokens.List(r.Context())
	if err != nil {
		return err
	}
	now := s.now()
	out := make([]tokenJSON, len(tokens))
	for i, t := range tokens {
		out[i] = toTokenJSON(t, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleAdmin)
	if err != nil {
		return err
	}
	var body createTokenBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	role, err := parseTokenRole(body.Role)
	if err != nil {
		return err
	}
	expiresAt, err := tokenExpiry(s.now(), body.ExpiresInDays)
	if err != nil {
		return err
	}
	t, value, err := s.tokens.Create(r.Context(), p.Name, body.Name, role, expiresAt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createdTokenJSON{tokenJSON: toTokenJSON(t, s.now()), Token: value.Reveal()})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	p, err := require(r, RoleAdmin)
	if err != nil {
		return err
	}
	var body struct{}
	if err := decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	t, err := s.tokens.Revoke(r.Context(), p.Name, chi.URLParam(r, "id"))
	if errors.Is(err, rotation.ErrNotFound) {
		return &httpError{status: http.StatusNotFound, code: "not_found", message: fmt.Sprintf("There is no API token %q.", clip(chi.URLParam(r, "id")))}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toTokenJSON(t, s.now()))
	return nil
}
