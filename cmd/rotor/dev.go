package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// demoCredentials are the two credentials `rotor dev` starts with: one on
// each token auth method and secret format. They have no minimum time in
// dual_active, so a walk-through needs no waiting.
var demoCredentials = []struct {
	cred   rotation.Credential
	format secretstore.Format
}{
	{
		cred: rotation.Credential{
			ID: "acme-prod", Organisation: "Acme Corporation", OrganisationID: "3f2b8c1e-5d4a-4e7b-9a61-0c8d2e4f6a10",
			ClientID: "acme-prod-m2m", AuthMethod: "basic", RotationPeriod: 90 * 24 * time.Hour,
			Backend: "memory", SecretPath: "persium/acme-prod", RetireMode: secretstore.RetireDisable,
		},
		format: secretstore.Format{JSONKey: "client_secret"},
	},
	{
		cred: rotation.Credential{
			ID: "globex-eu", Organisation: "Globex Europe GmbH", OrganisationID: "8e1d4c2a-7b3f-4a9e-b5c6-2d1f0e9a8b74",
			ClientID: "globex-eu-m2m", AuthMethod: "post", RotationPeriod: 90 * 24 * time.Hour,
			Backend: "memory", SecretPath: "persium/globex-eu", RetireMode: secretstore.RetireDestroy,
		},
		format: secretstore.Format{},
	},
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rotor dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on, host:port")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := requireLoopback(*addr); err != nil {
		fmt.Fprintf(stderr, "rotor dev: %v\n", err)
		return 2
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := newLogger(stderr, level)

	srv, cleanup, err := buildDev(ctx, log)
	if err != nil {
		fmt.Fprintf(stderr, "rotor dev: %v\n", err)
		return 1
	}
	defer cleanup()
	fmt.Fprintln(stdout, "rotor dev: in memory, with a simulated Persium; every request acts as the operator \"dev\"")
	return listenAndServe(ctx, *addr, srv, config.TLS{}, stdout, stderr, log)
}

// buildDev wires rotor in memory: the memory rotation store, one memory
// secret store per demo credential, and the simulated Persium served over
// HTTPS with a certificate that only rotor's checker trusts.
func buildDev(ctx context.Context, log *slog.Logger) (http.Handler, func(), error) {
	sim := persiumsim.New(persiumsim.Options{Logger: log.With("component", "simulated_persium")})
	tlsSim, err := persiumsim.NewTLS(sim, log)
	if err != nil {
		return nil, nil, fmt.Errorf("start the simulated Persium: %w", err)
	}
	checker, err := tokencheck.New(tokencheck.Config{TokenURL: tlsSim.URL + sim.TokenPath(), RootCAs: tlsSim.CertPool})
	if err != nil {
		tlsSim.Close()
		return nil, nil, fmt.Errorf("configure the token endpoint check: %w", err)
	}

	store := memstore.New(time.Now)
	secrets := make(map[string]rotation.SecretStore)
	var creds []rotation.Credential
	for _, d := range demoCredentials {
		initial, err := randomSecret()
		if err != nil {
			tlsSim.Close()
			return nil, nil, err
		}
		sim.AddClient(d.cred.ClientID, initial)
		secrets[d.cred.ID] = memory.New(initial, d.format)
		creds = append(creds, d.cred)
	}
	if err := store.SyncCredentials(ctx, creds); err != nil {
		tlsSim.Close()
		return nil, nil, fmt.Errorf("load demo credentials: %w", err)
	}

	m, err := newMetrics(store, nil, log)
	if err != nil {
		tlsSim.Close()
		return nil, nil, err
	}
	secrets = instrumentSecrets(m, secrets, creds)
	// rotor dev keeps nothing across restarts, so a random key is enough.
	key, err := fingerprintKey(func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		tlsSim.Close()
		return nil, nil, err
	}
	svc := rotation.NewService(rotation.Options{Store: store, Secrets: secrets, Checker: checker, Logger: log, FingerprintKey: key,
		Notifier: logNotifier{log: log.With("component", "urgent_notifier")}})
	srv, err := api.New(api.Options{
		Service: svc, Auth: api.Fixed{Name: "dev", Role: api.RoleOperator}, Logger: log, Dev: sim,
	})
	if err != nil {
		tlsSim.Close()
		return nil, nil, err
	}

	// Open incidents remind through the log notifier, as in rotor serve.
	incidentReminders := &rotation.IncidentReminders{Service: svc, Logger: log.With("component", "incident_reminders")}
	incidentReminders.Start(ctx)
	return withMetrics(srv.Handler(), m), func() { incidentReminders.Stop(); tlsSim.Close() }, nil
}

// logNotifier replaces notification channels in `rotor dev`, which
// configures none. It writes each urgent message's subject to the log and
// reports it delivered on a channel named "log".
type logNotifier struct {
	log *slog.Logger
}

// NotifyUrgent logs m and reports one delivery.
func (n logNotifier) NotifyUrgent(ctx context.Context, m rotation.UrgentMessage) []rotation.Delivery {
	n.log.WarnContext(ctx, "urgent message", "incident_id", m.IncidentID, "credential_id", m.Credential.ID, "subject", m.Subject)
	return []rotation.Delivery{{Channel: "log"}}
}

// randomSecret returns a 32-byte random secret, URL-safe Base64 encoded.
func randomSecret() (secret.Value, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return secret.Value{}, fmt.Errorf("generate a demo secret: %w", err)
	}
	return secret.New(base64.RawURLEncoding.EncodeToString(b)), nil
}
