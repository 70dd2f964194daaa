package gcpfake

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The handlers below follow these pages of Google's documentation:
//
//   - ETags: "If an ETag is provided and matches the current resource ETag,
//     the request succeeds; otherwise, it fails with a FAILED_PRECONDITION
//     error", every modification (no-op ones included) changes the
//     resource's etag, and changing a version leaves the secret's etag
//     alone (https://cloud.google.com/secret-manager/docs/etags).
//   - Checksums: with data_crc32c set, Secret Manager "will verify the
//     integrity of the received data"; without it, the server computes and
//     stores one, and AccessSecretVersion returns it
//     (https://cloud.google.com/secret-manager/docs/data-integrity and
//     SecretPayload.data_crc32c). The status code of a mismatch is not on
//     that page. The fake returns INVALID_ARGUMENT, which is an assumption.
//   - States: a disabled version "can't be accessed" and can be enabled
//     again (https://cloud.google.com/secret-manager/docs/disable-secret-version);
//     accessing one fails with FAILED_PRECONDITION and a message such as
//     "Secret Version [.../versions/3] is in DISABLED state.", as quoted in
//     public error reports from users of the Go and Node.js clients.
//   - Expiration: "If specified the Secret and all SecretVersions will be
//     automatically deleted at expiration", and ttl is input only
//     (Secret.expiration in the v1 API reference).
//   - version_destroy_ttl: a destroy request moves the version to DISABLED
//     and destroys it after the TTL (Secret.version_destroy_ttl and
//     SecretVersion.scheduled_destroy_time).

const secretsSegment = "/secrets/"

func splitSecretName(name string) (project, id string, ok bool) {
	rest, ok := strings.CutPrefix(name, "projects/")
	if !ok {
		return "", "", false
	}
	project, id, ok = strings.Cut(rest, secretsSegment)
	if !ok || project == "" || strings.Contains(project, "/") || !secretIDPattern.MatchString(id) {
		return "", "", false
	}
	return project, id, true
}

func splitVersionName(name string) (secret, version string, ok bool) {
	secret, version, ok = strings.Cut(name, "/versions/")
	if !ok || version == "" || strings.Contains(version, "/") {
		return "", "", false
	}
	if _, _, ok := splitSecretName(secret); !ok {
		return "", "", false
	}
	return secret, version, true
}

func invalidName(kind, name string) error {
	return status.Errorf(codes.InvalidArgument, "invalid %s name %q", kind, name)
}

// lookup returns the secret with the given full name, after applying
// whatever its expiration and scheduled destructions have done by now.
// The caller holds mu.
func (s *Server) lookup(name string) (*secretState, error) {
	if _, _, ok := splitSecretName(name); !ok {
		return nil, invalidName("secret", name)
	}
	sec := s.secrets[name]
	now := s.now()
	if sec != nil && !sec.expireTime.IsZero() && !now.Before(sec.expireTime) {
		delete(s.secrets, name)
		sec = nil
	}
	if sec == nil {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", name)
	}
	for _, v := range sec.versions {
		if !v.scheduledDestroyTime.IsZero() && !now.Before(v.scheduledDestroyTime) {
			v.data, v.state, v.destroyed, v.scheduledDestroyTime = nil, secretmanagerpb.SecretVersion_DESTROYED, v.scheduledDestroyTime, time.Time{}
		}
	}
	return sec, nil
}

// lookupVersion returns the secret and the number of the version that name
// addresses. The caller holds mu.
func (s *Server) lookupVersion(name string) (*secretState, int64, error) {
	secretName, id, ok := splitVersionName(name)
	if !ok {
		return nil, 0, invalidName("secret version", name)
	}
	sec, err := s.lookup(secretName)
	if err != nil {
		return nil, 0, err
	}
	n, err := sec.resolve(id)
	if err != nil {
		return nil, 0, err
	}
	return sec, n, nil
}

func stateError(sec *secretState, n int64) error {
	return status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in %s state.", sec.versionName(n), sec.versions[n].state)
}

