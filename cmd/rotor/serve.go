package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/migrations"
	"github.com/rotorhq/rotor/notify"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/tokencheck"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("rotor serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the configuration file (required)")
	addr := fs.String("addr", "", "address to listen on, host:port (default: server.addr from the configuration)")
	debug := fs.Bool("debug", false, "log at debug level")
	driftInterval := fs.Duration("drift-interval", time.Minute, "how often open rotations are checked for changes to their secret that rotor did not make")
	stepTimeout := fs.Duration("step-timeout", 30*time.Second, "how long rotor waits for one write to the secrets manager, and then for the database to record it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *driftInterval <= 0 {
		fmt.Fprintln(stderr, "rotor serve: -drift-interval must be positive, such as 1m")
		return 2
	}
	if *stepTimeout <= 0 {
		fmt.Fprintln(stderr, "rotor serve: -step-timeout must be positive, such as 30s")
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "rotor serve: -config FILE is required")
		return 2
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := newLogger(stderr, level)

	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "rotor serve: %v\n", err)
		return 1
	}
	if *addr == "" {
		*addr = cfg.Server.Addr
	}
	if !cfg.Auth.Enabled() {
		if err := requireLoopback(*addr); err != nil {
			fmt.Fprintf(stderr, "rotor serve: %v\n", err)
			return 1
		}
	}

	srv, cleanup, err := buildServer(ctx, cfg, *addr, getenv, log, *driftInterval, *stepTimeout)
	if err != nil {
		log.Error("start", "error", err)
		fmt.Fprintf(stderr, "rotor serve: %v\n", err)
		return 1
	}
	defer cleanup()
	return listenAndServe(ctx, *addr, srv, cfg.Server.TLS, stdout, stderr, log)
}

// requireLoopback refuses an address other than loopback: without sign-in,
// anyone who reaches rotor could run rotations.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q is not host:port; write it such as 127.0.0.1:8080", addr)
	}
	if !config.IsLoopback(host) {
		return fmt.Errorf("listen address %q is not a loopback address; without the auth section rotor has no sign-in, so it listens only on 127.0.0.1, [::1] or localhost. Configure auth.oidc to serve on other addresses", addr)
	}
	return nil
}

// buildServer wires rotor for production: Postgres (migrated), the token
// endpoint checker, one secret store per credential, and the HTTP server.
func buildServer(ctx context.Context, cfg *config.Config, addr string, getenv func(string) string, log *slog.Logger, driftInterval, stepTimeout time.Duration) (http.Handler, func(), error) {
	dbURL := getenv("DATABASE_URL")
	if dbURL == "" {
		return nil, nil, errors.New("DATABASE_URL is not set; set it to the Postgres URL, for example postgres://rotor@127.0.0.1:5432/rotor")
	}
	pool, err := openDatabase(ctx, dbURL, log)
	if err != nil {
		return nil, nil, err
	}

	checker, err := tokencheck.New(tokencheck.Config{TokenURL: cfg.Persium.TokenURL, CAFile: cfg.Persium.CAFile, Timeout: cfg.Persium.Timeout})
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("configure the token endpoint check: %w", err)
	}
	stores := newBackends(cfg, getenv, log)
	secrets, err := stores.openAll(ctx)
	if err != nil {
		stores.Close()
		pool.Close()
		return nil, nil, err
	}
	cleanup := func() {
		stores.Close()
		pool.Close()
	}

	store := pgstore.New(pool, time.Now)
	if err := store.SyncCredentials(ctx, credentialsFromConfig(cfg)); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("sync credentials from the configuration: %w", err)
	}
	loc, err := time.LoadLocation(cfg.Server.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	channels, err := buildChannels(cfg, getenv, loc, log)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	m, err := newMetrics(store, channelNames(cfg), log)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	secrets = instrumentSecrets(m, secrets, credentialsFromConfig(cfg))
	mailer, err := newPersiumMailer(cfg, channels)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	key, err := fingerprintKey(getenv, log)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	svc := rotation.NewService(rotation.Options{Store: store, Secrets: secrets, Checker: checker, Logger: log, StepTimeout: stepTimeout, FingerprintKey: key,
		Notifier:            newChannelNotifier(cfg, channels, publicURL(cfg, addr)),
		IncidentRemindEvery: cfg.Incidents.RemindEvery, PersiumMailer: mailer})
	if err := svc.Recover(ctx); err != nil {
		// Each unfinished step is logged; the rotations stay visible with
		// their step, and serving goes on.
		log.Error("unfinished steps need attention", "error", err)
	}

	watch := &rotation.Watch{Service: svc, Interval: driftInterval, Logger: log}
	watch.Start(ctx)
	reminders := newScheduler(store, cfg, channels, publicURL(cfg, addr), log)
	reminders.Sender = m.InstrumentSender(reminders.Sender)
	reminders.Start(ctx)
	incidentReminders := &rotation.IncidentReminders{Service: svc, Logger: log.With("component", "incident_reminders")}
	incidentReminders.Start(ctx)
	closeStores := cleanup
	cleanup = func() {
		incidentReminders.Stop()
		reminders.Stop()
		watch.Stop()
		closeStores()
	}

	acc, err := newAccess(ctx, cfg, pool, getenv, log)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	stopServices := cleanup
	cleanup = func() {
		acc.stop()
		stopServices()
	}

	srv, err := api.New(api.Options{
		Service: svc, Auth: acc.auth, SignIn: acc.signIn, Tokens: acc.tokens,
		Logger: log, Location: loc, Ready: readiness(pool), Dependencies: backendDependencies(m, time.Now),
		Reminders: store, PublicURL: cfg.Server.PublicURL,
		HSTS: cfg.Server.TLS.Enabled() || strings.HasPrefix(cfg.Server.PublicURL, "https://"),
	})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return withMetrics(srv.Handler(), m), cleanup, nil
}

