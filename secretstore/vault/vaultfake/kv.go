package vaultfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultMaxVersions is the number of versions KV v2 keeps when neither the
// key nor the mount sets max_versions.
const defaultMaxVersions = 10

type mount struct {
	path     string
	version  int
	accessor string

	// KV v2 engine configuration.
	maxVersions int
	casRequired bool

	keys map[string]*key            // KV v2
	v1   map[string]json.RawMessage // KV v1: the stored objects
}

func newMount(path string, version int) *mount {
	return &mount{
		path:     path,
		version:  version,
		accessor: "kv_" + requestID()[:8],
		keys:     map[string]*key{},
		v1:       map[string]json.RawMessage{},
	}
}

// describe returns the mount as sys/mounts and sys/internal/ui/mounts show
// it.
func (m *mount) describe() map[string]any {
	return map[string]any{
		"path":        m.path + "/",
		"type":        "kv",
		"description": "",
		"accessor":    m.accessor,
		"options":     map[string]any{"version": strconv.Itoa(m.version)},
		"config": map[string]any{
			"default_lease_ttl": 0,
			"max_lease_ttl":     0,
			"force_no_cache":    false,
		},
		"local":                   false,
		"seal_wrap":               false,
		"external_entropy_access": false,
	}
}

// key is the metadata and versions of one KV v2 secret.
type key struct {
	versions     map[int]*version
	current      int
	oldest       int
	maxVersions  int
	casRequired  bool
	custom       map[string]string
	created, upd time.Time
}