// CreateSecret creates a secret without versions.
func (s *Server) CreateSecret(_ context.Context, req *secretmanagerpb.CreateSecretRequest) (*secretmanagerpb.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	project, ok := strings.CutPrefix(req.GetParent(), "projects/")
	if !ok || project == "" || strings.Contains(project, "/") {
		return nil, invalidName("project", req.GetParent())
	}
	if !secretIDPattern.MatchString(req.GetSecretId()) {
		return nil, status.Errorf(codes.InvalidArgument, "invalid secret_id %q", req.GetSecretId())
	}
	in := req.GetSecret()
	if in.GetReplication() == nil {
		return nil, status.Error(codes.InvalidArgument, "secret.replication is required")
	}
	name := req.GetParent() + secretsSegment + req.GetSecretId()
	if _, err := s.lookup(name); err == nil {
		return nil, status.Errorf(codes.AlreadyExists, "Secret [%s] already exists.", name)
	}
	if len(in.GetVersionAliases()) > 0 {
		return nil, status.Error(codes.InvalidArgument, "a new secret has no versions for aliases to name")
	}
	if err := checkLabels(in.GetLabels()); err != nil {
		return nil, err
	}
	if err := checkAnnotations(in.GetAnnotations()); err != nil {
		return nil, err
	}

	now := s.now()
	sec := &secretState{
		name:        name,
		created:     now,
		labels:      maps.Clone(in.GetLabels()),
		annotations: maps.Clone(in.GetAnnotations()),
		aliases:     map[string]int64{},
		etag:        s.newEtag(),
		rotation:    in.GetRotation(),
		replication: in.GetReplication(),
		versions:    map[int64]*versionState{},
	}
	if err := sec.setExpiration(in, now, "ttl"); err != nil {
		return nil, err
	}
	if err := sec.setExpiration(in, now, "expire_time"); err != nil {
		return nil, err
	}
	if ttl := in.GetVersionDestroyTtl(); ttl != nil {
		sec.destroyTTL = ttl.AsDuration()
	}
	s.secrets[name] = sec
	return sec.toProto(), nil
}

// setExpiration applies one of the expiration fields of in. A nil field
// removes the expiration, as an update mask naming it does.
func (sec *secretState) setExpiration(in *secretmanagerpb.Secret, now time.Time, field string) error {
	switch field {
	case "ttl":
		if ttl := in.GetTtl(); ttl != nil {
			if ttl.AsDuration() <= 0 {
				return status.Error(codes.InvalidArgument, "ttl must be positive")
			}
			sec.expireTime = now.Add(ttl.AsDuration())
			return nil
		}
	case "expire_time":
		if t := in.GetExpireTime(); t != nil {
			if !t.AsTime().After(now) {
				return status.Error(codes.InvalidArgument, "expire_time must be in the future")
			}
			sec.expireTime = t.AsTime()
			return nil
		}
	}
	if in.GetExpiration() == nil {
		sec.expireTime = time.Time{}
	}
	return nil
}

// GetSecret returns a secret's metadata, aliases and etag included.
func (s *Server) GetSecret(_ context.Context, req *secretmanagerpb.GetSecretRequest) (*secretmanagerpb.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return sec.toProto(), nil
}

