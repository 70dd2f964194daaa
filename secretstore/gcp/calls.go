package gcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// maxAttempts bounds every retry loop: calls that failed with a transient
// code, and UpdateSecret calls that lost to a concurrent change.
const maxAttempts = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c returns the CRC32C of data in the int64 encoding of
// SecretPayload.data_crc32c.
func crc32c(data []byte) int64 { return int64(crc32.Checksum(data, castagnoli)) }

func versionID(n int64) secretstore.Version { return secretstore.Version(strconv.FormatInt(n, 10)) }

// parseVersion returns the number of a version rotor issued, and false for
// anything else, aliases included.
func parseVersion(v secretstore.Version) (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil && n > 0 && versionID(n) == v
}

func (s *Store) versionName(id string) string { return s.name + "/versions/" + id }

// where names the secret, and version n of it when n > 0, for messages.
func (s *Store) where(n int64) string {
	if n > 0 {
		return fmt.Sprintf("version %d of %s", n, s.name)
	}
	return s.name
}

// retry runs call until it succeeds, fails with a code that is not
// transient, or has run maxAttempts times. Only calls that are safe to
// repeat go through it.
func (s *Store) retry(ctx context.Context, op, method string, call func(ctx context.Context) error) error {
	wait := s.retryWait
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		if err == nil || !transient(err) || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		s.log.WarnContext(ctx, "retrying a Secret Manager call", "op", op, "method", method, "code", code(err).String(), "attempt", attempt)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// view is the secret's metadata as one GetSecret returned it.
type view struct {
	etag        string
	aliases     map[string]int64
	annotations map[string]string
	raw         *secretmanagerpb.Secret
}

func (v view) alias(name string) (int64, bool) {
	n, ok := v.aliases[name]
	return n, ok
}

// pending is the version under the pending alias and the rotation that
// owns it. owner is empty when another tool staged it, and old is the
// version that was current when rotor staged or adopted it.
type pending struct {
	version int64
	owner   string
	old     int64
}

func (p pending) versions() secretstore.Versions {
	return secretstore.Versions{Old: versionID(p.old), Staged: versionID(p.version)}
}

// pending returns the pending version. The annotations count as its owner
// only when they name the same version, so a pending alias that someone
// moved by hand is treated as staged by another tool.
func (v view) pending() (pending, bool) {
	n, ok := v.alias(AliasPending)
	if !ok {
		return pending{}, false
	}
	p := pending{version: n}
	if v.annotations[annotationVersion] == strconv.FormatInt(n, 10) {
		p.owner = v.annotations[annotationRotation]
		p.old, _ = strconv.ParseInt(v.annotations[annotationOld], 10, 64)
	}
	return p, true
}

// claim is the record of a stage that has not pointed pending at its
// version yet: the rotation, the version current then, and the newest
// version number before the stage added one.
type claim struct {
	owner string
	old   int64
	after int64
}

func (v view) claim() (claim, bool) {
	owner := v.annotations[annotationRotation]
	if owner == "" || v.annotations[annotationVersion] != "" {
		return claim{}, false
	}
	c := claim{owner: owner}
	c.old, _ = strconv.ParseInt(v.annotations[annotationOld], 10, 64)
	c.after, _ = strconv.ParseInt(v.annotations[annotationAfter], 10, 64)
	return c, true
}

// clearClaim removes rotor's stage annotations from annotations.
func clearClaim(annotations map[string]string) {
	for _, k := range []string{annotationRotation, annotationOld, annotationVersion, annotationAfter} {
		delete(annotations, k)
	}
}

func (s *Store) getSecret(ctx context.Context, op string) (view, error) {
	var sec *secretmanagerpb.Secret
	err := s.retry(ctx, op, "GetSecret", func(ctx context.Context) error {
		var err error
		sec, err = s.client.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: s.name})
		return err
	})
	if err != nil {
		return view{}, gcpError(op, "read secret "+s.name, err)
	}
	return view{
		etag:        sec.GetEtag(),
		aliases:     sec.GetVersionAliases(),
		annotations: sec.GetAnnotations(),
		raw:         sec,
	}, nil
}

// errNoCurrent is the error for a secret without the current alias.
func (s *Store) errNoCurrent(op string) error {
	return secretstore.Errorf(secretstore.ErrInvalid, op,
		"secret %s has no version alias %q; point it at the version consumers use now (gcloud secrets update %s --project %s --update-version-aliases=%s=VERSION) and make consumers read versions/%s instead of latest",
		s.name, AliasCurrent, s.id, s.project, AliasCurrent, AliasCurrent)
}

// current returns the version the current alias names.
func (s *Store) current(op string, v view) (int64, error) {
	n, ok := v.alias(AliasCurrent)
	if !ok {
		return 0, s.errNoCurrent(op)
	}
	return n, nil
}

