// Package vault keeps a client secret in a HashiCorp Vault KV version 2
// secrets engine, through the official client (github.com/hashicorp/vault/api)
// with whatever authentication that client carries.
//
// The secret is one string field (Config.Key) of the KV data object at
// Config.Path. Every other field is kept as it is, numbers included. Each
// step maps onto KV v2 like this:
//
//   - Stage writes {Key: new} to a staging path beside the secret
//     (Config.StagingPath), with check-and-set, after recording the rotation
//     id in the staging path's custom metadata.
//   - Promote writes, with check-and-set, a new version of the main path:
//     the current object with only Key changed. It then records the
//     rotation id and the new version in the main path's custom metadata
//     and deletes the staging path with all its versions.
//   - Rollback writes the old value as a new version of the main path, with
//     check-and-set, and stages the new value again.
//   - Retire soft-deletes (RetireDisable) or destroys (RetireDestroy) every
//     readable version of the main path that contains the old value.
//   - Discard deletes the staging path with all its versions.
//
// A consumer that reads the latest version of the main path gets:
//
//	rotation state   latest version of the main path
//	requested        the old value
//	new_issued       the old value; the new one waits at the staging path
//	dual_active      the new value; the old one stays readable by version number
//	rolled back      the old value, as a newer version; the new one is staged again
//	old_retired      the new value; versions with the old value are deleted or destroyed
//	cancelled        the old value; the staging path is gone
//
// Versions of the main path are Vault's version numbers ("3"); versions of
// the staging path are "staged:" and the staging path's number ("staged:1").
//
// Vault prunes the oldest versions beyond max_versions on every write. A
// version rotor recorded that was pruned is reported as ErrNotFound, never
// replaced by another. Preflight rejects a limit below 3 and KV v1 mounts,
// which ignore check-and-set.
//
// The token's policy needs these capabilities on the mount:
//
//   - create, read and update on data/ for both paths;
//   - read, update and delete on metadata/ for both paths;
//   - update on delete/ and destroy/ for the main path;
//   - read on config (optional when the secret's own max_versions is 3 or
//     more).
package vault

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/rotorhq/rotor/secretstore"
)

// Defaults for Config.
const (
	DefaultMount         = "secret"
	DefaultKey           = "client_secret"
	DefaultStagingSuffix = ".rotor-staged"
)

// Custom metadata keys rotor writes. On the staging path they name the
// rotation that owns the staged value and the main path's version that was
// current when it was staged. On the main path they record the last
// promotion, so that a promote repeated after the staging path is gone
// finds its result.
const (
	metaRotation         = "rotor-rotation-id"
	metaOldVersion       = "rotor-old-version"
	metaPromotedRotation = "rotor-promoted-rotation-id"
	metaPromotedVersion  = "rotor-promoted-version"
)

// Config locates one secret in Vault.
type Config struct {
	// Client is a configured client with a token. The Store does not renew
	// the token; a rejected token surfaces as ErrAccess.
	Client *api.Client

	// Mount is the path of the KV v2 mount. Default "secret".
	Mount string

	// Path is the secret's path inside the mount, without "data/".
	Path string

	// Key is the field of the data object that holds the secret. Default
	// "client_secret".
	Key string

	// StagingPath is the path beside Path that holds a new secret until
	// promotion. Default Path + ".rotor-staged".
	StagingPath string

	// Logger receives a record when a write whose outcome was unknown is
	// resolved by a re-read. Default: discard.
	Logger *slog.Logger
}

// Store is one secret in a Vault KV v2 mount. It implements
// rotation.SecretStore. Its methods are safe for concurrent use, but two
// rotations of one secret at once are the caller's to prevent.
type Store struct {
	client  *api.Client
	mount   string
	path    string
	staging string
	key     string
	log     *slog.Logger
}

// New returns a Store for cfg. It checks the configuration only; call
// Preflight to check the mount and the secret.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, "configure", "the Vault client is missing; set Config.Client")
	}
	if cfg.Mount == "" {
		cfg.Mount = DefaultMount
	}
	if cfg.Key == "" {
		cfg.Key = DefaultKey
	}

	cfg.Mount = strings.Trim(cfg.Mount, "/")
	cfg.Path = strings.Trim(cfg.Path, "/")
	if cfg.Path == "" {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, "configure", "the secret path in mount %q is missing; set Config.Path", cfg.Mount)
	}
	if strings.HasPrefix(cfg.Path, "data/") || strings.HasPrefix(cfg.Path, "metadata/") {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, "configure", "secret path %q must not start with data/ or metadata/; give the path inside the mount", cfg.Path)
	}

	if cfg.StagingPath == "" {
		cfg.StagingPath = cfg.Path + DefaultStagingSuffix
	}
	cfg.StagingPath = strings.Trim(cfg.StagingPath, "/")
	if cfg.StagingPath == cfg.Path {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, "configure", "staging path must differ from the secret path %q", cfg.Path)
	}

	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Store{
		client:  cfg.Client,
		mount:   cfg.Mount,
		path:    cfg.Path,
		staging: cfg.StagingPath,
		key:     cfg.Key,
		log:     cfg.Logger,
	}, nil
}

// Mount returns the mount path, with the default applied.
func (s *Store) Mount() string { return s.mount }

// Path returns the secret's path inside the mount.
func (s *Store) Path() string { return s.path }

// StagingPath returns the staging path inside the mount, with the default
// applied.
func (s *Store) StagingPath() string { return s.staging }

// where names a path, and a version of it when n > 0, for messages.
func (s *Store) where(path string, n int) string {
	if n > 0 {
		return fmt.Sprintf("version %d of %s/%s", n, s.mount, path)
	}
	return s.mount + "/" + path
}