// channelNotifier sends the urgent message of a reported compromise through
// the channels that the configuration lists for the credential: the same
// channels, built once, that carry its reminders.
type channelNotifier struct {
	channels     map[string]notify.Channel
	byCredential map[string][]string
	publicURL    string
}

func newChannelNotifier(cfg *config.Config, channels map[string]notify.Channel, publicURL string) channelNotifier {
	byCredential := make(map[string][]string, len(cfg.Credentials))
	for _, c := range cfg.Credentials {
		byCredential[c.ID] = c.Channels
	}
	return channelNotifier{channels: channels, byCredential: byCredential, publicURL: publicURL}
}

// NotifyUrgent sends m on every channel of its credential at once, one
// attempt each, and waits for all of them. Each channel gets its own
// idempotency key derived from m's, as reminders do.
func (n channelNotifier) NotifyUrgent(ctx context.Context, m rotation.UrgentMessage) []rotation.Delivery {
	names := n.byCredential[m.Credential.ID]
	out := make([]rotation.Delivery, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		out[i].Channel = name
		ch, ok := n.channels[name]
		if !ok {
			out[i].Err = fmt.Errorf("channel %s is not configured", name)
			continue
		}
		key := sha256.Sum256([]byte(m.IdempotencyKey + "|" + name))
		msg := notify.Message{
			Kind: notify.KindUrgent, CredentialID: m.Credential.ID, Organisation: m.Credential.Organisation, ClientID: m.Credential.ClientID,
			URL: n.publicURL + m.Path, Subject: m.Subject, Text: m.Text + "\nOpen in rotor: " + n.publicURL + m.Path + "\n",
			IdempotencyKey: hex.EncodeToString(key[:16]),
		}
		wg.Go(func() { out[i].Err = ch.Send(ctx, msg) })
	}
	wg.Wait()
	return out
}

// localOperator names the person behind a loopback-only rotor in audit
// events: the operating-system user that runs it.
func localOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	return "local"
}

// openDatabase connects to rotor's database and applies the migrations.
func openDatabase(ctx context.Context, url string, log *slog.Logger) (*pgxpool.Pool, error) {
	return connectPool(ctx, url, func(db *sql.DB) error { return migrations.Up(ctx, db, log) })
}