type version struct {
	data      json.RawMessage // nil once destroyed
	created   time.Time
	deleted   time.Time // zero when not deleted
	destroyed bool
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func (v *version) metadata(n int, custom map[string]string) map[string]any {
	return map[string]any{
		"version":         n,
		"created_time":    timeString(v.created),
		"deletion_time":   timeString(v.deleted),
		"destroyed":       v.destroyed,
		"custom_metadata": custom,
	}
}

func (s *Server) handleKV2(m *mount, c call, rel string) reply {
	if rel == "config" {
		return s.kvConfig(m, c)
	}
	prefix, p, _ := strings.Cut(rel, "/")
	switch {
	case prefix == "data" && p != "":
		switch c.op {
		case "read":
			return s.dataRead(m, c, p)
		case "write":
			return s.dataWrite(m, c, p)
		case "delete":
			return s.dataDelete(m, p)
		}
		return unsupported
	case prefix == "metadata":
		switch c.op {
		case "list":
			return s.metadataList(m, p)
		case "read":
			return s.metadataRead(m, p)
		case "write":
			return s.metadataWrite(m, c, p)
		case "patch":
			return s.metadataPatch(m, c, p)
		case "delete":
			delete(m.keys, p)
			return noContent()
		}
		return unsupported
	case (prefix == "delete" || prefix == "undelete" || prefix == "destroy") && p != "":
		if c.op != "write" {
			return unsupported
		}
		return s.versionsWrite(m, c, prefix, p)
	}
	return errorReply(http.StatusNotFound, "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.")
}

func (s *Server) kvConfig(m *mount, c call) reply {
	switch c.op {
	case "read":
		return dataReply(http.StatusOK, map[string]any{
			"max_versions":         m.maxVersions,
			"cas_required":         m.casRequired,
			"delete_version_after": "0s",
		})
	case "write":
		if v, ok := c.body["max_versions"]; ok {
			n, err := intOf(v)
			if err != nil {
				return errorReply(http.StatusBadRequest, "invalid max_versions")
			}
			m.maxVersions = n
		}
		if v, ok := c.body["cas_required"].(bool); ok {
			m.casRequired = v
		}
		return noContent()
	}
	return unsupported
}

func (s *Server) dataRead(m *mount, c call, p string) reply {
	k := m.keys[p]
	if k == nil {
		return notFound
	}
	n := k.current
	if raw := firstQuery(c.query, "version"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil {
			return errorReply(http.StatusBadRequest, fmt.Sprintf("1 error occurred:\n\t* error converting input %s for field \"version\": strconv.ParseInt: parsing %q: invalid syntax\n\n", raw, raw))
		}
		if v > 0 {
			n = v
		}
	}
	v := k.versions[n]
	if v == nil {
		return notFound
	}
	body := map[string]any{"data": nil, "metadata": v.metadata(n, k.custom)}
	if v.destroyed || (!v.deleted.IsZero() && v.deleted.Before(s.now())) {
		return dataReply(http.StatusNotFound, body)
	}
	body["data"] = v.data
	return dataReply(http.StatusOK, body)
}

func (s *Server) dataWrite(m *mount, c call, p string) reply {
	raw, ok := c.body["data"]
	data, isMap := raw.(map[string]any)
	if !ok || !isMap {
		return errorReply(http.StatusBadRequest, "no data provided")
	}
	k := m.keys[p]
	if k == nil {
		k = &key{versions: map[int]*version{}}
	}
	if err := checkAndSet(c.body, m, k); err != "" {
		return errorReply(http.StatusBadRequest, err)
	}
	doc, err := json.Marshal(data)
	if err != nil {
		return errorReply(http.StatusBadRequest, "invalid data")
	}
	m.keys[p] = k
	n, v := s.addVersion(m, k, doc)
	return dataReply(http.StatusOK, v.metadata(n, k.custom))
}

// checkAndSet validates the options.cas parameter the way the KV v2 plugin
// does and returns Vault's error text, or "" when the write may go ahead.
func checkAndSet(body map[string]any, m *mount, k *key) string {
	options, _ := body["options"].(map[string]any)
	raw, ok := options["cas"]
	if !ok {
		if m.casRequired || k.casRequired {
			return "check-and-set parameter required for this call"
		}
		return ""
	}
	cas, err := intOf(raw)
	if err != nil {
		return "error parsing check-and-set parameter"
	}
	if cas != k.current {
		return "check-and-set parameter did not match the current version"
	}
	return ""
}

// addVersion stores doc as the next version and prunes the oldest versions
// beyond the effective max_versions: the larger of the key's and the
// mount's setting, or 10 when both are 0.
func (s *Server) addVersion(m *mount, k *key, doc json.RawMessage) (int, *version) {
	now := s.now()
	k.current++
	v := &version{data: doc, created: now}
	k.versions[k.current] = v
	k.upd = now
	if k.created.IsZero() {
		k.created = now
	}

	limit := max(k.maxVersions, m.maxVersions)
	if limit <= 0 {
		limit = defaultMaxVersions
	}
	if k.current-k.oldest >= limit {
		last := k.current - limit
		for i := k.oldest; i <= last; i++ {
			delete(k.versions, i)
		}
		k.oldest = last + 1
	}
	return k.current, v
}

func (s *Server) dataDelete(m *mount, p string) reply {
	k := m.keys[p]
	if k == nil {
		return noContent()
	}
	if v := k.versions[k.current]; v != nil && !v.destroyed && v.deleted.IsZero() {
		v.deleted = s.now()
	}
	return noContent()
}

func (s *Server) versionsWrite(m *mount, c call, op, p string) reply {
	numbers, err := intsOf(c.body["versions"])
	if err != nil || len(numbers) == 0 {
		if op == "destroy" {
			return errorReply(http.StatusBadRequest, "no version number provided")
		}
		return errorReply(http.StatusBadRequest, "No version number provided")
	}
	k := m.keys[p]
	if k == nil {
		return noContent()
	}
	for _, n := range numbers {
		v := k.versions[n]
		if v == nil || v.destroyed {
			continue
		}
		switch op {
		case "delete":
			if v.deleted.IsZero() {
				v.deleted = s.now()
			}
		case "undelete":
			v.deleted = time.Time{}
		case "destroy":
			v.destroyed, v.data = true, nil
		}
	}
	return noContent()
}

func (s *Server) metadataRead(m *mount, p string) reply {
	k := m.keys[p]
	if k == nil {
		return notFound
	}
	versions := map[string]any{}
	for n, v := range k.versions {
		versions[strconv.Itoa(n)] = map[string]any{
			"created_time":  timeString(v.created),
			"deletion_time": timeString(v.deleted),
			"destroyed":     v.destroyed,
		}
	}
	return dataReply(http.StatusOK, map[string]any{
		"versions":             versions,
		"current_version":      k.current,
		"oldest_version":       k.oldest,
		"created_time":         timeString(k.created),
		"updated_time":         timeString(k.upd),
		"max_versions":         k.maxVersions,
		"cas_required":         k.casRequired,
		"delete_version_after": "0s",
		"custom_metadata":      k.custom,
	})
}

func (s *Server) metadataWrite(m *mount, c call, p string) reply {
	custom, err := customMetadata(c.body, false)
	if err != "" {
		return errorReply(http.StatusBadRequest, err)
	}
	k := m.keys[p]
	if k == nil {
		now := s.now()
		k = &key{versions: map[int]*version{}, created: now, upd: now}
	}
	if reply, ok := applyMetadataFields(k, c.body); !ok {
		return reply
	}
	if _, ok := c.body["custom_metadata"]; ok {
		k.custom = custom
	}
	m.keys[p] = k
	return noContent()
}

// metadataPatch applies a JSON merge patch: only the fields present change,
// and a custom_metadata key set to null is removed.
func (s *Server) metadataPatch(m *mount, c call, p string) reply {
	if !strings.HasPrefix(c.ctype, "application/merge-patch+json") {
		return errorReply(http.StatusUnsupportedMediaType, "PATCH requires Content-Type of application/merge-patch+json, got \""+c.ctype+"\"")
	}
	k := m.keys[p]
	if k == nil {
		return notFound
	}
	if _, err := customMetadata(c.body, true); err != "" {
		return errorReply(http.StatusBadRequest, err)
	}
	if reply, ok := applyMetadataFields(k, c.body); !ok {
		return reply
	}
	if patch, ok := c.body["custom_metadata"].(map[string]any); ok {
		if k.custom == nil {
			k.custom = map[string]string{}
		}
		for name, v := range patch {
			if v == nil {
				delete(k.custom, name)
				continue
			}
			k.custom[name] = fmt.Sprint(v)
		}
	}
	return noContent()
}

func applyMetadataFields(k *key, body map[string]any) (reply, bool) {
	if v, ok := body["max_versions"]; ok {
		n, err := intOf(v)
		if err != nil || n < 0 {
			return errorReply(http.StatusBadRequest, "invalid max_versions"), false
		}
		k.maxVersions = n
	}
	if v, ok := body["cas_required"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return errorReply(http.StatusBadRequest, "invalid cas_required"), false
		}
		k.casRequired = b
	}
	return reply{}, true
}

