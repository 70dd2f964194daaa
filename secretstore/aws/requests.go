package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// This file holds the Secrets Manager requests the steps are made of. Each
// converts the SDK's errors through awsError and never returns a zero
// result with a nil error for something missing.

// labelState is the secret's staging labels, rotation setting and
// scheduled deletion, as DescribeSecret returns them.
type labelState struct {
	stages          map[string][]string // version id → labels; labelled versions only
	rotationEnabled bool
	rotationLambda  string
	deleted         time.Time // DeletedDate, zero unless the secret is scheduled for deletion
}

// holder returns the version that carries label, or "".
func (l labelState) holder(label string) string {
	for id, stages := range l.stages {
		if slices.Contains(stages, label) {
			return id
		}
	}
	return ""
}

func (l labelState) current() string { return l.holder(LabelCurrent) }

func (l labelState) has(version, label string) bool {
	return slices.Contains(l.stages[version], label)
}

func (l labelState) labelled(version string) bool { return len(l.stages[version]) > 0 }

// versions returns the labelled version ids, sorted, so that steps act and
// report in a stable order.
func (l labelState) versions() []string { return slices.Sorted(maps.Keys(l.stages)) }

func (s *Store) describe(ctx context.Context, op string) (labelState, error) {
	out, err := s.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.id)}, boundRetries)
	if err != nil {
		return labelState{}, s.awsError(op, "DescribeSecret", "read the labels of "+s.where(""), err)
	}
	return labelState{
		stages:          out.VersionIdsToStages,
		rotationEnabled: aws.ToBool(out.RotationEnabled),
		rotationLambda:  aws.ToString(out.RotationLambdaARN),
		deleted:         aws.ToTime(out.DeletedDate),
	}, nil
}

// storedVersion is one version as GetSecretValue returns it. doc holds the
// secret in clear.
type storedVersion struct {
	id     string
	doc    []byte
	stages []string
}

// getVersion reads version id, or the AWSCURRENT version when id is empty.
// A version that does not exist is ErrNotFound.
func (s *Store) getVersion(ctx context.Context, op, id string) (storedVersion, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.id)}
	what := "read " + s.where(id)
	if id == "" {
		in.VersionStage = aws.String(LabelCurrent)
		what = "read the AWSCURRENT version of " + s.where("")
	} else {
		in.VersionId = aws.String(id)
	}
	out, err := s.client.GetSecretValue(ctx, in, boundRetries)
	if err != nil {
		return storedVersion{}, s.awsError(op, "GetSecretValue", what, err)
	}
	v := storedVersion{id: aws.ToString(out.VersionId), stages: out.VersionStages}
	if out.SecretString == nil {
		return storedVersion{}, secretstore.Errorf(secretstore.ErrInvalid, op,
			"%s holds SecretBinary; rotor rotates secrets stored as SecretString only", s.where(v.id))
	}
	v.doc = []byte(*out.SecretString)
	return v, nil
}

// decode extracts the secret from a stored version with the configured
// format.
func (s *Store) decode(op string, v storedVersion) (secret.Value, error) {
	value, err := s.format.Decode(v.doc)
	if err != nil {
		return secret.Value{}, s.formatError(op, v.id, err)
	}
	return value, nil
}

// formatError gives a format error the step and the version it happened in.
func (s *Store) formatError(op, version string, err error) error {
	var e *secretstore.Error
	if errors.As(err, &e) {
		return secretstore.Errorf(e.Kind, op, "%s: %s", s.where(version), e.Msg)
	}
	return secretstore.Errorf(secretstore.ErrInvalid, op, "%s: the stored value cannot be read with the configured format", s.where(version))
}

// putVersion writes doc as version id (the ClientRequestToken) with only
// the pending label, and returns the labels the version carries afterwards.
// Secrets Manager ignores a repeat with the same id and document, so the
// labels tell whether the version was written now or exists already.
func (s *Store) putVersion(ctx context.Context, op, id string, doc []byte) ([]string, error) {
	out, err := s.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(s.id),
		ClientRequestToken: aws.String(id),
		SecretString:       aws.String(string(doc)),
		VersionStages:      []string{s.pending},
	}, boundRetries)
	if err != nil {
		return nil, s.awsError(op, "PutSecretValue", fmt.Sprintf("write %s with label %s", s.where(id), s.pending), err)
	}
	return out.VersionStages, nil
}

// moveLabel moves label to version to, off version from ("" when no version
// carries it). A failure may hide a success: the outcome is unknown, or the
// SDK's retry found the label moved by the first attempt already. In both
// cases moveLabel re-reads the labels and succeeds when label is on to.
func (s *Store) moveLabel(ctx context.Context, op, rotationID, label, to, from string) error {
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(s.id),
		VersionStage:    aws.String(label),
		MoveToVersionId: aws.String(to),
	}
	if from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	_, err := s.client.UpdateSecretVersionStage(ctx, in, boundRetries)
	if err == nil {
		return nil
	}
	failed := s.awsError(op, "UpdateSecretVersionStage", fmt.Sprintf("move label %s to %s", label, s.where(to)), err)
	if !needsReread(err, failed) {
		return failed
	}
	labels, rerr := s.describe(ctx, op)
	if rerr != nil {
		return failed
	}
	if labels.holder(label) == to {
		s.resolved(op, rotationID, to, label)
		return nil
	}
	if codeOf(err) == "InvalidParameterException" {
		return secretstore.Errorf(secretstore.ErrConflict, op,
			"%s: label %s is on %s, not on version %s as rotor read a moment ago; someone changed the labels, so check them and repeat the step",
			s.where(""), label, versionOrNone(labels.holder(label)), versionOrNone(from))
	}
	return failed
}

// removeLabel removes label from version from. Like moveLabel, it re-reads
// the labels after a failure that may hide its success.
func (s *Store) removeLabel(ctx context.Context, op, rotationID, label, from string) error {
	_, err := s.client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(s.id),
		VersionStage:        aws.String(label),
		RemoveFromVersionId: aws.String(from),
	}, boundRetries)
	if err == nil {
		return nil
	}
	failed := s.awsError(op, "UpdateSecretVersionStage", fmt.Sprintf("remove label %s from %s", label, s.where(from)), err)
	if !needsReread(err, failed) {
		return failed
	}
	labels, rerr := s.describe(ctx, op)
	if rerr != nil {
		return failed
	}
	if !labels.has(from, label) {
		s.resolved(op, rotationID, from, label)
		return nil
	}
	return failed
}

// needsReread reports whether a failed label change may have taken effect:
// its outcome is unknown, or Secrets Manager rejected it as invalid, which
// is what a retry of an applied change gets.
func needsReread(err, mapped error) bool {
	return errors.Is(mapped, secretstore.ErrUnavailable) || codeOf(err) == "InvalidParameterException"
}

func (s *Store) resolved(op, rotationID, version, label string) {
	s.log.Info("secrets manager request outcome resolved by a re-read",
		"backend", "aws", "op", op, "rotation_id", rotationID,
		"secret", s.id, "version", version, "label", label)
}

func versionOrNone(id string) string {
	if id == "" {
		return "no version"
	}
	return "version " + id
}

// validID reports whether id has the form of a ClientRequestToken and a
// VersionId: 32 to 64 characters.
func validID(id string) bool { return len(id) >= 32 && len(id) <= 64 }

// labelList formats labels for messages.
func labelList(labels []string) string {
	if len(labels) == 0 {
		return "no label"
	}
	return strings.Join(labels, ", ")
}
