// Package gcp keeps a client secret in Google Cloud Secret Manager, through
// the official client (cloud.google.com/go/secretmanager/apiv1) with
// whatever credentials that client carries.
//
// The secret's value is a version's payload: the plain secret, or a JSON
// object with the secret under Config.Format.JSONKey, whose other keys are
// copied byte for byte into each new version. rotor addresses versions by
// number ("3") and moves three version aliases of its own:
//
//   - current: the version consumers should read. rotor never creates it.
//     Before the first rotation an operator points it at the version in
//     use, with the gcloud command the Preflight error gives, and moves
//     consumers from "latest" to it.
//   - pending: the staged version, until promotion.
//   - previous: the version that served before the last promotion.
//
// Other aliases (such as canary) and labels are kept as they are. Each step
// maps onto Secret Manager like this:
//
//   - Stage records the rotation in the secret's annotations, adds a
//     version (AddSecretVersion with data_crc32c) and points pending at it.
//   - Adopt records the rotation for a version that another tool put under
//     pending.
//   - Promote points current at the staged version and previous at the old
//     one, and drops pending, in one UpdateSecret.
//   - Rollback points current at the old version and pending at the new
//     one, in one UpdateSecret.
//   - Retire disables (RetireDisable) or destroys (RetireDestroy) every
//     enabled version that holds the old secret, the old version last. It
//     never touches current, so an enabled current exists at every point.
//   - Discard destroys the staged version, then drops pending.
//   - Verify writes nothing. It compares the aliases, rotor's annotations
//     and the states of the versions with what the last step left, and
//     reports an enabled version that is newer than the new value.
//
// Every alias and annotation change is an UpdateSecret with the update mask
// version_aliases,annotations and the etag just read. On an etag mismatch
// the step reads the secret again and re-applies its change, so a label or
// alias that someone else changed in between survives.
//
// AddSecretVersion has no idempotency key, so before adding, Stage notes in
// the annotations the rotation, the current version and the newest version
// number. A stage repeated after a lost response or a crash lists the
// versions added since then and reuses one whose CRC32C and bytes match
// the document it would add, instead of adding a second.
//
// # What consumers read
//
// Secret Manager's "latest" is the most recently created version, even when
// it is disabled or destroyed, and a staged version is the newest one. Only
// readers of the current alias follow the rotation:
//
//	rotation state   reader of versions/current        reader of versions/latest
//	requested        the old value                     the old value
//	new_issued       the old value                     the NEW value, before promotion
//	dual_active      the new value (previous: old)     the new value
//	rolled back      the old value (pending: new)      the NEW value, still the newest version
//	old_retired      the new value                     the new value
//	cancelled        the old value                     an error (FAILED_PRECONDITION): the newest
//	                                                   version is the destroyed stage, until
//	                                                   another version is added
//
// A reader that resolves "latest" once at start-up keeps whatever version
// it saw then. Consumers must read the current alias.
//
// # Errors and retries
//
// gRPC status codes map onto rotor's error kinds through one table (see
// errors.go). Messages name the secret, the step and the version, never a
// secret value or text from Secret Manager's response, which can echo the
// request. Calls that fail with UNAVAILABLE, RESOURCE_EXHAUSTED or
// DEADLINE_EXCEEDED are tried up to 4 times in all, waiting
// Config.RetryWait, then twice and four times as long. AccessSecretVersion
// is the exception: the client's default call options retry it already.
// AddSecretVersion is never repeated blindly: an unknown outcome is
// resolved by listing the versions first.
//
// # Permissions
//
// rotor's identity needs roles/secretmanager.admin on the secret: Google's
// guide to version aliases names that role for assigning an alias, and the
// other steps need version access, add, disable and destroy.
package gcp

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/rotorhq/rotor/secretstore"
)

// The version aliases rotor moves.
const (
	AliasCurrent  = "current"
	AliasPrevious = "previous"
	AliasPending  = "pending"
)

// Annotation keys rotor writes on the secret while a value is staged. They
// name the rotation that owns the pending version (or, before the version
// exists, that is adding it), the version that was current then, the
// pending version, and the newest version number before the stage added
// one.
const (
	annotationRotation = "rotor-pending-rotation"
	annotationOld      = "rotor-pending-old"
	annotationVersion  = "rotor-pending-version"
	annotationAfter    = "rotor-pending-after"
)

// DefaultRetryWait is the wait before the first retry of a call that failed
// with UNAVAILABLE, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED.
const DefaultRetryWait = 250 * time.Millisecond

// Config locates one secret in Secret Manager.
type Config struct {
	// Project is the project ID or number. It may be empty when Secret is
	// a full name.
	Project string

	// Secret is the secret ID, or its full name projects/P/secrets/S.
	// Regional secrets (projects/P/locations/L/secrets/S) are not
	// supported.
	Secret string

	// Format locates the secret in a version's payload.
	Format secretstore.Format

	// Logger receives retries, outcomes resolved by a re-read and
	// warnings about the secret's settings. Default: discard.
	Logger *slog.Logger

	// RetryWait is the wait before the first retry; each later one waits
	// twice as long. Default DefaultRetryWait.
	RetryWait time.Duration
}

// Store is one secret in Secret Manager. It implements
// rotation.SecretStore. Its methods are safe for concurrent use, but two
// rotations of one secret at once are the caller's to prevent.
type Store struct {
	client    *secretmanager.Client
	name      string // projects/P/secrets/S
	project   string
	id        string
	format    secretstore.Format
	log       *slog.Logger
	retryWait time.Duration
}

var (
	secretIDPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	projectIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]{0,62}$`)
)

// New returns a Store for the secret cfg names. It checks the configuration
// only; call Preflight to check the secret.
func New(client *secretmanager.Client, cfg Config) (*Store, error) {
	const op = "configure"
	if client == nil {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, op, "the Secret Manager client is missing")
	}
	project, id := cfg.Project, cfg.Secret
	if rest, ok := strings.CutPrefix(cfg.Secret, "projects/"); ok {
		p, s, found := strings.Cut(rest, "/secrets/")
		if !found || strings.Contains(p, "/") {
			return nil, secretstore.Errorf(secretstore.ErrInvalid, op,
				"secret %q is not a name of the form projects/PROJECT/secrets/SECRET; regional secrets are not supported", cfg.Secret)
		}
		if cfg.Project != "" && cfg.Project != p {
			return nil, secretstore.Errorf(secretstore.ErrInvalid, op, "secret %q is in project %q, not in the configured project %q", cfg.Secret, p, cfg.Project)
		}
		project, id = p, s
	}
	if !projectIDPattern.MatchString(project) {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, op, "project %q is not a project ID or number; set the project or give the secret's full name", project)
	}
	if !secretIDPattern.MatchString(id) {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, op, "secret ID %q must be 1 to 255 letters, digits, hyphens or underscores", id)
	}

	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = DefaultRetryWait
	}
	name := "projects/" + project + "/secrets/" + id
	return &Store{
		client:    client,
		name:      name,
		project:   project,
		id:        id,
		format:    cfg.Format,
		log:       cfg.Logger.With("backend", "gcp", "secret", name),
		retryWait: cfg.RetryWait,
	}, nil
}

// Name returns the secret's full name, projects/P/secrets/S.
func (s *Store) Name() string { return s.name }
