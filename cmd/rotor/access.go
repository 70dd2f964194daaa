package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/apitoken"
	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/sso"
)

// access is who may use rotor serve: either sign-in with OpenID Connect
// plus API tokens, or, without the auth section, one local operator on a
// loopback address.
type access struct {
	auth   api.Authenticator
	signIn api.SignIn       // nil without the auth section
	tokens api.TokenManager // nil without the auth section
	stop   func()
}

// cleanupEvery is how often ended sessions and abandoned sign-ins are
// deleted.
const cleanupEvery = time.Hour

// newAccess builds the authenticators that the configuration sets up. With
// sign-in, an API token is tried first, so that a rejected token ends in a
// 401 that says why instead of falling back to a session.
func newAccess(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, getenv func(string) string, log *slog.Logger) (*access, error) {
	if !cfg.Auth.Enabled() {
		return &access{auth: api.Fixed{Name: localOperator(), Role: api.RoleOperator}, stop: func() {}}, nil
	}

	o := cfg.Auth.OIDC
	clientSecret := getenv(o.ClientSecretEnv)
	if clientSecret == "" {
		return nil, fmt.Errorf("auth.oidc: the environment variable %s, which contains the OpenID Connect client secret, is missing or empty; set it before starting rotor", o.ClientSecretEnv)
	}
	roles, err := sso.RoleGroupsFromNames(cfg.Auth.Roles)
	if err != nil {
		return nil, fmt.Errorf("auth.roles: %w", err)
	}
	client, err := providerClient(o.CAFile)
	if err != nil {
		return nil, err
	}
	signIn, err := sso.New(ctx, sso.Config{
		Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret.New(clientSecret),
		RedirectURL: cfg.RedirectURL(), Scopes: o.Scopes, GroupsClaim: o.GroupsClaim, NameClaim: o.NameClaim,
		RoleGroups: roles, SessionTTL: cfg.Auth.SessionTTL, IdleTimeout: cfg.Auth.IdleTimeout,
		HTTPClient: client, Logger: log.With("component", "sso"),
	}, pool)
	if err != nil {
		return nil, fmt.Errorf("configure sign-in: %w", err)
	}
	tokens := apitoken.New(pool, time.Now, log.With("component", "api_tokens"))

	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(cleanupEvery)
		defer t.Stop()
		for {
			select {
			case <-cctx.Done():
				return
			case <-t.C:
				if _, _, err := signIn.Cleanup(cctx); err != nil && cctx.Err() == nil {
					log.Warn("delete ended sessions", "error", err)
				}
			}
		}
	}()
	return &access{
		auth:   api.Chain{tokens, signIn},
		signIn: signIn,
		tokens: tokens,
		stop:   func() { cancel(); <-done },
	}, nil
}

// providerClient returns the HTTP client for the identity provider,
// trusting the PEM bundle in caFile instead of the system pool when set.
func providerClient(caFile string) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("auth.oidc.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auth.oidc.ca_file: %s contains no PEM certificate; give a PEM bundle of the provider's CA", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport, Timeout: 15 * time.Second}, nil
}
