package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits on what Parse reads and reports.
const (
	// maxFileSize bounds the configuration file. A real one is a few
	// kilobytes.
	maxFileSize = 1 << 20

	// maxAliases bounds the aliases Parse follows.
	maxAliases = 1000

	// maxProblems bounds the problems Parse reports. A file with more is
	// probably not a rotor configuration at all.
	maxProblems = 200
)

// Load reads and parses the configuration file at path. It returns an error
// that wraps the read error when the file cannot be read, and Parse's
// *ProblemsError when the file has problems.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()

	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a YAML configuration, applies the defaults to the keys it
// leaves out and validates the result. name is the file name that problems
// carry, and relative file paths (persium.ca_file, auth.oidc.ca_file and
// the server's TLS files) are resolved against its directory.
// On any problem Parse returns a nil Config and a *ProblemsError that lists
// all of them, ordered by line. Beyond 200 problems the list ends with a
// count of the rest.
func Parse(name string, data []byte) (*Config, error) {
	d := &decoder{file: name, lines: map[string]int{}, failed: map[string]bool{}}

	cfg := d.decodeFile(data)
	if cfg == nil {
		return nil, &ProblemsError{Problems: d.sortedProblems()}
	}

	cfg.setStoreFormatDefaults()
	dir := ""
	if name != "" {
		dir = filepath.Dir(name)
	}
	for _, path := range []*string{&cfg.Persium.CAFile, &cfg.Server.TLS.CertFile, &cfg.Server.TLS.KeyFile} {
		if *path != "" && !filepath.IsAbs(*path) && dir != "" {
			*path = filepath.Join(dir, *path)
		}
	}
	cfg.Auth.setAuthDefaults(dir)
	cfg.file = name
	cfg.lines = d.lines

	// A value that could not be decoded was already reported. Validate
	// would find it empty and report it a second time as missing.
	for _, p := range cfg.Validate() {
		if !d.failedAt(p.Key) {
			d.add(p)
		}
	}
	if len(d.problems) > 0 {
		return nil, &ProblemsError{Problems: d.sortedProblems()}
	}
	return cfg, nil
}

// decoder walks the YAML node tree, collecting problems instead of stopping
// at the first.
type decoder struct {
	file     string
	problems []Problem
	dropped  int             // problems found beyond maxProblems
	aliases  int             // aliases followed
	lines    map[string]int  // key path to the line it is on
	failed   map[string]bool // key paths whose value could not be decoded
}

