// Package aws keeps a client secret in AWS Secrets Manager, through the
// official SDK client (github.com/aws/aws-sdk-go-v2/service/secretsmanager)
// with whatever credentials that client carries. Other packages import it
// as awsstore.
//
// The secret is the SecretString of one secret (Config.SecretID), either
// whole or as one key of a JSON object (Config.Format). Secrets Manager
// versions are immutable and addressed by VersionId; staging labels mark
// which version is which, and a label is on at most one version. rotor
// writes one version per rotation, whose VersionId is the rotation id
// (passed as ClientRequestToken, so a repeated write never adds a second
// version), and maps the steps onto labels:
//
//   - Stage reads the labels, then puts the new document as a version with
//     Config.PendingLabel (default ROTOR_PENDING) only. A pending label
//     (rotor's or AWSPENDING) on a version other than the current one is
//     another rotation's, and Stage writes nothing then.
//   - Adopt copies a version that another tool left with AWSPENDING byte
//     for byte into a version of rotor's own. The copy has the rotation id
//     as VersionId and the pending label. AWSPENDING then comes off the
//     original.
//   - Promote moves AWSCURRENT to the new version (Secrets Manager moves
//     AWSPREVIOUS to the old one, which keeps it until retirement), then
//     removes the pending label.
//   - Rollback moves AWSCURRENT back to the old version (AWSPREVIOUS goes
//     to the new one) and puts the pending label back on the new one.
//   - Retire removes every label from the old version and from every other
//     labelled version that holds the old secret. See Retire for what
//     RetireDestroy can and cannot do here.
//   - Discard removes every label from the rotation's version.
//   - Verify (rotation.DriftChecker) reads the labels while a rotation is
//     open and reports each difference from what the last step left, such
//     as AWSCURRENT moved by hand or AWSPENDING from Secrets Manager's own
//     rotation, as secretstore.ErrDrift. It writes nothing.
//
// A consumer that reads AWSCURRENT (GetSecretValue's default) gets:
//
//	rotation state   AWSCURRENT                 other labels
//	requested        the old value              -
//	new_issued       the old value              ROTOR_PENDING on the new value
//	dual_active      the new value              AWSPREVIOUS on the old value
//	rolled back      the old value              AWSPREVIOUS and ROTOR_PENDING on the new value
//	old_retired      the new value              none on the old value (deprecated)
//	cancelled        the old value              none on the discarded value (deprecated)
//
// Every step that changes labels moves AWSCURRENT in one request from a
// working version to another working version, so at every point between
// requests a version with AWSCURRENT exists and holds a valid secret.
//
// Secrets Manager deletes versions without labels ("deprecated") once a
// secret has more than 100 versions and they are at least 24 hours old; it
// never deletes a labelled version. The old version keeps AWSPREVIOUS
// until Retire for that reason. A version rotor recorded that is gone is
// reported as ErrNotFound, never replaced by another. Read treats a
// deprecated version as retired and returns ErrNotFound for it.
//
// rotor's IAM policy needs, on the secret: secretsmanager:DescribeSecret,
// GetSecretValue, PutSecretValue and UpdateSecretVersionStage, and
// kms:Decrypt and kms:GenerateDataKey on its KMS key when that is a
// customer managed key.
package aws

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotorhq/rotor/secretstore"
)

// Staging labels with a meaning in Secrets Manager.
const (
	LabelCurrent  = "AWSCURRENT"
	LabelPrevious = "AWSPREVIOUS"
	// LabelPending is the label of Secrets Manager's own rotation. rotor
	// never writes it, and reads it on a non-current version as another
	// rotation in progress.
	LabelPending = "AWSPENDING"
)

// DefaultPendingLabel is the label rotor puts on a staged version.
const DefaultPendingLabel = "ROTOR_PENDING"

// MaxAttempts is the most attempts the SDK client makes for one request of
// the Store, the first one included. It caps whatever retryer the client
// was built with, and retries only what that retryer retries (by default:
// throttling, 5xx and connection errors). A write is safe to retry:
// PutSecretValue carries the rotation id as ClientRequestToken, and a
// label move whose first attempt took effect is resolved by re-reading the
// labels.
const MaxAttempts = 3

// Config locates one secret in Secrets Manager.
type Config struct {
	// SecretID is the secret's name or ARN.
	SecretID string

	// PendingLabel is the staging label of a staged version. Default
	// ROTOR_PENDING. The labels Secrets Manager reserves (AWSCURRENT,
	// AWSPREVIOUS, AWSPENDING) are rejected.
	PendingLabel string

	// Format locates the secret in the SecretString.
	Format secretstore.Format

	// Logger receives a record when a request whose outcome was unknown is
	// resolved by a re-read, and a warning for each RetireDestroy. Default:
	// discard.
	Logger *slog.Logger
}

// Store is one secret in AWS Secrets Manager. It implements
// rotation.SecretStore. Its methods are safe for concurrent use, but two
// rotations of one secret at once are the caller's to prevent.
type Store struct {
	client  *secretsmanager.Client
	id      string
	pending string
	format  secretstore.Format
	log     *slog.Logger
}

// New returns a Store for cfg that uses client. It checks the configuration
// only; call Preflight to check the secret. Errors are of kind
// secretstore.ErrInvalid.
func New(client *secretsmanager.Client, cfg Config) (*Store, error) {
	const op = "configure"
	if client == nil {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, op, "the Secrets Manager client is missing")
	}
	if cfg.SecretID == "" {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, op, "the secret name or ARN is missing; set the secret ID")
	}
	if cfg.PendingLabel == "" {
		cfg.PendingLabel = DefaultPendingLabel
	}
	switch cfg.PendingLabel {
	case LabelCurrent, LabelPrevious, LabelPending:
		return nil, secretstore.Errorf(secretstore.ErrInvalid, op,
			"pending label %q is reserved by Secrets Manager; use a label of rotor's own such as %s", cfg.PendingLabel, DefaultPendingLabel)
	}
	if len(cfg.PendingLabel) > 256 {
		return nil, secretstore.Errorf(secretstore.ErrInvalid, op, "the pending label is %d characters long; Secrets Manager allows at most 256", len(cfg.PendingLabel))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Store{
		client:  client,
		id:      cfg.SecretID,
		pending: cfg.PendingLabel,
		format:  cfg.Format,
		log:     cfg.Logger,
	}, nil
}

// SecretID returns the secret's name or ARN as configured.
func (s *Store) SecretID() string { return s.id }

// PendingLabel returns the label of a staged version, with the default
// applied.
func (s *Store) PendingLabel() string { return s.pending }

// where names the secret, and a version of it when version is set, for
// messages.
func (s *Store) where(version string) string {
	if version != "" {
		return fmt.Sprintf("version %s of secret %s", version, s.id)
	}
	return "secret " + s.id
}

// boundRetries caps the client's retryer at MaxAttempts for one request.
func boundRetries(o *secretsmanager.Options) { o.RetryMaxAttempts = MaxAttempts }