// UpdateSecret replaces the fields the update mask names. A map field
// (labels, annotations, version_aliases) is replaced whole, so a caller
// that changes one alias sends them all. A non-empty etag must match.
func (s *Server) UpdateSecret(_ context.Context, req *secretmanagerpb.UpdateSecretRequest) (*secretmanagerpb.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	in := req.GetSecret()
	if in == nil {
		return nil, status.Error(codes.InvalidArgument, "secret is required")
	}
	sec, err := s.lookup(in.GetName())
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, status.Error(codes.InvalidArgument, "update_mask is required")
	}
	if in.GetEtag() != "" && in.GetEtag() != sec.etag {
		return nil, status.Errorf(codes.FailedPrecondition, "The etag provided in the request does not match the etag of Secret [%s].", sec.name)
	}

	// Validate every field before changing any, so a rejected request has
	// no effect.
	for _, p := range paths {
		switch p {
		case "labels":
			err = checkLabels(in.GetLabels())
		case "annotations":
			err = checkAnnotations(in.GetAnnotations())
		case "version_aliases":
			err = sec.checkAliases(in.GetVersionAliases())
		case "expire_time", "ttl", "version_destroy_ttl", "rotation":
		default:
			err = status.Errorf(codes.InvalidArgument, "update_mask path %q is not supported", p)
		}
		if err != nil {
			return nil, err
		}
	}
	now := s.now()
	for _, p := range paths {
		switch p {
		case "labels":
			sec.labels = maps.Clone(in.GetLabels())
		case "annotations":
			sec.annotations = maps.Clone(in.GetAnnotations())
		case "version_aliases":
			sec.aliases = maps.Clone(in.GetVersionAliases())
		case "expire_time", "ttl":
			if err := sec.setExpiration(in, now, p); err != nil {
				return nil, err
			}
		case "version_destroy_ttl":
			sec.destroyTTL = in.GetVersionDestroyTtl().AsDuration()
		case "rotation":
			sec.rotation = in.GetRotation()
		}
	}
	if sec.labels == nil {
		sec.labels = map[string]string{}
	}
	if sec.aliases == nil {
		sec.aliases = map[string]int64{}
	}
	sec.etag = s.newEtag()
	return sec.toProto(), nil
}

// AddSecretVersion adds an enabled version. It has no request id: every
// call that reaches the server adds a version.
func (s *Server) AddSecretVersion(_ context.Context, req *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	sec, err := s.lookup(req.GetParent())
	if err != nil {
		return nil, err
	}
	payload := req.GetPayload()
	if payload == nil {
		return nil, status.Error(codes.InvalidArgument, "payload is required")
	}
	if len(payload.GetData()) > maxPayloadBytes {
		return nil, status.Errorf(codes.InvalidArgument, "payload.data must be no larger than %d bytes", maxPayloadBytes)
	}
	sum := CRC32C(payload.GetData())
	if payload.DataCrc32C != nil && payload.GetDataCrc32C() != sum {
		return nil, status.Error(codes.InvalidArgument, "Checksum mismatch: payload.data_crc32c does not match the checksum of payload.data.")
	}
	return s.addVersion(sec, payload.GetData(), payload.DataCrc32C != nil), nil
}

// addVersion stores data as the secret's next version. The caller holds mu.
func (s *Server) addVersion(sec *secretState, data []byte, clientChecksum bool) *secretmanagerpb.SecretVersion {
	sec.next++
	sec.versions[sec.next] = &versionState{
		data:           append([]byte{}, data...),
		crc32c:         CRC32C(data),
		clientChecksum: clientChecksum,
		state:          secretmanagerpb.SecretVersion_ENABLED,
		created:        s.now(),
		etag:           s.newEtag(),
	}
	return sec.versionProto(sec.next)
}

// AccessSecretVersion returns a version's data with its checksum. The name
// may end in a number, "latest" or an alias; the response names the
// version by number.
func (s *Server) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	sec, n, err := s.lookupVersion(req.GetName())
	if err != nil {
		return nil, err
	}
	v := sec.versions[n]
	if v.state != secretmanagerpb.SecretVersion_ENABLED {
		return nil, stateError(sec, n)
	}
	sum := v.crc32c
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    sec.versionName(n),
		Payload: &secretmanagerpb.SecretPayload{Data: append([]byte{}, v.data...), DataCrc32C: &sum},
	}, nil
}

// GetSecretVersion returns a version's metadata in any state.
func (s *Server) GetSecretVersion(_ context.Context, req *secretmanagerpb.GetSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	sec, n, err := s.lookupVersion(req.GetName())
	if err != nil {
		return nil, err
	}
	return sec.versionProto(n), nil
}