func (d *decoder) problem(key string, line int, format string, args ...any) {
	d.add(Problem{File: d.file, Key: key, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) add(p Problem) {
	if len(d.problems) >= maxProblems {
		d.dropped++
		return
	}
	d.problems = append(d.problems, p)
}

// fail records a problem with the value at key, so that Validate's findings
// at or below key are dropped.
func (d *decoder) fail(key string, line int, format string, args ...any) {
	d.failed[key] = true
	d.problem(key, line, format, args...)
}

func (d *decoder) failedAt(key string) bool {
	for k := key; k != ""; k = parentKey(k) {
		if d.failed[k] {
			return true
		}
	}
	return false
}

// sortedProblems returns the problems ordered by line, followed by a count
// of those beyond maxProblems.
func (d *decoder) sortedProblems() []Problem {
	slices.SortStableFunc(d.problems, func(a, b Problem) int { return a.Line - b.Line })
	if d.dropped > 0 {
		d.problems = append(d.problems, Problem{
			File:    d.file,
			Message: fmt.Sprintf("%d more problems are not shown; fix the ones above and check again", d.dropped),
		})
	}
	return d.problems
}

// decodeFile returns the decoded Config with Parse's defaults, or nil when
// the file is not a YAML mapping at all.
func (d *decoder) decodeFile(data []byte) *Config {
	if len(data) > maxFileSize {
		d.problem("", 0, "the file is larger than %d bytes; a configuration is a few kilobytes, so check that this is the right file", maxFileSize)
		return nil
	}

	root, ok := d.parseYAML(data)
	if !ok {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d.problem("", root.Line, "the file must be a YAML mapping with the keys persium, server, backends and credentials")
		return nil
	}

	cfg := &Config{
		Persium:   Persium{Timeout: DefaultTimeout},
		Server:    Server{Addr: DefaultAddr, TimeZone: DefaultTimeZone},
		Incidents: Incidents{RemindEvery: DefaultIncidentRemindEvery},
	}
	d.mapping("", root,
		field{"persium", func(key string, n *yaml.Node) { d.persium(key, n, &cfg.Persium) }},
		field{"server", func(key string, n *yaml.Node) { d.server(key, n, &cfg.Server) }},
		field{"backends", func(key string, n *yaml.Node) { cfg.Backends = d.backends(key, n) }},
		field{"channels", func(key string, n *yaml.Node) { cfg.Channels = d.channels(key, n) }},
		field{"reminders", func(key string, n *yaml.Node) { cfg.Reminders = d.reminders(key, n) }},
		field{"incidents", func(key string, n *yaml.Node) { d.incidents(key, n, &cfg.Incidents) }},
		field{"auth", func(key string, n *yaml.Node) { d.auth(key, n, &cfg.Auth) }},
		field{"credentials", func(key string, n *yaml.Node) { cfg.Credentials = d.credentials(key, n) }},
	)
	if cfg.Reminders.Before == nil {
		cfg.Reminders = Reminders{Before: slices.Clone(DefaultReminders.Before), OverdueEvery: DefaultReminders.OverdueEvery}
	}
	return cfg
}

// yamlLine finds the line number in a yaml.v3 error message.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErrorLine returns the 1-based line of a YAML syntax error and its
// message without the "yaml: line N:" prefix. The messages name a position
// and a token kind, never the text around it, so they are safe to show.
//
// go.yaml.in/yaml/v3 v3.0.6 counts lines from 1 in scanner errors but from
// 0 in parser errors (those in yamlParserErrors), and leaves the line out
// when its count is 0.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(msg, m[0])
	}
	msg = strings.TrimPrefix(msg, "yaml: ")

	switch {
	case yamlParserErrors[msg]:
		line++
	case line == 0 && (strings.HasPrefix(msg, "found ") || strings.HasPrefix(msg, "did not find expected ")):
		// A scanner error on the first line.
		line = 1
	}
	return line, msg
}

// yamlParserErrors are the messages of go.yaml.in/yaml/v3's parser, as
// opposed to its scanner.
var yamlParserErrors = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// parseYAML returns the root node of the single YAML document in data.
func (d *decoder) parseYAML(data []byte) (root *yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decodeNode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.problem("", 0, "the file is empty; see examples/rotor.yaml for a complete configuration")
			return nil, false
		}
		line, msg := yamlErrorLine(err)
		d.problem("", line, "invalid YAML: %s", msg)
		return nil, false
	}

	var next yaml.Node
	if err := decodeNode(dec, &next); !errors.Is(err, io.EOF) {
		d.problem("", next.Line, "the file holds more than one YAML document; keep the whole configuration in one document")
		return nil, false
	}

	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.problem("", 0, "the file is empty; see examples/rotor.yaml for a complete configuration")
		return nil, false
	}
	return doc.Content[0], true
}

// decodeNode turns a panic inside the YAML library into an error, so a
// malformed file is reported as a problem rather than crashing rotor.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the parser stopped on malformed input")
		}
	}()
	return dec.Decode(n)
}

// field is a known key of a mapping and the function that decodes its
// value. The function receives the key's path.
type field struct {
	name   string
	decode func(key string, value *yaml.Node)
}