// updateMeta changes the secret's aliases and annotations with
// UpdateSecret, under the etag of the GetSecret it reads first. change
// receives that view and copies of its maps to edit, and returns done when
// there is nothing to write (the change was made before). After an etag
// mismatch, or an outcome that is unknown, updateMeta reads again and calls
// change again, so a concurrent change of labels or other aliases is kept
// and a change applied before is not applied twice.
func (s *Store) updateMeta(ctx context.Context, op, rotationID string,
	change func(ctx context.Context, v view, aliases map[string]int64, annotations map[string]string) (done bool, err error)) error {
	var lastErr error
	reread := false
	wait := s.retryWait
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		v, err := s.getSecret(ctx, op)
		if err != nil {
			return err
		}
		aliases := maps.Clone(v.aliases)
		if aliases == nil {
			aliases = map[string]int64{}
		}
		annotations := maps.Clone(v.annotations)
		if annotations == nil {
			annotations = map[string]string{}
		}
		done, err := change(ctx, v, aliases, annotations)
		if err != nil {
			return err
		}
		if done {
			if reread {
				s.log.InfoContext(ctx, "Secret Manager write outcome resolved by a re-read", "op", op, "rotation_id", rotationID)
			}
			return nil
		}

		_, err = s.client.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{
			Secret: &secretmanagerpb.Secret{
				Name:           s.name,
				Etag:           v.etag,
				VersionAliases: aliases,
				Annotations:    annotations,
			},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"version_aliases", "annotations"}},
		})
		if err == nil {
			return nil
		}
		c := code(err)
		lastErr = gcpError(op, "update the version aliases of "+s.name, err)
		switch {
		case c == codes.FailedPrecondition || c == codes.Aborted:
			s.log.InfoContext(ctx, "secret changed since it was read; reading it again", "op", op, "rotation_id", rotationID, "attempt", attempt)
		case transient(err) || outcomeUnknown(err):
			if ctx.Err() != nil {
				return lastErr
			}
			s.log.WarnContext(ctx, "retrying a Secret Manager call", "op", op, "method", "UpdateSecret", "code", c.String(), "attempt", attempt)
			if err := sleep(ctx, wait); err != nil {
				return lastErr
			}
			wait *= 2
		default:
			return lastErr
		}
		reread = true
	}
	return fmt.Errorf("%w; gave up after %d attempts", lastErr, maxAttempts)
}

// getVersion returns the metadata of version id (a number or "latest").
func (s *Store) getVersion(ctx context.Context, op, id string) (*secretmanagerpb.SecretVersion, error) {
	var out *secretmanagerpb.SecretVersion
	err := s.retry(ctx, op, "GetSecretVersion", func(ctx context.Context) error {
		var err error
		out, err = s.client.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: s.versionName(id)})
		return err
	})
	return out, err
}

// numberOf returns the number at the end of a version's resource name.
func numberOf(name string) (int64, bool) {
	i := strings.LastIndex(name, "/versions/")
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(name[i+len("/versions/"):], 10, 64)
	return n, err == nil && n > 0
}

// errUnreadable is returned by access for a version that exists but is
// disabled or destroyed.
var errUnreadable = errors.New("version is not enabled")

// access returns the payload of version id (a number or an alias) and the
// number it resolved to. It returns the client's error unchanged, except
// that a FAILED_PRECONDITION (the version is disabled or destroyed) becomes
// errUnreadable and a payload whose checksum does not match becomes an
// ErrUnavailable error. It does not retry: the client's default call
// options already retry AccessSecretVersion on UNAVAILABLE and
// RESOURCE_EXHAUSTED until the call's time-out.
func (s *Store) access(ctx context.Context, op, id string) ([]byte, int64, error) {
	resp, err := s.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: s.versionName(id)})
	if code(err) == codes.FailedPrecondition {
		return nil, 0, errUnreadable
	}
	if err != nil {
		return nil, 0, err
	}
	n, ok := numberOf(resp.GetName())
	if !ok {
		return nil, 0, secretstore.Errorf(secretstore.ErrUnavailable, op, "Secret Manager returned no version number for %s", s.versionName(id))
	}
	data := resp.GetPayload().GetData()
	if sum := resp.GetPayload().DataCrc32C; sum != nil && *sum != crc32c(data) {
		return nil, 0, secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: the payload does not match its CRC32C checksum; it was corrupted on the way", s.where(n))
	}
	return data, n, nil
}

// readDoc returns the payload of version n, with ErrNotFound when it does
// not exist or is disabled or destroyed.
func (s *Store) readDoc(ctx context.Context, op string, n int64) ([]byte, error) {
	doc, _, err := s.access(ctx, op, strconv.FormatInt(n, 10))
	switch {
	case errors.Is(err, errUnreadable):
		return nil, secretstore.Errorf(secretstore.ErrNotFound, op, "%s is disabled or destroyed", s.where(n))
	case err != nil && code(err) == codes.NotFound:
		return nil, secretstore.Errorf(secretstore.ErrNotFound, op, "%s does not exist", s.where(n))
	case err != nil:
		var se *secretstore.Error
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, gcpError(op, "read "+s.where(n), err)
	}
	return doc, nil
}