// connectPool connects to the Postgres at url and runs prepare on the
// schema, such as migrating it or checking its version. It closes the pool
// when either fails. Errors never quote the URL, which may carry a
// password.
func connectPool(ctx context.Context, url string, prepare func(db *sql.DB) error) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", errors.New("invalid Postgres URL"))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if err := prepare(db); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// readiness reports whether Postgres is reachable and its schema is current.
func readiness(pool *pgxpool.Pool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return &api.ReadinessError{Component: "database", Problem: "unreachable", Err: err}
		}
		db := stdlib.OpenDBFromPool(pool)
		defer db.Close()
		n, err := migrations.Pending(ctx, db)
		if err != nil {
			return &api.ReadinessError{Component: "migrations", Problem: "unreadable", Err: err}
		}
		if n > 0 {
			return &api.ReadinessError{Component: "migrations", Problem: fmt.Sprintf("%d pending; run rotor migrate", n), Err: errors.New("schema behind")}
		}
		return nil
	}
}

func credentialsFromConfig(cfg *config.Config) []rotation.Credential {
	out := make([]rotation.Credential, len(cfg.Credentials))
	for i, c := range cfg.Credentials {
		out[i] = rotation.Credential{
			ID: c.ID, Organisation: c.Organisation, OrganisationID: c.OrganisationID, ClientID: c.ClientID,
			AuthMethod: c.AuthMethod, RotationPeriod: c.RotationPeriod, MinDualActive: c.MinDualActive, Overlap: c.Overlap,
			Backend: c.Store.Backend, SecretPath: c.Store.Path, RetireMode: secretstore.RetireMode(c.Store.Retire),
			IssuedAt: c.IssuedAt, Window: c.Window, FourEyes: c.FourEyes,
		}
	}
	return out
}

// listenAndServe serves until ctx ends, then shuts down gracefully: new
// connections stop, and requests in flight get up to 30 seconds to finish.
//
// With certificate files in tlsFiles it serves HTTPS only, with TLS 1.2 at
// least; the files are read once at start.
func listenAndServe(ctx context.Context, addr string, h http.Handler, tlsFiles config.TLS, stdout, stderr io.Writer, log *slog.Logger) int {
	var tlsConfig *tls.Config
	if tlsFiles.Enabled() {
		cert, err := tls.LoadX509KeyPair(tlsFiles.CertFile, tlsFiles.KeyFile)
		if err != nil {
			log.Error("load TLS certificate", "cert_file", tlsFiles.CertFile, "key_file", tlsFiles.KeyFile, "error", err)
			fmt.Fprintf(stderr, "rotor: cannot load the TLS certificate %s and key %s: %v. Check server.tls_cert_file and server.tls_key_file.\n", tlsFiles.CertFile, tlsFiles.KeyFile, err)
			return 1
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("listen", "addr", addr, "error", err)
		fmt.Fprintf(stderr, "rotor: cannot listen on %s: %v. Choose another address with -addr.\n", addr, errors.Unwrap(err))
		return 1
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	url := "http://" + ln.Addr().String()
	if tlsConfig != nil {
		url = "https://" + ln.Addr().String()
		ln = tls.NewListener(ln, tlsConfig)
	}
	fmt.Fprintf(stdout, "rotor: serving %s\n", url)
	log.Info("serving", "url", url)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("serve", "error", err)
		return 1
	case <-ctx.Done():
	}

	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		log.Error("shutdown", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("rotor migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dbURL := getenv("DATABASE_URL")
	if dbURL == "" {
		fmt.Fprintln(stderr, "rotor migrate: DATABASE_URL is not set; set it to the Postgres URL, for example postgres://rotor@127.0.0.1:5432/rotor")
		return 2
	}
	pool, err := openDatabase(ctx, dbURL, newLogger(stderr, slog.LevelInfo))
	if err != nil {
		fmt.Fprintf(stderr, "rotor migrate: %v\n", err)
		return 1
	}
	pool.Close()
	fmt.Fprintln(stdout, "rotor migrate: the schema is current")
	return 0
}