// mapping decodes the known fields of a YAML mapping at path and reports
// unknown, duplicate and secret-looking keys. A null value counts as absent.
func (d *decoder) mapping(path string, n *yaml.Node, fields ...field) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "must be a mapping of keys to values, not %s", describe(n))
		return
	}

	names := make([]string, len(fields))
	index := make(map[string]int, len(fields))
	for i, f := range fields {
		names[i] = f.name
		index[f.name] = i
	}

	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode, value := n.Content[i], n.Content[i+1]
		name, ok := d.keyName(path, keyNode)
		if !ok {
			continue
		}
		key := joinKey(path, keySegment(name))
		if first, dup := seen[name]; dup {
			d.problem(key, keyNode.Line, "appears twice in this mapping (first on line %d); remove one of them", first)
			continue
		}
		seen[name] = keyNode.Line

		if looksSecret(name) {
			d.problem(key, keyNode.Line, "%s", secretKeyAdvice(key))
			continue
		}
		fieldIndex, known := index[name]
		if !known {
			d.problem(key, keyNode.Line, "unknown key%s", suggestKey(name, names))
			d.scanSecrets(key, value)
			continue
		}
		d.lines[key] = keyNode.Line
		fields[fieldIndex].decode(key, value)
	}
}

// keyName returns the text of a mapping key, or reports a key that is not a
// plain name.
func (d *decoder) keyName(path string, keyNode *yaml.Node) (string, bool) {
	switch {
	case keyNode.Kind == yaml.ScalarNode && keyNode.Tag == "!!merge":
		d.problem(path, keyNode.Line, "merge keys (<<) are not supported; write the keys out in full")
		return "", false
	case keyNode.Kind != yaml.ScalarNode || isNull(keyNode):
		d.problem(path, keyNode.Line, "has a key that is not a plain name; keys are words such as token_url")
		return "", false
	}
	return keyNode.Value, true
}

// scanSecrets reports every secret-looking key under a value that is not
// decoded, such as the value of an unknown key. It does not follow aliases,
// since each anchored value is scanned where it is defined.
func (d *decoder) scanSecrets(path string, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			keyNode, value := n.Content[i], n.Content[i+1]
			if keyNode.Kind != yaml.ScalarNode {
				continue
			}
			key := joinKey(path, keySegment(keyNode.Value))
			if looksSecret(keyNode.Value) {
				d.problem(key, keyNode.Line, "%s", secretKeyAdvice(key))
				continue
			}
			d.scanSecrets(key, value)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			d.scanSecrets(fmt.Sprintf("%s[%d]", path, i), item)
		}
	}
}

const secretKeyMessage = "looks like a secret, and rotor's configuration never holds secrets; " +
	"keep the client secret in the secrets manager, and give rotor its own credentials (such as VAULT_TOKEN) in the environment"

// secretKeyAdvice returns the message for a secret-looking key: under
// channels it points at the *_env keys that name environment variables,
// and under a Vault login at secret_id_file.
func secretKeyAdvice(key string) string {
	switch {
	case strings.HasPrefix(key, "channels."):
		return "looks like a secret, and rotor's configuration never holds secrets; " +
			"put it in an environment variable and name the variable with password_env, url_env or signing_key_env"
	case strings.Contains(key, ".vault.auth."):
		return "looks like a secret, and rotor's configuration never holds secrets; " +
			"put the AppRole secret_id in a file named by secret_id_file, or in VAULT_SECRET_ID"
	}
	return secretKeyMessage
}

// secretWords are key names, and suffixes after an underscore, that mark a
// secret.
var secretWords = []string{"secret", "password", "passwd", "token", "secret_id", "api_key", "apikey", "private_key"}

func looksSecret(key string) bool {
	k := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	for _, w := range secretWords {
		if k == w || strings.HasSuffix(k, "_"+w) {
			return true
		}
	}
	return false
}

