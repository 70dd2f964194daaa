package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/mail"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/rotorhq/rotor/window"
)

// Limits that Validate enforces.
const (
	// MinRotationPeriod is the shortest rotation_period Validate accepts.
	MinRotationPeriod = time.Hour

	// maxCAFileSize bounds persium.ca_file. Mozilla's whole root bundle is
	// about 250 KB.
	maxCAFileSize = 4 << 20
)

var (
	credentialID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	backendName  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	uuidText     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// Validate returns every problem with c, or nil when there is none. It
// checks values as they are, without applying defaults: call SetDefaults
// first on a Config built in code. It reads persium.ca_file when set. For a
// Config from Parse the problems carry the file name and lines.
func (c *Config) Validate() []Problem {
	v := &validator{c: c}
	v.persium()
	v.server()
	v.backends()
	v.channels()
	v.reminders()
	v.incidents()
	v.auth()
	v.tls()
	v.credentials()
	return v.problems
}

type validator struct {
	c        *Config
	problems []Problem
}

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{
		File:    v.c.file,
		Key:     key,
		Line:    v.c.lineOf(key),
		Message: fmt.Sprintf(format, args...),
	})
}

// lineOf returns the line of key, or of its nearest parent with a known
// line, such as the credential that lacks the key.
func (c *Config) lineOf(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if line, ok := c.lines[k]; ok {
			return line
		}
	}
	return 0
}

// itemWithLine formats an item for a message about a duplicate, with the
// line of key: "credentials[0] (line 14)". A Config built in code has no
// lines, so then it returns the item alone.
func (v *validator) itemWithLine(item, key string) string {
	if line := v.c.lineOf(key); line > 0 {
		return fmt.Sprintf("%s (line %d)", item, line)
	}
	return item
}

func (v *validator) persium() {
	p := v.c.Persium
	if p.TokenURL == "" && p.APIURL == "" && len(p.Hosts) == 0 {
		v.add("persium", "is required; add the persium section with token_url, api_url and hosts")
		return
	}

	hosts := v.hosts(p.Hosts)
	v.persiumURL("persium.token_url", p.TokenURL, "Persium's token endpoint", hosts)
	v.persiumURL("persium.api_url", p.APIURL, "Persium's API", hosts)

	if p.CAFile != "" {
		if msg := checkCAFile(p.CAFile); msg != "" {
			v.add("persium.ca_file", "%s", msg)
		}
	}
	if p.Timeout <= 0 {
		v.add("persium.timeout", "must be positive, such as 10s")
	}
}

// hosts validates persium.hosts and returns the valid names, normalized.
func (v *validator) hosts(hosts []string) []string {
	if len(hosts) == 0 {
		v.add("persium.hosts", "is required; list the host names Persium provisioned, such as [auth.persium.example, api.persium.example]")
		return nil
	}
	var valid []string
	for i, h := range hosts {
		if !validHostName(h) {
			v.add(fmt.Sprintf("persium.hosts[%d]", i), "%s is not a host name; list bare names such as auth.persium.example, without scheme, port or path", displayURL(h))
			continue
		}
		valid = append(valid, normalizeHost(h))
	}
	return valid
}

// persiumURL validates one of Persium's URLs, including that its host is
// one of hosts. An empty hosts skips that check, since hosts is then
// reported.
func (v *validator) persiumURL(key, raw, endpoint string, hosts []string) {
	if raw == "" {
		v.add(key, "is required; set it to the https:// URL of %s", endpoint)
		return
	}
	host, problems := checkURL(raw, endpoint, false)
	for _, msg := range problems {
		v.add(key, "%s", msg)
	}
	if host != "" && len(hosts) > 0 && !slices.Contains(hosts, host) {
		v.add(key, "host %s is not in persium.hosts; add it there if Persium provisioned it, or correct the URL", quote(host))
	}
}