// customMetadata parses and validates custom_metadata with the plugin's
// limits: at most 64 keys, keys up to 128 and values up to 512 bytes.
func customMetadata(body map[string]any, patch bool) (map[string]string, string) {
	raw, ok := body["custom_metadata"]
	if !ok || raw == nil {
		return nil, ""
	}
	fields, isMap := raw.(map[string]any)
	if !isMap {
		return nil, "custom_metadata validation failed: expected a map"
	}
	if len(fields) > 64 {
		return nil, fmt.Sprintf("custom_metadata validation failed: payload must contain at most 64 keys, provided %d", len(fields))
	}
	out := map[string]string{}
	for k, v := range fields {
		if v == nil && patch {
			continue
		}
		s := fmt.Sprint(v)
		if len(k) == 0 || len(k) > 128 {
			return nil, fmt.Sprintf("custom_metadata validation failed: length of key %q is %d but must be 0 < len(key) <= 128", k, len(k))
		}
		if len(s) == 0 || len(s) > 512 {
			return nil, fmt.Sprintf("custom_metadata validation failed: length of value for key %q is %d but must be 0 < len(value) <= 512", k, len(s))
		}
		out[k] = s
	}
	return out, ""
}

func (s *Server) metadataList(m *mount, prefix string) reply {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	var names []string
	for p := range m.keys {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		if first, _, nested := strings.Cut(rest, "/"); nested {
			rest = first + "/"
		}
		if !slices.Contains(names, rest) {
			names = append(names, rest)
		}
	}
	return listReply(names)
}

func listReply(names []string) reply {
	if len(names) == 0 {
		return notFound
	}
	slices.Sort(names)
	return dataReply(http.StatusOK, map[string]any{"keys": names})
}

// handleKV1 serves a KV v1 mount: a write stores the request body as the
// secret, whatever it contains, so a KV v2 style {"data":…,"options":…}
// body lands as two keys and check-and-set never happens.
func (s *Server) handleKV1(m *mount, c call, p string) reply {
	switch c.op {
	case "read":
		doc, ok := m.v1[p]
		if !ok {
			return notFound
		}
		r := dataReply(http.StatusOK, doc)
		r.body.(map[string]any)["lease_duration"] = 2764800
		return r
	case "write":
		if c.body == nil {
			return errorReply(http.StatusBadRequest, "missing data fields")
		}
		doc, _ := json.Marshal(c.body)
		m.v1[p] = doc
		return noContent()
	case "delete":
		delete(m.v1, p)
		return noContent()
	case "list":
		var names []string
		prefix := p
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		for name := range m.v1 {
			rest, ok := strings.CutPrefix(name, prefix)
			if !ok {
				continue
			}
			if first, _, nested := strings.Cut(rest, "/"); nested {
				rest = first + "/"
			}
			if !slices.Contains(names, rest) {
				names = append(names, rest)
			}
		}
		return listReply(names)
	}
	return unsupported
}

func firstQuery(q map[string][]string, name string) string {
	if v := q[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// intOf converts a JSON number, or a string holding one, to an int, as
// Vault's weak decoding does.
func intOf(v any) (int, error) {
	switch v := v.(type) {
	case json.Number:
		n, err := strconv.Atoi(v.String())
		return n, err
	case string:
		return strconv.Atoi(v)
	case float64:
		return int(v), nil
	case int:
		return v, nil
	}
	return 0, fmt.Errorf("not a number")
}

// intsOf converts a JSON list of numbers, or a comma-separated string, to
// ints.
func intsOf(v any) ([]int, error) {
	switch v := v.(type) {
	case []any:
		out := make([]int, 0, len(v))
		for _, e := range v {
			n, err := intOf(e)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case string:
		var out []int
		for _, part := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case nil:
		return nil, nil
	}
	n, err := intOf(v)
	return []int{n}, err
}