func (d *decoder) persium(path string, n *yaml.Node, p *Persium) {
	d.mapping(path, n,
		field{"token_url", func(key string, v *yaml.Node) { d.str(key, v, &p.TokenURL) }},
		field{"api_url", func(key string, v *yaml.Node) { d.str(key, v, &p.APIURL) }},
		field{"hosts", func(key string, v *yaml.Node) { d.strs(key, v, &p.Hosts) }},
		field{"ca_file", func(key string, v *yaml.Node) { d.str(key, v, &p.CAFile) }},
		field{"timeout", func(key string, v *yaml.Node) { d.duration(key, v, &p.Timeout) }},
	)
}

func (d *decoder) server(path string, n *yaml.Node, s *Server) {
	d.mapping(path, n,
		field{"addr", func(key string, v *yaml.Node) { d.str(key, v, &s.Addr) }},
		field{"time_zone", func(key string, v *yaml.Node) { d.str(key, v, &s.TimeZone) }},
		field{"public_url", func(key string, v *yaml.Node) { d.str(key, v, &s.PublicURL) }},
		field{"tls_cert_file", func(key string, v *yaml.Node) { d.str(key, v, &s.TLS.CertFile) }},
		field{"tls_key_file", func(key string, v *yaml.Node) { d.str(key, v, &s.TLS.KeyFile) }},
	)
}

func (d *decoder) channels(path string, n *yaml.Node) map[string]Channel {
	channels := map[string]Channel{}
	if !d.named(path, "channel", n, func(key, name string, v *yaml.Node) {
		c := Channel{Name: name}
		d.mapping(key, v,
			field{"type", func(key string, v *yaml.Node) { d.str(key, v, &c.Type) }},
			field{"smtp", func(key string, v *yaml.Node) {
				d.mapping(key, v,
					field{"address", func(key string, v *yaml.Node) { d.str(key, v, &c.SMTP.Address) }},
					field{"username", func(key string, v *yaml.Node) { d.str(key, v, &c.SMTP.Username) }},
					field{"password_env", func(key string, v *yaml.Node) { d.str(key, v, &c.SMTP.PasswordEnv) }},
					field{"from", func(key string, v *yaml.Node) { d.str(key, v, &c.SMTP.From) }},
					field{"to", func(key string, v *yaml.Node) { d.strs(key, v, &c.SMTP.To) }},
				)
			}},
			field{"slack", func(key string, v *yaml.Node) {
				d.mapping(key, v, field{"url_env", func(key string, v *yaml.Node) { d.str(key, v, &c.Slack.URLEnv) }})
			}},
			field{"webhook", func(key string, v *yaml.Node) {
				d.mapping(key, v,
					field{"url_env", func(key string, v *yaml.Node) { d.str(key, v, &c.Webhook.URLEnv) }},
					field{"signing_key_env", func(key string, v *yaml.Node) { d.str(key, v, &c.Webhook.SigningKeyEnv) }},
				)
			}},
		)
		channels[name] = c
	}) {
		return nil
	}
	return channels
}

// reminders decodes a reminder schedule; keys the file leaves out take
// DefaultReminders' values.
func (d *decoder) reminders(path string, n *yaml.Node) Reminders {
	r := Reminders{OverdueEvery: DefaultReminders.OverdueEvery}
	d.mapping(path, n,
		field{"before", func(key string, n *yaml.Node) { d.durations(key, n, &r.Before) }},
		field{"overdue_every", func(key string, n *yaml.Node) { d.duration(key, n, &r.OverdueEvery) }},
	)
	if r.Before == nil {
		r.Before = slices.Clone(DefaultReminders.Before)
	}
	return r
}

// durations decodes a list of durations.
func (d *decoder) durations(key string, n *yaml.Node, dst *[]time.Duration) {
	n = d.resolve(n)
	if isNull(n) {
		*dst = []time.Duration{}
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(key, n.Line, "must be a list of durations, such as [14d, 7d, 1d, 0d], not %s", describe(n))
		return
	}
	out := []time.Duration{}
	for i, item := range n.Content {
		itemKey := fmt.Sprintf("%s[%d]", key, i)
		d.lines[itemKey] = item.Line
		var v time.Duration
		d.duration(itemKey, item, &v)
		out = append(out, v)
	}
	*dst = out
}

