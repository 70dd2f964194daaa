package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secretstore/vault"
)

// backendStore is a credential's secret store, as rotor serve and rotor
// check -online open it: the rotation steps plus a preflight check of what
// would break a rotation before one starts.
type backendStore interface {
	rotation.SecretStore
	Preflight(ctx context.Context) error
}

// openSecretStore opens one credential's secret in its backend. It makes
// no network call; Preflight does.
func openSecretStore(cfg *config.Config, c config.Credential, getenv func(string) string, log *slog.Logger) (backendStore, error) {
	b := cfg.Backends[c.Store.Backend]
	switch b.Type {
	case config.BackendVault:
		client, err := vaultClient(b, getenv)
		if err != nil {
			return nil, err
		}
		store, err := vault.New(vault.Config{Client: client, Mount: b.Vault.Mount, Path: c.Store.Path, Key: c.Store.JSONKey, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open Vault secret %s: %w", c.Store.Path, err)
		}
		return store, nil
	}
	return nil, fmt.Errorf("backend %q of type %q cannot be used by rotor serve; the memory backend exists for rotor dev only", b.Name, b.Type)
}

// openSecretStores opens each credential's secret in its backend and runs
// its preflight check, so a backend that cannot rotate safely stops rotor
// before anything starts.
func openSecretStores(ctx context.Context, cfg *config.Config, getenv func(string) string, log *slog.Logger) (map[string]rotation.SecretStore, error) {
	out := make(map[string]rotation.SecretStore, len(cfg.Credentials))
	for _, c := range cfg.Credentials {
		store, err := openSecretStore(cfg, c, getenv, log)
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
		log := slog.New(slog.DiscardHandler)
		failed := 0
		for _, c := range cfg.Credentials {
			where := fmt.Sprintf("credential %s (backend %s, %s)", c.ID, c.Store.Backend, c.Store.Path)
			store, err := openSecretStore(cfg, c, getenv, log)
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
		if failed > 0 {
			fmt.Fprintf(stderr, "rotor check: %d of %d secrets cannot be rotated safely; fix them before a rotation starts\n", failed, len(cfg.Credentials))
			return 1
		}
		return 0
	}
}

// vaultClient returns a Vault client configured from the environment
// (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT and the others the Vault API
// reads), with the backend's address and namespace taking precedence.
func vaultClient(b config.Backend, getenv func(string) string) (*vaultapi.Client, error) {
	vc := vaultapi.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("read Vault settings from the environment: %w", vc.Error)
	}
	if b.Vault.Address != "" {
		vc.Address = b.Vault.Address
	}
	client, err := vaultapi.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("create Vault client: %w", err)
	}
	if token := getenv("VAULT_TOKEN"); token != "" {
		client.SetToken(token)
	}
	if client.Token() == "" {
		return nil, errors.New("VAULT_TOKEN is not set; rotor needs a Vault token with access to the secret's path")
	}
	if b.Vault.Namespace != "" {
		client.SetNamespace(b.Vault.Namespace)
	}
	return client, nil
}