// decode extracts the secret from version n's payload.
func (s *Store) decode(op string, n int64, doc []byte) (secret.Value, error) {
	value, err := s.format.Decode(doc)
	if err != nil {
		return secret.Value{}, s.formatError(op, n, err)
	}
	return value, nil
}

// formatError gives an error of secretstore.Format the step op and names
// version n of the secret in it.
func (s *Store) formatError(op string, n int64, err error) error {
	var e *secretstore.Error
	if errors.As(err, &e) {
		return secretstore.Errorf(e.Kind, op, "%s: %s", s.where(n), e.Msg)
	}
	return secretstore.Errorf(secretstore.ErrInvalid, op, "%s: the payload cannot be used", s.where(n))
}

// readValue returns the secret held in version n.
func (s *Store) readValue(ctx context.Context, op string, n int64) (secret.Value, error) {
	doc, err := s.readDoc(ctx, op, n)
	if err != nil {
		return secret.Value{}, err
	}
	return s.decode(op, n, doc)
}

// listVersions returns every version's metadata, newest first.
func (s *Store) listVersions(ctx context.Context, op string) ([]*secretmanagerpb.SecretVersion, error) {
	var out []*secretmanagerpb.SecretVersion
	err := s.retry(ctx, op, "ListSecretVersions", func(ctx context.Context) error {
		out = out[:0]
		it := s.client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: s.name})
		for {
			v, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				return err
			}
			out = append(out, v)
		}
	})
	if err != nil {
		return nil, gcpError(op, "list the versions of "+s.name, err)
	}
	return out, nil
}

// findAdded returns the oldest enabled version newer than after whose
// payload is doc, checked by CRC32C first and then byte for byte. It
// resolves an AddSecretVersion whose outcome is unknown.
func (s *Store) findAdded(ctx context.Context, op string, after int64, doc []byte) (int64, bool, error) {
	versions, err := s.listVersions(ctx, op)
	if err != nil {
		return 0, false, err
	}
	want := crc32c(doc)
	var found []int64
	for _, v := range versions {
		n, ok := numberOf(v.GetName())
		if !ok || n <= after || v.GetState() != secretmanagerpb.SecretVersion_ENABLED {
			continue
		}
		resp, err := s.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: s.versionName(strconv.FormatInt(n, 10))})
		if err != nil {
			if code(err) == codes.FailedPrecondition || code(err) == codes.NotFound {
				continue
			}
			return 0, false, gcpError(op, "read "+s.where(n), err)
		}
		payload := resp.GetPayload()
		if sum := payload.DataCrc32C; sum != nil && *sum != want {
			continue
		}
		if bytes.Equal(payload.GetData(), doc) {
			found = append(found, n)
		}
	}
	if len(found) == 0 {
		return 0, false, nil
	}
	oldest := found[len(found)-1]
	if len(found) > 1 {
		s.log.WarnContext(ctx, "several versions hold the staged value; using the oldest", "op", op, "version", oldest, "copies", len(found))
	}
	return oldest, true, nil
}

// changeState disables or destroys version n. A version already in the
// wanted state, or destroyed, is not an error. The call carries the
// version's etag; after a mismatch or an unknown outcome it reads the
// version again and decides again.
func (s *Store) changeState(ctx context.Context, op string, n int64, mode secretstore.RetireMode) error {
	name := s.versionName(strconv.FormatInt(n, 10))
	var lastErr error
	wait := s.retryWait
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		v, err := s.getVersion(ctx, op, strconv.FormatInt(n, 10))
		if err != nil {
			return gcpError(op, "read "+s.where(n), err)
		}
		switch {
		case v.GetState() == secretmanagerpb.SecretVersion_DESTROYED:
			return nil
		case v.GetScheduledDestroyTime() != nil:
			// A secret with version_destroy_ttl keeps a destroyed
			// version disabled until the TTL runs out.
			return nil
		case mode == secretstore.RetireDisable && v.GetState() == secretmanagerpb.SecretVersion_DISABLED:
			return nil
		}

		method := "DisableSecretVersion"
		if mode == secretstore.RetireDestroy {
			method = "DestroySecretVersion"
			_, err = s.client.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: name, Etag: v.GetEtag()})
		} else {
			_, err = s.client.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: name, Etag: v.GetEtag()})
		}
		if err == nil {
			return nil
		}
		lastErr = gcpError(op, string(mode)+" "+s.where(n), err)
		switch c := code(err); {
		case c == codes.FailedPrecondition || c == codes.Aborted:
		case transient(err) || outcomeUnknown(err):
			if ctx.Err() != nil {
				return lastErr
			}
			s.log.WarnContext(ctx, "retrying a Secret Manager call", "op", op, "method", method, "code", c.String(), "attempt", attempt, "version", n)
			if err := sleep(ctx, wait); err != nil {
				return lastErr
			}
			wait *= 2
		default:
			return lastErr
		}
	}
	return fmt.Errorf("%w; gave up after %d attempts", lastErr, maxAttempts)
}