// checkCAFile returns what is wrong with the PEM bundle at path, or "".
func checkCAFile(path string) string {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("%s does not exist; set ca_file to a PEM file of CA certificates, or remove it to trust the system's", quote(path))
	}
	if err != nil {
		return fmt.Sprintf("%s cannot be opened (%v)", quote(path), unwrapPathError(err))
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("%s cannot be read (%v)", quote(path), unwrapPathError(err))
	}
	if !info.Mode().IsRegular() {
		return fmt.Sprintf("%s is not a regular file; set ca_file to a PEM file of CA certificates", quote(path))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCAFileSize+1))
	if err != nil {
		return fmt.Sprintf("%s cannot be read (%v)", quote(path), unwrapPathError(err))
	}
	if len(data) > maxCAFileSize {
		return fmt.Sprintf("%s is larger than %d bytes; a CA bundle is far smaller, so check the path", quote(path), maxCAFileSize)
	}

	certs := 0
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return fmt.Sprintf("%s contains a private key; a CA bundle holds only certificates, so move the key out of this file", quote(path))
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Sprintf("%s: PEM block %d is not a valid certificate (%v)", quote(path), n, err)
		}
		certs++
	}
	if certs == 0 {
		return fmt.Sprintf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----); set ca_file to a PEM file of CA certificates", quote(path))
	}
	return ""
}

// unwrapPathError drops the path from an *fs.PathError, since the message
// already quotes it.
func unwrapPathError(err error) error {
	var perr *fs.PathError
	if errors.As(err, &perr) {
		return perr.Err
	}
	return err
}

func (v *validator) server() {
	s := v.c.Server

	if s.Addr == "" {
		v.add("server.addr", "is required; use host:port, such as %s", DefaultAddr)
	} else if host, port, err := net.SplitHostPort(s.Addr); err != nil {
		v.add("server.addr", "%s is not host:port; write it such as %s", quote(s.Addr), DefaultAddr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("server.addr", "port %s is not a number from 0 to 65535", quote(port))
	} else if !isLoopback(host) && !v.c.Auth.Enabled() {
		v.add("server.addr", "%s is not a loopback address; without the auth section rotor has no sign-in, so it listens only on 127.0.0.1, [::1] or localhost. Configure auth.oidc to serve on other addresses", quote(s.Addr))
	}

	if s.PublicURL != "" {
		_, problems := checkURL(s.PublicURL, "rotor's public URL", true)
		for _, msg := range problems {
			v.add("server.public_url", "%s", msg)
		}
	}

	switch s.TimeZone {
	case "":
		v.add("server.time_zone", "is required; use an IANA time zone name, such as UTC or Europe/Berlin")
	case "Local":
		v.add("server.time_zone", "\"Local\" depends on the machine rotor runs on; use an IANA time zone name, such as UTC or Europe/Berlin")
	default:
		// NOTE: LoadLocation needs a time zone database, the system's or
		// one embedded with time/tzdata. Without one every name but UTC
		// is reported as unknown.
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			v.add("server.time_zone", "%s is not a known time zone; use an IANA time zone name, such as UTC or Europe/Berlin", quote(s.TimeZone))
		}
	}
}

func (v *validator) backends() {
	if len(v.c.Backends) == 0 {
		v.add("backends", "is required; add at least one backend, such as a vault backend")
		return
	}

	names := make([]string, 0, len(v.c.Backends))
	for name := range v.c.Backends {
		names = append(names, name)
	}
	slices.Sort(names)

	for _, name := range names {
		b := v.c.Backends[name]
		key := "backends." + keySegment(name)
		if !backendName.MatchString(name) {
			v.add(key, "%s is not a valid backend name; use 1 to 63 lower-case letters, digits, - and _, starting with a letter or digit", quote(name))
		}
		if b.Name != "" && b.Name != name {
			v.add(key, "Name is %s but the map key is %s; they must be the same", quote(b.Name), quote(name))
		}

		switch b.Type {
		case BackendVault:
			v.vault(key+".vault", b.Vault)
		case BackendAWS:
			v.aws(key+".aws", b.AWS)
		case BackendGCP:
			v.gcp(key+".gcp", b.GCP)
		case BackendMemory:
		case "":
			v.add(key+".type", "is required; the supported types are %s", supportedBackends)
		default:
			v.add(key+".type", "unknown backend type %s; the supported types are %s", quote(b.Type), supportedBackends)
		}
		if b.Type != BackendVault && b.Vault != (VaultBackend{}) {
			v.add(key+".vault", "applies only to backends of type vault; remove it")
		}
		if b.Type != BackendAWS && b.AWS != (AWSBackend{}) {
			v.add(key+".aws", "applies only to backends of type aws; remove it")
		}
		if b.Type != BackendGCP && b.GCP != (GCPBackend{}) {
			v.add(key+".gcp", "applies only to backends of type gcp; remove it")
		}
	}
}

