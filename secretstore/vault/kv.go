package vault

import (
	"context"
	"encoding/json"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

// This file holds the KV v2 requests the steps are made of. Each converts
// Vault's errors through vaultError and never returns a nil result with a
// nil error for something missing.

// keyMeta is the metadata of one KV v2 path.
type keyMeta struct {
	found       bool
	current     int
	maxVersions int
	custom      map[string]string
	versions    map[int]versionState // pruned versions are absent
}

type versionState struct {
	deleted   bool
	destroyed bool
}

// readable reports whether version n can be read: it exists and is neither
// soft-deleted nor destroyed.
func (m keyMeta) readable(n int) bool {
	v, ok := m.versions[n]
	return ok && !v.deleted && !v.destroyed
}

// document is one readable version of a path.
type document struct {
	version int
	data    map[string]any
}

func (s *Store) readMeta(ctx context.Context, op, path string) (keyMeta, error) {
	sec, err := s.client.Logical().ReadWithContext(ctx, s.mount+"/metadata/"+path)
	if err != nil {
		return keyMeta{}, vaultError(op, "read metadata of "+s.where(path, 0), err)
	}
	if sec == nil || sec.Data == nil {
		return keyMeta{}, nil
	}

	meta := keyMeta{found: true, versions: map[int]versionState{}, custom: map[string]string{}}
	meta.current, _ = intField(sec.Data, "current_version")
	meta.maxVersions, _ = intField(sec.Data, "max_versions")
	if custom, ok := sec.Data["custom_metadata"].(map[string]any); ok {
		for k, v := range custom {
			if s, ok := v.(string); ok {
				meta.custom[k] = s
			}
		}
	}
	versions, _ := sec.Data["versions"].(map[string]any)
	for name, raw := range versions {
		n, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		fields, _ := raw.(map[string]any)
		destroyed, _ := fields["destroyed"].(bool)
		meta.versions[n] = versionState{deleted: deletedAt(fields["deletion_time"]), destroyed: destroyed}
	}
	return meta, nil
}

// deletedAt reports whether a deletion_time marks a version as deleted now.
// Vault sets a future deletion_time when delete_version_after is
// configured; such a version is still readable until then.
func deletedAt(raw any) bool {
	s, _ := raw.(string)
	if s == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return err != nil || !t.After(time.Now())
}

// readVersion reads version n of path, or the latest version when n is 0.
// found is false when the path or version does not exist, was pruned, or
// is deleted or destroyed.
func (s *Store) readVersion(ctx context.Context, op, path string, n int) (doc document, found bool, err error) {
	var query url.Values
	if n > 0 {
		query = url.Values{"version": {strconv.Itoa(n)}}
	}
	sec, err := s.client.Logical().ReadWithDataWithContext(ctx, s.mount+"/data/"+path, query)
	if err != nil {
		return document{}, false, vaultError(op, "read "+s.where(path, n), err)
	}
	if sec == nil {
		return document{}, false, nil
	}
	// A deleted or destroyed version comes back as a 404 whose body contains
	// its metadata and "data": null, which the client returns as a secret.
	data, ok := sec.Data["data"].(map[string]any)
	if !ok {
		return document{}, false, nil
	}
	metadata, _ := sec.Data["metadata"].(map[string]any)
	version, ok := intField(metadata, "version")
	if !ok {
		return document{}, false, secretstore.Errorf(secretstore.ErrInvalid, op,
			"%s: the response has no version number; check that mount %q is KV version 2", s.where(path, n), s.mount)
	}
	return document{version: version, data: data}, true, nil
}

// secretOf extracts the secret from a document.
func (s *Store) secretOf(op, path string, doc document) (secret.Value, error) {
	raw, ok := doc.data[s.key]
	if !ok {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrInvalid, op,
			"%s has no field %q; fix key in the configuration or add the field", s.where(path, doc.version), s.key)
	}
	str, ok := raw.(string)
	if !ok {
		return secret.Value{}, secretstore.Errorf(secretstore.ErrInvalid, op,
			"field %q of %s is not a string", s.key, s.where(path, doc.version))
	}
	return secret.New(str), nil
}

// readValue reads the secret held in version n of path; found is false
// when the version cannot be read.
func (s *Store) readValue(ctx context.Context, op, path string, n int) (value secret.Value, found bool, err error) {
	doc, found, err := s.readVersion(ctx, op, path, n)
	if err != nil || !found {
		return secret.Value{}, found, err
	}
	value, err = s.secretOf(op, path, doc)
	return value, err == nil, err
}

// writeVersion writes data as a new version of path with check-and-set on
// version cas (0: the path must have no version yet) and returns the new
// version number.
func (s *Store) writeVersion(ctx context.Context, op, path string, data map[string]any, cas int) (int, error) {
	sec, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/data/"+path, map[string]any{
		"data":    data,
		"options": map[string]any{"cas": cas},
	})
	where := "write " + s.where(path, 0) + " with check-and-set on version " + strconv.Itoa(cas)
	if err != nil {
		return 0, vaultError(op, where, err)
	}
	if sec == nil {
		return 0, secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: Vault's response has no version number; the outcome is unknown", where)
	}
	n, ok := intField(sec.Data, "version")
	if !ok {
		return 0, secretstore.Errorf(secretstore.ErrUnavailable, op, "%s: Vault's response has no version number; the outcome is unknown", where)
	}
	return n, nil
}

// writeCustomMetadata replaces the custom metadata of path, creating its
// metadata if needed. Other metadata fields keep their values.
func (s *Store) writeCustomMetadata(ctx context.Context, op, path string, custom map[string]string) error {
	_, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/metadata/"+path, map[string]any{
		"custom_metadata": custom,
	})
	if err != nil {
		return vaultError(op, "write custom metadata of "+s.where(path, 0), err)
	}
	return nil
}

// deleteAll deletes the metadata and every version of path. A path that
// does not exist is not an error.
func (s *Store) deleteAll(ctx context.Context, op, path string) error {
	if _, err := s.client.Logical().DeleteWithContext(ctx, s.mount+"/metadata/"+path); err != nil {
		return vaultError(op, "delete "+s.where(path, 0), err)
	}
	return nil
}

// retireVersions soft-deletes or destroys versions of path.
func (s *Store) retireVersions(ctx context.Context, op, path string, versions []int, mode secretstore.RetireMode) error {
	endpoint := "delete"
	if mode == secretstore.RetireDestroy {
		endpoint = "destroy"
	}
	_, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/"+endpoint+"/"+path, map[string]any{"versions": versions})
	if err != nil {
		names := make([]string, len(versions))
		for i, n := range versions {
			names[i] = strconv.Itoa(n)
		}
		return vaultError(op, endpoint+" versions "+strings.Join(names, ", ")+" of "+s.where(path, 0), err)
	}
	return nil
}

// withFields returns a copy of custom with fields set.
func withFields(custom map[string]string, fields map[string]string) map[string]string {
	out := maps.Clone(custom)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, fields)
	return out
}

// intField reads a number field of a decoded Vault response, in which the
// client decodes numbers as json.Number.
func intField(m map[string]any, name string) (int, bool) {
	switch v := m[name].(type) {
	case json.Number:
		n, err := strconv.Atoi(v.String())
		return n, err == nil
	case float64:
		return int(v), true
	}
	return 0, false
}