// ListSecretVersions lists versions newest first, destroyed ones included.
// The only filters it understands are "state:ENABLED", "state:DISABLED"
// and "state:DESTROYED".
func (s *Server) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	sec, err := s.lookup(req.GetParent())
	if err != nil {
		return nil, err
	}
	var want secretmanagerpb.SecretVersion_State
	if f := req.GetFilter(); f != "" {
		name, ok := strings.CutPrefix(f, "state:")
		value, known := secretmanagerpb.SecretVersion_State_value[name]
		if !ok || !known {
			return nil, status.Errorf(codes.InvalidArgument, "filter %q is not supported by the fake", f)
		}
		want = secretmanagerpb.SecretVersion_State(value)
	}

	numbers := slices.Sorted(maps.Keys(sec.versions))
	slices.Reverse(numbers)
	var all []*secretmanagerpb.SecretVersion
	for _, n := range numbers {
		if want == secretmanagerpb.SecretVersion_STATE_UNSPECIFIED || sec.versions[n].state == want {
			all = append(all, sec.versionProto(n))
		}
	}

	start := 0
	if tok := req.GetPageToken(); tok != "" {
		start, err = strconv.Atoi(tok)
		if err != nil || start < 0 || start > len(all) {
			return nil, status.Errorf(codes.InvalidArgument, "invalid page_token %q", tok)
		}
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > 25000 {
		size = 25000
	}
	end := min(start+size, len(all))
	resp := &secretmanagerpb.ListSecretVersionsResponse{Versions: all[start:end]}
	if end < len(all) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	if req.GetFilter() == "" {
		resp.TotalSize = int32(len(all))
	}
	return resp, nil
}

// changeVersion applies a state change after the common checks: the
// version exists, its etag matches when one is sent, and it is not
// destroyed. Every change, including a no-op, gives the version a new
// etag.
func (s *Server) changeVersion(name, etag string, change func(sec *secretState, v *versionState)) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	sec, n, err := s.lookupVersion(name)
	if err != nil {
		return nil, err
	}
	v := sec.versions[n]
	if etag != "" && etag != v.etag {
		return nil, status.Errorf(codes.FailedPrecondition, "The etag provided in the request does not match the etag of Secret Version [%s].", sec.versionName(n))
	}
	if v.state == secretmanagerpb.SecretVersion_DESTROYED {
		return nil, stateError(sec, n)
	}
	change(sec, v)
	v.etag = s.newEtag()
	return sec.versionProto(n), nil
}

// DisableSecretVersion makes a version unreadable until it is enabled.
func (s *Server) DisableSecretVersion(_ context.Context, req *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.changeVersion(req.GetName(), req.GetEtag(), func(_ *secretState, v *versionState) {
		v.state = secretmanagerpb.SecretVersion_DISABLED
	})
}

// EnableSecretVersion makes a disabled version readable again and cancels
// a scheduled destruction.
func (s *Server) EnableSecretVersion(_ context.Context, req *secretmanagerpb.EnableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.changeVersion(req.GetName(), req.GetEtag(), func(_ *secretState, v *versionState) {
		v.state, v.scheduledDestroyTime = secretmanagerpb.SecretVersion_ENABLED, time.Time{}
	})
}

// DestroySecretVersion destroys a version's data, at once or, when the
// secret has a version_destroy_ttl, after that TTL, disabled meanwhile.
func (s *Server) DestroySecretVersion(_ context.Context, req *secretmanagerpb.DestroySecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	return s.changeVersion(req.GetName(), req.GetEtag(), func(sec *secretState, v *versionState) {
		now := s.now()
		if sec.destroyTTL > 0 {
			if v.scheduledDestroyTime.IsZero() {
				v.scheduledDestroyTime = now.Add(sec.destroyTTL)
			}
			v.state = secretmanagerpb.SecretVersion_DISABLED
			return
		}
		v.data, v.state, v.destroyed = nil, secretmanagerpb.SecretVersion_DESTROYED, now
	})
}