// date decodes a date (2026-10-01) or an RFC 3339 time into dst, in UTC.
func (d *decoder) date(key string, n *yaml.Node, dst *time.Time) {
	var s string
	d.str(key, n, &s)
	if s == "" {
		return
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			*dst = t.UTC()
			return
		}
	}
	d.fail(key, n.Line, "%s is not a date; write it as 2026-10-01 or 2026-10-01T09:00:00Z", quote(s))
}

func (d *decoder) backends(path string, n *yaml.Node) map[string]Backend {
	backends := map[string]Backend{}
	if !d.named(path, "backend", n, func(key, name string, v *yaml.Node) {
		backends[name] = d.backend(key, name, v)
	}) {
		return nil
	}
	return backends
}

// named decodes a mapping from names to entries, such as the backends or
// the channels, calling entry for each name. Each name is a field of its
// own, so that mapping reports duplicate and secret-looking names like any
// other key. It returns false when n is null or not a mapping.
func (d *decoder) named(path, what string, n *yaml.Node, entry func(key, name string, v *yaml.Node)) bool {
	n = d.resolve(n)
	if isNull(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "must be a mapping from %s names to %ss, not %s", what, what, describe(n))
		return false
	}
	var fields []field
	listed := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		if n.Content[i].Kind != yaml.ScalarNode || listed[name] {
			continue
		}
		listed[name] = true
		fields = append(fields, field{name, func(key string, v *yaml.Node) { entry(key, name, v) }})
	}
	d.mapping(path, n, fields...)
	return true
}

func (d *decoder) backend(path, name string, n *yaml.Node) Backend {
	b := Backend{Name: name}
	d.mapping(path, n,
		field{"type", func(key string, v *yaml.Node) { d.str(key, v, &b.Type) }},
		field{"vault", func(key string, v *yaml.Node) { d.vault(key, v, &b.Vault) }},
		field{"aws", func(key string, v *yaml.Node) { d.aws(key, v, &b.AWS) }},
		field{"gcp", func(key string, v *yaml.Node) { d.gcp(key, v, &b.GCP) }},
	)
	switch b.Type {
	case BackendVault:
		setIfZero(&b.Vault.Mount, DefaultVaultMount)
		setIfZero(&b.Vault.Auth.Method, VaultAuthToken)
		switch b.Vault.Auth.Method {
		case VaultAuthAppRole:
			setIfZero(&b.Vault.Auth.Mount, "approle")
		case VaultAuthKubernetes:
			setIfZero(&b.Vault.Auth.Mount, "kubernetes")
			setIfZero(&b.Vault.Auth.JWTFile, DefaultKubernetesJWTFile)
		}
	case BackendAWS:
		setIfZero(&b.AWS.PendingLabel, DefaultAWSPendingLabel)
	}
	return b
}

func (d *decoder) aws(path string, n *yaml.Node, a *AWSBackend) {
	d.mapping(path, n,
		field{"region", func(key string, n *yaml.Node) { d.str(key, n, &a.Region) }},
		field{"endpoint", func(key string, n *yaml.Node) { d.str(key, n, &a.Endpoint) }},
		field{"pending_label", func(key string, n *yaml.Node) { d.str(key, n, &a.PendingLabel) }},
	)
}

func (d *decoder) gcp(path string, n *yaml.Node, g *GCPBackend) {
	d.mapping(path, n,
		field{"project", func(key string, n *yaml.Node) { d.str(key, n, &g.Project) }},
		field{"endpoint", func(key string, n *yaml.Node) { d.str(key, n, &g.Endpoint) }},
	)
}