func (v *validator) vault(key string, vb VaultBackend) {
	if vb.Address != "" {
		_, problems := checkURL(vb.Address, "Vault's address", true)
		for _, msg := range problems {
			v.add(key+".address", "%s", msg)
		}
	}

	switch {
	case vb.Mount == "":
		v.add(key+".mount", "is required; name the KV version 2 mount, such as %s", DefaultVaultMount)
	case hasSpaceOrControl(vb.Mount):
		v.add(key+".mount", "%s contains a space or a control character; remove it", quote(vb.Mount))
	case strings.HasPrefix(vb.Mount, "/") || strings.HasSuffix(vb.Mount, "/"):
		v.add(key+".mount", "%s starts or ends with /; write the mount path without slashes at the ends, such as %s", quote(vb.Mount), DefaultVaultMount)
	}

	if hasSpaceOrControl(vb.Namespace) {
		v.add(key+".namespace", "%s contains a space or a control character; remove it", quote(vb.Namespace))
	}
	v.vaultAuth(key+".auth", vb.Auth)
}

func (v *validator) vaultAuth(key string, a VaultAuth) {
	notFor := func(field, value string) {
		if value != "" {
			v.add(key+"."+field, "applies only to another login method than %s; remove it", quote(a.Method))
		}
	}
	switch a.Method {
	case VaultAuthToken:
		notFor("mount", a.Mount)
		notFor("role_id", a.RoleID)
		notFor("secret_id_file", a.SecretIDFile)
		notFor("role", a.Role)
		notFor("jwt_file", a.JWTFile)
	case VaultAuthAppRole:
		if a.RoleID == "" {
			v.add(key+".role_id", "is required for approle; set it to the role's RoleID (the secret_id comes from secret_id_file or VAULT_SECRET_ID)")
		}
		notFor("role", a.Role)
		notFor("jwt_file", a.JWTFile)
	case VaultAuthKubernetes:
		if a.Role == "" {
			v.add(key+".role", "is required for kubernetes; set it to the Vault role rotor logs in as")
		}
		notFor("role_id", a.RoleID)
		notFor("secret_id_file", a.SecretIDFile)
	default:
		v.add(key+".method", "%s is not a Vault login method; use token (VAULT_TOKEN), approle or kubernetes", quote(a.Method))
	}
	for field, value := range map[string]string{"mount": a.Mount, "role_id": a.RoleID, "role": a.Role, "secret_id_file": a.SecretIDFile, "jwt_file": a.JWTFile} {
		if hasSpaceOrControl(value) {
			v.add(key+"."+field, "%s contains a space or a control character; remove it", quote(value))
		}
	}
}

// supportedBackends lists the backend types for messages.
const supportedBackends = "vault, aws, gcp and memory"

// awsLabel is a valid Secrets Manager staging label: 1 to 256 characters.
var awsLabel = regexp.MustCompile(`^[A-Za-z0-9_.+=@-]{1,256}$`)

