package main

import (
	"context"
	"maps"
	"net"
	"slices"

	"fmt"
	"io"
	"log/slog"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore"
	awsstore "github.com/rotorhq/rotor/secretstore/aws"
	"github.com/rotorhq/rotor/secretstore/gcp"
	"github.com/rotorhq/rotor/secretstore/vault"
	"github.com/rotorhq/rotor/secretstore/vault/vaultauth"
)

// backendStore is a credential's secret store, as rotor serve and rotor
// check -online open it: the rotation steps plus a preflight check of what
// would break a rotation before one starts.
type backendStore interface {
	rotation.SecretStore
	Preflight(ctx context.Context) error
}

// backends opens credentials' secrets in their configured backends. It
// shares one logged-in client per backend and closes them all in Close.
type backends struct {
	cfg    *config.Config
	getenv func(string) string
	log    *slog.Logger
	vault  map[string]*vaultauth.Client      // by backend name
	gcp    map[string]*secretmanager.Client  // by backend name
	aws    map[string]*secretsmanager.Client // by backend name
}

func newBackends(cfg *config.Config, getenv func(string) string, log *slog.Logger) *backends {
	return &backends{cfg: cfg, getenv: getenv, log: log,
		vault: map[string]*vaultauth.Client{}, gcp: map[string]*secretmanager.Client{}, aws: map[string]*secretsmanager.Client{}}
}

// Close stops the clients' background token renewal and closes their
// connections.
func (b *backends) Close() {
	for _, c := range b.vault {
		c.Close()
	}
	for _, c := range b.gcp {
		_ = c.Close()
	}
}

// open opens one credential's secret in its backend. Opening a Vault
// backend for the first time logs in; Preflight checks the secret itself.
func (b *backends) open(ctx context.Context, c config.Credential) (backendStore, error) {
	backend := b.cfg.Backends[c.Store.Backend]
	switch backend.Type {
	case config.BackendVault:
		client, err := b.vaultClient(ctx, backend)
		if err != nil {
			return nil, err
		}
		store, err := vault.New(vault.Config{Client: client.API(), Mount: backend.Vault.Mount, Path: c.Store.Path, Key: c.Store.JSONKey, Logger: b.log})
		if err != nil {
			return nil, fmt.Errorf("open Vault secret %s: %w", c.Store.Path, err)
		}
		return store, nil

	case config.BackendAWS:
		client, err := b.awsClient(ctx, backend)
		if err != nil {
			return nil, err
		}
		store, err := awsstore.New(client, awsstore.Config{SecretID: c.Store.Path, PendingLabel: backend.AWS.PendingLabel, Format: format(c.Store), Logger: b.log})
		if err != nil {
			return nil, fmt.Errorf("open Secrets Manager secret %s: %w", c.Store.Path, err)
		}
		return store, nil

	case config.BackendGCP:
		client, err := b.gcpClient(ctx, backend)
		if err != nil {
			return nil, err
		}
		store, err := gcp.New(client, gcp.Config{Project: backend.GCP.Project, Secret: c.Store.Path, Format: format(c.Store), Logger: b.log})
		if err != nil {
			return nil, fmt.Errorf("open Secret Manager secret %s: %w", c.Store.Path, err)
		}
		return store, nil
	}
	return nil, fmt.Errorf("backend %q of type %q cannot be used by rotor serve; the memory backend exists for rotor dev only", backend.Name, backend.Type)
}

// openAll opens each credential's secret in its backend and runs its
// preflight check, so a backend that cannot rotate safely stops rotor
// before anything starts.
func (b *backends) openAll(ctx context.Context) (map[string]rotation.SecretStore, error) {
	out := make(map[string]rotation.SecretStore, len(b.cfg.Credentials))
	for _, c := range b.cfg.Credentials {
		store, err := b.open(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("credential %s: %w", c.ID, err)
		}
		if err := store.Preflight(ctx); err != nil {
			return nil, fmt.Errorf("credential %s: %w", c.ID, err)
		}
		out[c.ID] = store
	}
	return out, nil
}