func (d *decoder) vaultAuth(path string, n *yaml.Node, a *VaultAuth) {
	d.mapping(path, n,
		field{"method", func(key string, n *yaml.Node) { d.str(key, n, &a.Method) }},
		field{"mount", func(key string, n *yaml.Node) { d.str(key, n, &a.Mount) }},
		field{"role_id", func(key string, n *yaml.Node) { d.str(key, n, &a.RoleID) }},
		field{"secret_id_file", func(key string, n *yaml.Node) { d.str(key, n, &a.SecretIDFile) }},
		field{"role", func(key string, n *yaml.Node) { d.str(key, n, &a.Role) }},
		field{"jwt_file", func(key string, n *yaml.Node) { d.str(key, n, &a.JWTFile) }},
	)
}

func (d *decoder) vault(path string, n *yaml.Node, v *VaultBackend) {
	d.mapping(path, n,
		field{"address", func(key string, n *yaml.Node) { d.str(key, n, &v.Address) }},
		field{"mount", func(key string, n *yaml.Node) { d.str(key, n, &v.Mount) }},
		field{"namespace", func(key string, n *yaml.Node) { d.str(key, n, &v.Namespace) }},
		field{"auth", func(key string, n *yaml.Node) { d.vaultAuth(key, n, &v.Auth) }},
	)
}

func (d *decoder) credentials(path string, n *yaml.Node) []Credential {
	n = d.resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n.Line, "must be a list of credentials (each item starting with \"- id:\"), not %s", describe(n))
		return nil
	}

	creds := make([]Credential, len(n.Content))
	for i, item := range n.Content {
		key := fmt.Sprintf("%s[%d]", path, i)
		d.lines[key] = item.Line
		creds[i] = d.credential(key, item)
	}
	return creds
}

func (d *decoder) credential(path string, n *yaml.Node) Credential {
	c := Credential{
		AuthMethod:     DefaultAuthMethod,
		RotationPeriod: DefaultRotationPeriod,
		MinDualActive:  DefaultMinDualActive,
		Store:          Store{Retire: DefaultRetire},
	}
	d.mapping(path, n,
		field{"id", func(key string, v *yaml.Node) { d.str(key, v, &c.ID) }},
		field{"organisation", func(key string, v *yaml.Node) { d.str(key, v, &c.Organisation) }},
		field{"organisation_id", func(key string, v *yaml.Node) { d.str(key, v, &c.OrganisationID) }},
		field{"client_id", func(key string, v *yaml.Node) { d.str(key, v, &c.ClientID) }},
		field{"auth_method", func(key string, v *yaml.Node) { d.str(key, v, &c.AuthMethod) }},
		field{"rotation_period", func(key string, v *yaml.Node) { d.duration(key, v, &c.RotationPeriod) }},
		field{"min_dual_active", func(key string, v *yaml.Node) { d.duration(key, v, &c.MinDualActive) }},
		field{"overlap", func(key string, v *yaml.Node) { d.duration(key, v, &c.Overlap) }},
		field{"issued_at", func(key string, v *yaml.Node) { d.date(key, v, &c.IssuedAt) }},
		field{"channels", func(key string, v *yaml.Node) { d.strs(key, v, &c.Channels) }},
		field{"window", func(key string, v *yaml.Node) { d.str(key, v, &c.Window) }},
		field{"four_eyes", func(key string, v *yaml.Node) { d.boolean(key, v, &c.FourEyes) }},
		field{"reminders", func(key string, v *yaml.Node) {
			r := d.reminders(key, v)
			c.Reminders = &r
		}},
		field{"store", func(key string, v *yaml.Node) { d.store(key, v, &c.Store) }},
	)
	return c
}

func (d *decoder) store(path string, n *yaml.Node, s *Store) {
	d.mapping(path, n,
		field{"backend", func(key string, v *yaml.Node) { d.str(key, v, &s.Backend) }},
		field{"path", func(key string, v *yaml.Node) { d.str(key, v, &s.Path) }},
		field{"format", func(key string, v *yaml.Node) { d.str(key, v, &s.Format) }},
		field{"json_key", func(key string, v *yaml.Node) { d.str(key, v, &s.JSONKey) }},
		field{"retire", func(key string, v *yaml.Node) { d.str(key, v, &s.Retire) }},
	)
}