func (v *validator) aws(key string, a AWSBackend) {
	if a.Region != "" && !regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`).MatchString(a.Region) {
		v.add(key+".region", "%s is not an AWS region name; write it such as eu-central-1, or leave it out to use AWS_REGION", quote(a.Region))
	}
	if a.Endpoint != "" {
		_, problems := checkURL(a.Endpoint, "the AWS endpoint", true)
		for _, msg := range problems {
			v.add(key+".endpoint", "%s", msg)
		}
	}
	switch {
	case !awsLabel.MatchString(a.PendingLabel):
		v.add(key+".pending_label", "%s is not a valid staging label; use 1 to 256 letters, digits and _ . + = @ -, such as %s", quote(a.PendingLabel), DefaultAWSPendingLabel)
	case a.PendingLabel == "AWSPENDING" || a.PendingLabel == "AWSCURRENT" || a.PendingLabel == "AWSPREVIOUS":
		v.add(key+".pending_label", "%s is reserved by AWS Secrets Manager; use a label of rotor's own, such as %s", quote(a.PendingLabel), DefaultAWSPendingLabel)
	}
}

// gcpSecret is a Secret Manager secret id or full secret name.
var gcpSecret = regexp.MustCompile(`^(projects/[a-z0-9-]{6,30}/secrets/)?[A-Za-z0-9_-]{1,255}$`)

// gcpProject is a valid Google Cloud project id.
var gcpProject = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)

func (v *validator) gcp(key string, g GCPBackend) {
	if g.Project != "" && !gcpProject.MatchString(g.Project) {
		v.add(key+".project", "%s is not a Google Cloud project id; use 6 to 30 lower-case letters, digits and -, starting with a letter", quote(g.Project))
	}
	if g.Endpoint != "" {
		if _, port, err := net.SplitHostPort(g.Endpoint); err != nil || port == "" {
			v.add(key+".endpoint", "%s is not host:port; write it such as secretmanager.europe-west3.rep.googleapis.com:443", quote(g.Endpoint))
		}
	}
}

func (v *validator) credentials() {
	if len(v.c.Credentials) == 0 {
		v.add("credentials", "is required; add at least one credential")
		return
	}

	ids := map[string]string{}     // id to the key of the first credential with it
	clients := map[string]string{} // client_id to the key of the first credential with it
	stores := map[string]string{}  // backend and path to the key of the first store with them
	for i, cred := range v.c.Credentials {
		key := fmt.Sprintf("credentials[%d]", i)
		v.credential(key, cred)

		if cred.ID != "" {
			if first, dup := ids[cred.ID]; dup {
				v.add(key+".id", "%s is already the id of %s; give each credential its own id", quote(cred.ID), v.itemWithLine(first, first+".id"))
			} else {
				ids[cred.ID] = key
			}
		}
		if cred.ClientID != "" {
			if first, dup := clients[cred.ClientID]; dup {
				v.add(key+".client_id", "%s is already the client_id of %s; rotate each Persium client through one credential only", quote(cred.ClientID), v.itemWithLine(first, first+".client_id"))
			} else {
				clients[cred.ClientID] = key
			}
		}
		if cred.Store.Backend != "" && cred.Store.Path != "" {
			location := cred.Store.Backend + "\x00" + cred.Store.Path
			if first, dup := stores[location]; dup {
				v.add(key+".store.path", "%s in backend %s is already the store of %s; give each credential a secret of its own", quote(cred.Store.Path), quote(cred.Store.Backend), v.itemWithLine(first, first+".store.path"))
			} else {
				stores[location] = key
			}
		}
	}
}

func (v *validator) credential(key string, c Credential) {
	switch {
	case c.ID == "":
		v.add(key+".id", "is required; use lower-case letters, digits and -, such as payments-eu")
	case !credentialID.MatchString(c.ID):
		v.add(key+".id", "%s is not a valid id; use 1 to 63 lower-case letters, digits and -, starting with a letter or digit", quote(c.ID))
	}

	if strings.TrimSpace(c.Organisation) == "" {
		v.add(key+".organisation", "is required; name the organisation this Persium client belongs to")
	}

	switch {
	case c.OrganisationID == "":
		v.add(key+".organisation_id", "is required; copy the organisation's UUID from Persium")
	case !uuidText.MatchString(c.OrganisationID):
		v.add(key+".organisation_id", "%s is not a UUID; copy the organisation's UUID from Persium, in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", quote(c.OrganisationID))
	}

	switch {
	case c.ClientID == "":
		v.add(key+".client_id", "is required; copy the client_id Persium issued")
	case hasSpaceOrControl(c.ClientID):
		v.add(key+".client_id", "%s contains a space or a control character; copy the client_id exactly as Persium issued it", quote(c.ClientID))
	}

	if c.AuthMethod != AuthBasic && c.AuthMethod != AuthPost {
		v.add(key+".auth_method", "%s is not an auth method; use basic (client_secret_basic) or post (client_secret_post)", quote(c.AuthMethod))
	}

	v.durations(key, c)
	v.store(key+".store", c.Store)

	for i, name := range c.Channels {
		if _, ok := v.c.Channels[name]; !ok {
			v.add(fmt.Sprintf("%s.channels[%d]", key, i), "%s is not a channel; define it under channels, or use one of: %s", quote(name), v.channelChoice())
		}
	}
	if c.Window != "" {
		if _, err := window.Parse(c.Window); err != nil {
			v.add(key+".window", "%v", err)
		}
	}
	if c.Reminders != nil {
		v.schedule(key+".reminders", *c.Reminders)
	}
	for i, d := range v.c.RemindersFor(c).Before {
		if c.RotationPeriod >= MinRotationPeriod && d >= c.RotationPeriod {
			k := fmt.Sprintf("reminders.before[%d]", i)
			if c.Reminders != nil {
				k = key + "." + k
			}
			v.add(k, "%s is not shorter than the rotation period %s of credential %s, so it would fall before the previous rotation; shorten it", formatDuration(d), formatDuration(c.RotationPeriod), c.ID)
		}
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.After(time.Now().Add(24*time.Hour)) {
		v.add(key+".issued_at", "%s is in the future; give the date Persium issued the secret in use", c.IssuedAt.Format("2006-01-02"))
	}
}

// channelChoice lists the configured channels for a message.
func (v *validator) channelChoice() string {
	names := slices.Sorted(maps.Keys(v.c.Channels))
	if len(names) == 0 {
		return "(no channels are configured)"
	}
	return strings.Join(names, ", ")
}

// envName is the name of an environment variable.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (v *validator) env(key, value, what string) {
	switch {
	case value == "":
		v.add(key, "is required; name the environment variable that holds %s, such as %s", what, exampleEnv[key[strings.LastIndex(key, ".")+1:]])
	case !envName.MatchString(value):
		v.add(key, "%s is not an environment variable name; name the variable that holds %s, not the value itself", quote(value), what)
	}
}

var exampleEnv = map[string]string{
	"password_env":      "ROTOR_SMTP_PASSWORD",
	"url_env":           "ROTOR_SLACK_WEBHOOK_URL",
	"signing_key_env":   "ROTOR_WEBHOOK_SIGNING_KEY",
	"client_secret_env": "ROTOR_OIDC_CLIENT_SECRET",
}

func (v *validator) channels() {
	for _, name := range slices.Sorted(maps.Keys(v.c.Channels)) {
		c := v.c.Channels[name]
		key := "channels." + keySegment(name)
		if !backendName.MatchString(name) {
			v.add(key, "%s is not a valid channel name; use 1 to 63 lower-case letters, digits, - and _, starting with a letter or digit", quote(name))
		}
		switch c.Type {
		case ChannelSMTP:
			v.smtp(key+".smtp", c.SMTP)
		case ChannelSlack:
			v.env(key+".slack.url_env", c.Slack.URLEnv, "the Slack incoming webhook URL")
		case ChannelWebhook:
			v.env(key+".webhook.url_env", c.Webhook.URLEnv, "the webhook URL")
			v.env(key+".webhook.signing_key_env", c.Webhook.SigningKeyEnv, "the key that signs each request")
		case "":
			v.add(key+".type", "is required; use smtp, slack or webhook")
		default:
			v.add(key+".type", "unknown channel type %s; use smtp, slack or webhook", quote(c.Type))
		}
	}
}

func (v *validator) smtp(key string, s SMTPChannel) {
	if _, port, err := net.SplitHostPort(s.Address); err != nil || port == "" {
		v.add(key+".address", "%s is not host:port; write it such as smtp.example.com:587", quote(s.Address))
	}
	if s.Username != "" || s.PasswordEnv != "" {
		if s.Username == "" {
			v.add(key+".username", "is required with password_env; set the SMTP user name")
		}
		v.env(key+".password_env", s.PasswordEnv, "the SMTP password")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		v.add(key+".from", "%s is not an e-mail address; write it such as rotor@example.com", quote(s.From))
	}
	if len(s.To) == 0 {
		v.add(key+".to", "is required; list at least one recipient")
	}
	for i, to := range s.To {
		if _, err := mail.ParseAddress(to); err != nil {
			v.add(fmt.Sprintf("%s.to[%d]", key, i), "%s is not an e-mail address; write it such as platform-team@example.com", quote(to))
		}
	}
}

func (v *validator) reminders() {
	r := v.c.Reminders
	if r.Before == nil && r.OverdueEvery == 0 {
		return // not set in code: SetDefaults fills in DefaultReminders
	}
	v.schedule("reminders", r)
}

func (v *validator) schedule(prefix string, r Reminders) {
	seen := map[time.Duration]bool{}
	for i, d := range r.Before {
		key := fmt.Sprintf("%s.before[%d]", prefix, i)
		switch {
		case d < 0:
			v.add(key, "%s is negative; list times before the due date, such as 14d, and 0d for the due date itself", formatDuration(d))
		case seen[d]:
			v.add(key, "%s appears twice; list each time once", formatDuration(d))
		}
		seen[d] = true
	}
	if r.OverdueEvery < time.Hour {
		v.add(prefix+".overdue_every", "%s is shorter than 1h; remind at most once an hour while overdue, such as 7d", formatDuration(r.OverdueEvery))
	}
}

func (v *validator) durations(key string, c Credential) {
	if c.RotationPeriod < MinRotationPeriod {
		v.add(key+".rotation_period", "%s is shorter than the minimum of %s; Persium's guidance is 90d", formatDuration(c.RotationPeriod), formatDuration(MinRotationPeriod))
	}

	switch {
	case c.MinDualActive < 0:
		v.add(key+".min_dual_active", "%s is negative; use 0s for no minimum", formatDuration(c.MinDualActive))
	case c.RotationPeriod >= MinRotationPeriod && c.MinDualActive >= c.RotationPeriod:
		v.add(key+".min_dual_active", "%s is not shorter than rotation_period %s; shorten it", formatDuration(c.MinDualActive), formatDuration(c.RotationPeriod))
	}

	switch {
	case c.Overlap < 0:
		v.add(key+".overlap", "%s is negative; leave overlap out when Persium declares none", formatDuration(c.Overlap))
	case c.Overlap > 0 && c.MinDualActive >= 0 && c.Overlap <= c.MinDualActive:
		v.add(key+".overlap", "%s is not longer than min_dual_active %s, so Persium would drop the old secret before rotor may retire it; shorten min_dual_active or ask Persium for a longer overlap",
			formatDuration(c.Overlap), formatDuration(c.MinDualActive))
	}
}

func (v *validator) store(key string, s Store) {
	backend, backendKnown := v.c.Backends[s.Backend]
	switch {
	case s.Backend == "":
		v.add(key+".backend", "is required; %s", v.backendChoice())
	case !backendKnown:
		v.add(key+".backend", "%s is not a backend; %s", quote(s.Backend), v.backendChoice())
	}
	isVault := backendKnown && backend.Type == BackendVault
	isGCP := backendKnown && backend.Type == BackendGCP

	switch {
	case s.Path == "":
		v.add(key+".path", "is required; set it to the secret's path or name in the backend")
	case hasSpaceOrControl(s.Path):
		v.add(key+".path", "%s contains a space or a control character; remove it", quote(s.Path))
	case isVault && !validVaultPath(s.Path):
		v.add(key+".path", "%s is not a Vault secret path; write it relative to the mount, without / at the ends, // or . and .. parts, such as persium/payments-eu", quote(s.Path))
	case isGCP && !gcpSecret.MatchString(s.Path):
		v.add(key+".path", "%s is not a Secret Manager secret; write its id (letters, digits, _ and -) or its full name projects/PROJECT/secrets/ID", quote(s.Path))
	case isGCP && backend.GCP.Project == "" && !strings.HasPrefix(s.Path, "projects/"):
		v.add(key+".path", "%s is a secret id, but backend %s names no project; set gcp.project or write the full name projects/PROJECT/secrets/%s", quote(s.Path), quote(s.Backend), s.Path)
	}

	switch {
	case s.Format != FormatPlain && s.Format != FormatJSON:
		v.add(key+".format", "%s is not a format; use json (a JSON object with the secret under json_key) or plain (the value is the secret)", quote(s.Format))
	case isVault && s.Format != FormatJSON:
		v.add(key+".format", "Vault stores each secret as a JSON object, so the format must be json; set json_key to the key that holds the secret")
	}

	switch {
	case s.Format == FormatJSON && s.JSONKey == "":
		v.add(key+".json_key", "is required with format json; name the key that holds the secret, such as %s", DefaultJSONKey)
	case s.Format == FormatPlain && s.JSONKey != "":
		v.add(key+".json_key", "applies only to format json; remove it or set format: json")
	}

	if s.Retire != RetireDisable && s.Retire != RetireDestroy {
		v.add(key+".retire", "%s is not a retire mode; use disable (an administrator can still recover the old secret) or destroy", quote(s.Retire))
	}
}

// backendChoice lists the configured backends for a message.
func (v *validator) backendChoice() string {
	if len(v.c.Backends) == 0 {
		return "define the backend under backends and name it here"
	}
	names := make([]string, 0, len(v.c.Backends))
	for name := range v.c.Backends {
		names = append(names, name)
	}
	slices.Sort(names)
	return "name one of the backends: " + strings.Join(names, ", ")
}

func validVaultPath(path string) bool {
	if strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") {
		return false
	}
	for _, part := range strings.Split(path, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}

// formatDuration writes d as the configuration would: whole days as "90d",
// and otherwise Go syntax without zero units ("90m", not "1h30m0s").
func formatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
