package awsfake

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// secret is one stored secret. The caller of every method holds Server.mu.
type secret struct {
	name    string
	arn     string
	created time.Time
	changed time.Time

	versions map[string]*version // pruned versions are absent
	order    []string            // version ids, oldest first
	labels   map[string]string   // staging label → version id

	rotationEnabled bool
	rotationLambda  string

	// deleted is the DeletedDate of a secret scheduled for deletion, zero
	// otherwise.
	deleted time.Time
}

type version struct {
	id      string
	value   string // SecretString
	created time.Time
}

// apiError is an error response of the protocol.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errNotFound(format string, args ...any) *apiError {
	return &apiError{400, "ResourceNotFoundException", fmt.Sprintf(format, args...)}
}

func errInvalidParameter(format string, args ...any) *apiError {
	return &apiError{400, "InvalidParameterException", fmt.Sprintf(format, args...)}
}

func errInvalidRequest(format string, args ...any) *apiError {
	return &apiError{400, "InvalidRequestException", fmt.Sprintf(format, args...)}
}

// errValidation is the model-constraint error. Like AWS's, its message
// quotes the rejected value, so tests can check that clients do not pass it
// on.
func errValidation(field, value, constraint string) *apiError {
	return &apiError{400, "ValidationException",
		fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint)}
}

func newSecret(name string, now time.Time) *secret {
	return &secret{
		name:     name,
		arn:      fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, AccountID, name, randomSuffix()),
		created:  now,
		changed:  now,
		versions: map[string]*version{},
		labels:   map[string]string{},
	}
}

// randomSuffix is the six characters AWS appends to a secret's name in its
// ARN.
func randomSuffix() string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

func newVersionID() string { return uuid.NewString() }

// checkToken applies the length constraint of ClientRequestToken and
// VersionId: 32 to 64 characters.
func checkToken(field, value string) *apiError {
	if n := len(value); n < 32 || n > 64 {
		return errValidation(field, value, "Member must have length between 32 and 64")
	}
	return nil
}

// checkLabel applies the length constraint of a staging label: 1 to 256
// characters.
func checkLabel(field, value string) *apiError {
	if n := len(value); n < 1 || n > 256 {
		return errValidation(field, value, "Member must have length between 1 and 256")
	}
	return nil
}

// stages returns the labels on version id, sorted.
func (sec *secret) stages(id string) []string {
	var out []string
	for label, holder := range sec.labels {
		if holder == id {
			out = append(out, label)
		}
	}
	slices.Sort(out)
	return out
}

// attach puts label on version id, taking it off any other version. Moving
// AWSCURRENT puts AWSPREVIOUS on the version AWSCURRENT left.
func (sec *secret) attach(label, id string) {
	from, ok := sec.labels[label]
	if ok && from == id {
		return
	}
	sec.labels[label] = id
	if label == LabelCurrent && ok {
		sec.labels[LabelPrevious] = from
	}
}

// addVersion stores a new version with labels and prunes deprecated
// versions beyond the limit. An empty labels list means AWSCURRENT, and the
// first version of a secret always gets AWSCURRENT.
func (s *Server) addVersion(sec *secret, id, value string, labels []string) *version {
	now := s.now()
	v := &version{id: id, value: value, created: now}
	sec.versions[id] = v
	sec.order = append(sec.order, id)
	sec.changed = now

	if len(labels) == 0 {
		labels = []string{LabelCurrent}
	}
	if _, ok := sec.labels[LabelCurrent]; !ok && !slices.Contains(labels, LabelCurrent) {
		labels = append(labels, LabelCurrent)
	}
	for _, label := range labels {
		sec.attach(label, id)
	}
	s.prune(sec)
	return v
}

// prune deletes the oldest deprecated versions that are old enough while
// the secret has more versions than the limit.
func (s *Server) prune(sec *secret) {
	cutoff := s.now().Add(-s.minPruneAge)
	for i := 0; len(sec.versions) > s.versionLimit && i < len(sec.order); {
		id := sec.order[i]
		v := sec.versions[id]
		if len(sec.stages(id)) > 0 || v.created.After(cutoff) {
			i++
			continue
		}
		sec.remove(id)
	}
}

// remove deletes version id and its labels.
func (sec *secret) remove(id string) {
	delete(sec.versions, id)
	sec.order = slices.DeleteFunc(sec.order, func(o string) bool { return o == id })
	for label, holder := range sec.labels {
		if holder == id {
			delete(sec.labels, label)
		}
	}
}

// lookup finds a secret by name or ARN. AWS also accepts an ARN without its
// random suffix; so does the fake.
func (s *Server) lookup(secretID string) (*secret, *apiError) {
	if secretID == "" {
		return nil, errValidation("secretId", secretID, "Member must have length greater than or equal to 1")
	}
	if sec, ok := s.secrets[secretID]; ok {
		return sec, nil
	}
	for _, sec := range s.secrets {
		if sec.arn == secretID || strings.HasPrefix(sec.arn, secretID+"-") && len(sec.arn) == len(secretID)+7 {
			return sec, nil
		}
	}
	return nil, errNotFound("Secrets Manager can't find the specified secret.")
}

// checkNotDeleted rejects a request on a secret that is scheduled for
// deletion, with the error and message AWS returns for GetSecretValue,
// PutSecretValue and UpdateSecretVersionStage then.
func (sec *secret) checkNotDeleted() *apiError {
	if sec.deleted.IsZero() {
		return nil
	}
	return errInvalidRequest("You can't perform this operation on the secret because it was marked for deletion.")
}

// versionByIDOrStage resolves GetSecretValue's VersionId and VersionStage,
// AWSCURRENT when both are empty.
func (sec *secret) versionByIDOrStage(id, stage string) (*version, *apiError) {
	if id == "" && stage == "" {
		stage = LabelCurrent
	}
	if stage != "" {
		holder, ok := sec.labels[stage]
		if !ok {
			return nil, errNotFound("Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
		if id != "" && id != holder {
			return nil, errInvalidParameter("The staging label %s is not attached to the version %s.", stage, id)
		}
		id = holder
	}
	v, ok := sec.versions[id]
	if !ok {
		return nil, errNotFound("Secrets Manager can't find the specified secret value for VersionId: %s", id)
	}
	return v, nil
}