// str decodes a scalar into dst. A null value leaves dst as it is.
func (d *decoder) str(key string, n *yaml.Node, dst *string) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(key, n.Line, "must be a single value, not %s", describe(n))
		return
	}
	*dst = n.Value
}

// boolean decodes true or false into dst. A null value leaves dst as it
// is; YAML 1.1 spellings such as yes and on are rejected, because YAML 1.2
// reads them as strings and a reader could take either meaning.
func (d *decoder) boolean(key string, n *yaml.Node, dst *bool) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(key, n.Line, "must be true or false, not %s", describe(n))
		return
	}
	if n.Value != "true" && n.Value != "false" {
		d.fail(key, n.Line, "must be true or false, not %s", quote(n.Value))
		return
	}
	*dst = n.Value == "true"
}

// strs decodes a sequence of scalars into dst.
func (d *decoder) strs(key string, n *yaml.Node, dst *[]string) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(key, n.Line, "must be a list in brackets, such as [first, second], not %s", describe(n))
		return
	}
	for i, item := range n.Content {
		itemKey := fmt.Sprintf("%s[%d]", key, i)
		d.lines[itemKey] = item.Line
		var s string
		d.str(itemKey, item, &s)
		*dst = append(*dst, s)
	}
}

// duration decodes a duration in Go syntax (36h, 90m) or whole days (90d).
// A null value leaves dst as it is.
func (d *decoder) duration(key string, n *yaml.Node, dst *time.Duration) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(key, n.Line, "must be a duration such as 36h, 90m or 90d, not %s", describe(n))
		return
	}
	v, ok := parseDuration(n.Value)
	if !ok {
		d.fail(key, n.Line, "%s is not a duration; write Go syntax such as 36h or 90m, or whole days such as 90d", quote(n.Value))
		return
	}
	*dst = v
}

var wholeDays = regexp.MustCompile(`^([0-9]+)d$`)

// parseDuration accepts time.ParseDuration's syntax and whole days ("90d").
func parseDuration(s string) (time.Duration, bool) {
	if m := wholeDays.FindStringSubmatch(s); m != nil {
		days, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || days > int64(1<<63-1)/int64(24*time.Hour) {
			return 0, false
		}
		return time.Duration(days) * 24 * time.Hour, true
	}
	v, err := time.ParseDuration(s)
	return v, err == nil
}

// resolve follows an alias to the value it names. After maxAliases it
// reports the file and treats every further alias as absent, because each
// alias decodes its whole value again.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	if n == nil || n.Kind != yaml.AliasNode || n.Alias == nil {
		return n
	}
	d.aliases++
	if d.aliases == maxAliases+1 {
		d.problem("", n.Line, "the file uses more than %d aliases (*name); write the values out", maxAliases)
	}
	if d.aliases > maxAliases {
		return nil
	}
	return n.Alias
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names the kind of a YAML value for a message, without its text.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a single value"
	}
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// keySegment returns a key name as it appears in a problem's key path:
// as it is when it is a plain word, and quoted otherwise, so that a key
// with a line break or a dot cannot garble the output.
func keySegment(name string) string {
	if plainKey.MatchString(name) {
		return name
	}
	return quote(name)
}

// parentKey returns the key path one level up: "a.b[1]" for "a.b[1].c", "a.b"
// for "a.b[1]", and "" at the top.
func parentKey(key string) string {
	if i := strings.LastIndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return ""
}

// suggestKey returns ", did you mean X?" for a close known key, or a list of
// the known keys.
func suggestKey(name string, known []string) string {
	if len(known) == 0 {
		return ""
	}
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(strings.ToLower(name), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %s?", best)
	}
	return "; the keys here are " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// quote returns s quoted for a message, cut to 200 bytes so that a pasted
// blob does not flood the output.
func quote(s string) string {
	const limit = 200
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}
