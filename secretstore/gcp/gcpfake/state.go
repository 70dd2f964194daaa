package gcpfake

import (
	"hash/crc32"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// secretState is one stored secret.
type secretState struct {
	name        string // projects/P/secrets/S
	created     time.Time
	labels      map[string]string
	annotations map[string]string
	aliases     map[string]int64
	etag        string
	expireTime  time.Time     // zero when the secret does not expire
	destroyTTL  time.Duration // version_destroy_ttl; zero destroys at once
	rotation    *secretmanagerpb.Rotation
	replication *secretmanagerpb.Replication
	versions    map[int64]*versionState // removed versions are absent
	next        int64                   // the number of the latest version ever added
}

// versionState is one stored version.
type versionState struct {
	data                 []byte // nil once destroyed
	crc32c               int64
	clientChecksum       bool
	state                secretmanagerpb.SecretVersion_State
	created              time.Time
	destroyed            time.Time
	scheduledDestroyTime time.Time
	etag                 string
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the CRC32C (Castagnoli) checksum of data in the int64
// encoding of SecretPayload.data_crc32c.
func CRC32C(data []byte) int64 { return int64(crc32.Checksum(data, castagnoli)) }

func (sec *secretState) toProto() *secretmanagerpb.Secret {
	out := &secretmanagerpb.Secret{
		Name:              sec.name,
		CreateTime:        timestamppb.New(sec.created),
		Labels:            maps.Clone(sec.labels),
		Annotations:       maps.Clone(sec.annotations),
		VersionAliases:    maps.Clone(sec.aliases),
		Etag:              sec.etag,
		Rotation:          sec.rotation,
		Replication:       sec.replication,
		VersionDestroyTtl: nil,
	}
	if !sec.expireTime.IsZero() {
		// ttl is input only: the API always returns expire_time.
		out.Expiration = &secretmanagerpb.Secret_ExpireTime{ExpireTime: timestamppb.New(sec.expireTime)}
	}
	if sec.destroyTTL > 0 {
		out.VersionDestroyTtl = durationpb.New(sec.destroyTTL)
	}
	return out
}

func (sec *secretState) versionName(n int64) string {
	return sec.name + "/versions/" + strconv.FormatInt(n, 10)
}

func (sec *secretState) versionProto(n int64) *secretmanagerpb.SecretVersion {
	v := sec.versions[n]
	out := &secretmanagerpb.SecretVersion{
		Name:                           sec.versionName(n),
		CreateTime:                     timestamppb.New(v.created),
		State:                          v.state,
		Etag:                           v.etag,
		ClientSpecifiedPayloadChecksum: v.clientChecksum,
	}
	if !v.destroyed.IsZero() {
		out.DestroyTime = timestamppb.New(v.destroyed)
	}
	if !v.scheduledDestroyTime.IsZero() {
		out.ScheduledDestroyTime = timestamppb.New(v.scheduledDestroyTime)
	}
	return out
}

// resolve finds the version that id names: a number, "latest" or an alias.
// Secret Manager documents "latest" as "an alias to the most recently
// created SecretVersion" (AccessSecretVersionRequest.name, and
// https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access),
// so it is the newest version whatever its state, not the newest enabled
// one. An alias is accessed "in the same way that you can access secret
// versions by their version number"
// (https://cloud.google.com/secret-manager/docs/assign-alias-to-secret-version).
func (sec *secretState) resolve(id string) (int64, error) {
	notFound := status.Errorf(codes.NotFound, "Secret Version [%s/versions/%s] not found.", sec.name, id)
	switch {
	case id == "latest":
		if sec.next == 0 {
			return 0, notFound
		}
		// A version removed with RemoveVersion leaves no trace, so the
		// newest remaining one is the latest.
		for n := sec.next; n > 0; n-- {
			if _, ok := sec.versions[n]; ok {
				return n, nil
			}
		}
		return 0, notFound
	case isNumber(id):
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || sec.versions[n] == nil {
			return 0, notFound
		}
		return n, nil
	default:
		n, ok := sec.aliases[id]
		if !ok || sec.versions[n] == nil {
			return 0, notFound
		}
		return n, nil
	}
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Name rules from the API reference. Secret IDs: at most 255 letters,
// digits, hyphens and underscores (CreateSecretRequest.secret_id). Aliases:
// at most 63 characters of letters, digits, hyphens and underscores,
// starting with a letter, and neither "latest" nor "new" in any case
// (Secret.version_aliases and the alias guide). Label keys: 1 to 63
// lowercase letters, digits, underscores and hyphens, starting with a
// lowercase letter. Label values: up to 63 of the same (Secret.labels).
// The fake checks ASCII only, where Google also allows other lowercase
// letters.
var (
	secretIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	aliasPattern      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)
	labelKeyPattern   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	labelValuePattern = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	annotationKey     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)
)

const (
	maxAliases         = 50
	maxLabels          = 64
	maxAnnotationBytes = 16 * 1024
	maxPayloadBytes    = 64 * 1024
)

func validAlias(alias string) bool {
	lower := strings.ToLower(alias)
	return aliasPattern.MatchString(alias) && lower != "latest" && lower != "new"
}

func checkLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return status.Errorf(codes.InvalidArgument, "at most %d labels are allowed", maxLabels)
	}
	for k, v := range labels {
		if !labelKeyPattern.MatchString(k) || !labelValuePattern.MatchString(v) {
			return status.Errorf(codes.InvalidArgument, "invalid label %q", k)
		}
	}
	return nil
}

func checkAnnotations(annotations map[string]string) error {
	size := 0
	for k, v := range annotations {
		if !annotationKey.MatchString(k) {
			return status.Errorf(codes.InvalidArgument, "invalid annotation key %q", k)
		}
		size += len(k) + len(v)
	}
	if size >= maxAnnotationBytes {
		return status.Errorf(codes.InvalidArgument, "annotations must total less than %d bytes", maxAnnotationBytes)
	}
	return nil
}

// checkAliases validates aliases against the secret's versions. The API
// reference states the naming rules; that an alias must name an existing
// version is an assumption of this fake.
func (sec *secretState) checkAliases(aliases map[string]int64) error {
	if len(aliases) > maxAliases {
		return status.Errorf(codes.InvalidArgument, "at most %d version aliases are allowed", maxAliases)
	}
	for alias, n := range aliases {
		if !validAlias(alias) {
			return status.Errorf(codes.InvalidArgument, "invalid version alias %q", alias)
		}
		if sec.versions[n] == nil {
			return status.Errorf(codes.InvalidArgument, "version alias %q names version %d, which does not exist", alias, n)
		}
	}
	return nil
}