// checkOnline runs `rotor check -online`: it reaches each credential's
// secret with the configured identity and reports, per credential, what
// would break a rotation. It returns 0 when every secret passed, else 1.
func checkOnline(ctx context.Context, getenv func(string) string) func(cfg *config.Config, stdout, stderr io.Writer) int {
	return func(cfg *config.Config, stdout, stderr io.Writer) int {
		b := newBackends(cfg, getenv, slog.New(slog.DiscardHandler))
		defer b.Close()
		failed := 0
		for _, c := range cfg.Credentials {
			where := fmt.Sprintf("credential %s (backend %s, %s)", c.ID, c.Store.Backend, c.Store.Path)
			store, err := b.open(ctx, c)
			if err == nil {
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err = store.Preflight(pctx)
				cancel()
			}
			if err != nil {
				failed++
				fmt.Fprintf(stdout, "%s: %v\n", where, err)
				continue
			}
			fmt.Fprintf(stdout, "%s: OK\n", where)
		}
		for _, name := range slices.Sorted(maps.Keys(cfg.Channels)) {
			if _, err := buildChannel(name, cfg.Channels[name], getenv, time.UTC, slog.New(slog.DiscardHandler)); err != nil {
				failed++
				fmt.Fprintf(stdout, "%v\n", err)
				continue
			}
			fmt.Fprintf(stdout, "channel %s: OK\n", name)
		}
		if failed > 0 {
			fmt.Fprintf(stderr, "rotor check: the configuration is valid, but %d of %d secrets and channels failed the online check; fix them before a rotation starts\n", failed, len(cfg.Credentials)+len(cfg.Channels))
			return 1
		}
		return 0
	}
}

// vaultClient returns the backend's logged-in Vault client, creating it
// on first use. The Vault API reads VAULT_ADDR, VAULT_CACERT and the
// others from the environment; the backend's address takes precedence.
// The login method's secrets come from VAULT_TOKEN, VAULT_SECRET_ID or
// files, never from the configuration.
func (b *backends) vaultClient(ctx context.Context, backend config.Backend) (*vaultauth.Client, error) {
	if c, ok := b.vault[backend.Name]; ok {
		return c, nil
	}
	vc := vaultapi.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("read Vault settings from the environment: %w", vc.Error)
	}
	if backend.Vault.Address != "" {
		vc.Address = backend.Vault.Address
	}
	auth := backend.Vault.Auth
	client, err := vaultauth.NewClient(ctx, vc, vaultauth.Config{
		Method: auth.Method, Mount: auth.Mount,
		RoleID: auth.RoleID, SecretIDFile: auth.SecretIDFile,
		Role: auth.Role, JWTFile: auth.JWTFile,
		Namespace: backend.Vault.Namespace,
		Getenv:    b.getenv,
		Logger:    b.log.With("backend", backend.Name),
	})
	if err != nil {
		return nil, fmt.Errorf("log in to Vault for backend %s: %w", backend.Name, err)
	}
	b.vault[backend.Name] = client
	return client, nil
}

// gcpClient returns the backend's Secret Manager client, creating it on
// first use with Application Default Credentials. An endpoint on this
// machine (an emulator) is reached without TLS and without credentials.
func (b *backends) gcpClient(ctx context.Context, backend config.Backend) (*secretmanager.Client, error) {
	if c, ok := b.gcp[backend.Name]; ok {
		return c, nil
	}
	var opts []option.ClientOption
	if ep := backend.GCP.Endpoint; ep != "" {
		opts = append(opts, option.WithEndpoint(ep))
		if host, _, err := net.SplitHostPort(ep); err == nil && config.IsLoopback(host) {
			opts = append(opts, option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		}
	}
	client, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("create Secret Manager client for backend %s: %w", backend.Name, err)
	}
	b.gcp[backend.Name] = client
	return client, nil
}

// format returns the store's secret format.
func format(s config.Store) secretstore.Format {
	if s.Format == config.FormatJSON {
		return secretstore.Format{JSONKey: s.JSONKey}
	}
	return secretstore.Format{}
}

// awsClient returns the backend's Secrets Manager client, creating it on
// first use from the AWS default chain (environment, shared files, the
// instance or task role). Static keys in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY come first, as in the chain itself.
func (b *backends) awsClient(ctx context.Context, backend config.Backend) (*secretsmanager.Client, error) {
	if c, ok := b.aws[backend.Name]; ok {
		return c, nil
	}
	var opts []func(*awsconfig.LoadOptions) error
	if backend.AWS.Region != "" {
		opts = append(opts, awsconfig.WithRegion(backend.AWS.Region))
	}
	if id, key := b.getenv("AWS_ACCESS_KEY_ID"), b.getenv("AWS_SECRET_ACCESS_KEY"); id != "" && key != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, key, b.getenv("AWS_SESSION_TOKEN"))))
	}
	if region := b.getenv("AWS_REGION"); region != "" && backend.AWS.Region == "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for backend %s: %w", backend.Name, err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("backend %s names no AWS region; set aws.region or AWS_REGION", backend.Name)
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if ep := backend.AWS.Endpoint; ep != "" {
			o.BaseEndpoint = &ep
		}
	})
	b.aws[backend.Name] = client
	return client, nil
}
