// Package config reads, defaults and validates rotor's YAML configuration:
// where Persium's endpoints are, which secrets-manager backends exist, and
// which credentials rotor rotates in which backend.
//
// The configuration never holds a secret. A key that looks like one
// (client_secret, password, token, vault_token and the like) is a problem
// wherever it appears, and no message quotes its value. Every problem names
// its key and, for a parsed file, its line. Load and Parse report all
// problems of a file at once rather than stopping at the first.
package config

import (
	"slices"
	"time"
)

// Defaults applied by Parse to keys the file leaves out, and by SetDefaults
// to zero-valued fields.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultAddr           = "127.0.0.1:8080"
	DefaultTimeZone       = "UTC"
	DefaultVaultMount     = "secret"
	DefaultAuthMethod     = AuthBasic
	DefaultRotationPeriod = 90 * 24 * time.Hour
	DefaultMinDualActive  = time.Hour
	DefaultJSONKey        = "client_secret"
	DefaultRetire         = RetireDisable
)

// Values of Backend.Type.
const (
	BackendVault  = "vault"
	BackendMemory = "memory"

	BackendAWS = "aws" // AWS Secrets Manager
	BackendGCP = "gcp" // Google Cloud Secret Manager
)

// Values of Credential.AuthMethod: how the client authenticates at the token
// endpoint.
const (
	AuthBasic = "basic" // client_secret_basic: HTTP Basic with form-encoded id and secret
	AuthPost  = "post"  // client_secret_post: id and secret in the form body
)

// Values of Store.Format.
const (
	FormatPlain = "plain" // the stored value is the secret itself
	FormatJSON  = "json"  // the stored value is a JSON object with the secret under JSONKey
)

// Values of Store.Retire. They match secretstore.RetireMode.
const (
	RetireDisable = "disable"
	RetireDestroy = "destroy"
)

// Config is rotor's whole configuration.
type Config struct {
	Persium     Persium
	Server      Server
	Backends    map[string]Backend // keyed by Backend.Name
	Channels    map[string]Channel // keyed by Channel.Name; optional
	Reminders   Reminders
	Incidents   Incidents
	Auth        Auth // optional: sign-in and roles
	Credentials []Credential

	// file and lines are set by Parse so that Validate can point each
	// problem at its line. A Config built in code has neither.
	file  string
	lines map[string]int
}

// Persium is the location of Persium's endpoints and the settings rotor
// uses to reach them.
type Persium struct {
	// TokenURL is the OAuth2 token endpoint, an https:// URL whose host is
	// in Hosts.
	TokenURL string

	// APIURL is the base URL of Persium's API, an https:// URL whose host
	// is in Hosts.
	APIURL string

	// Hosts are the host names Persium provisioned. Outbound traffic can be
	// limited to them.
	Hosts []string

	// CAFile is an optional PEM bundle of CA certificates to trust for
	// Persium instead of the system pool. Parse resolves a relative path
	// against the directory of the configuration file.
	CAFile string

	// Timeout bounds one request to Persium.
	Timeout time.Duration
}

// Server is the listen address of rotor's HTTP server and the time zone it
// shows times in.
type Server struct {
	Addr     string // host:port; port 0 picks a free port
	TimeZone string // IANA name used to show times; rotor stores times in UTC

	// PublicURL is the URL at which operators reach rotor, for the links
	// in reminders and the sign-in redirect. Empty means http:// and Addr.
	PublicURL string

	// TLS, when set, makes rotor serve HTTPS itself.
	TLS TLS
}

// Reminders is when rotor reminds the team of a due date.
type Reminders struct {
	// Before lists the times before the due date at which a reminder goes
	// out; 0 means on the due date.
	Before []time.Duration

	// OverdueEvery is the time between reminders once the due date passed.
	OverdueEvery time.Duration
}

// RemindersFor returns the reminder schedule of credential c.
func (cfg *Config) RemindersFor(c Credential) Reminders {
	if c.Reminders != nil {
		return *c.Reminders
	}
	return cfg.Reminders
}

// DefaultReminders are 14, 7 and 1 days before the due date, on it, and
// every 7 days while overdue.
var DefaultReminders = Reminders{
	Before:       []time.Duration{14 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour, 0},
	OverdueEvery: 7 * 24 * time.Hour,
}

// Values of Channel.Type.
const (
	ChannelSMTP    = "smtp"
	ChannelSlack   = "slack"
	ChannelWebhook = "webhook"
)

// Channel is one way to reach the team: e-mail, a Slack incoming webhook
// or a signed generic webhook. Its secrets (the SMTP password, the webhook
// URLs, the signing key) come from environment variables named here, never
// from the file.
type Channel struct {
	Name    string // the key in Config.Channels
	Type    string // ChannelSMTP, ChannelSlack or ChannelWebhook
	SMTP    SMTPChannel
	Slack   SlackChannel
	Webhook WebhookChannel
}

// SMTPChannel sends e-mail through an SMTP server with STARTTLS.
type SMTPChannel struct {
	Address     string   // host:port of the SMTP server, such as smtp.example.com:587
	Username    string   // for AUTH PLAIN; empty sends without authentication
	PasswordEnv string   // the environment variable that holds the password
	From        string   // the sender address
	To          []string // the recipients
}

// SlackChannel posts to a Slack incoming webhook.
type SlackChannel struct {
	URLEnv string // the environment variable that holds the webhook URL
}

// WebhookChannel posts a signed JSON body to a URL.
type WebhookChannel struct {
	URLEnv        string // the environment variable that holds the URL
	SigningKeyEnv string // the environment variable that holds the HMAC key
}

// Backend is one secrets manager that credentials store their secrets in.
type Backend struct {
	Name  string // the key in Config.Backends
	Type  string // BackendVault, BackendAWS, BackendGCP or BackendMemory
	Vault VaultBackend
	AWS   AWSBackend
	GCP   GCPBackend
}

// VaultBackend is the location of a HashiCorp Vault KV version 2 mount.
// rotor's own Vault credentials (a token, an AppRole secret_id) come from
// the environment or a file, never from the configuration.
type VaultBackend struct {
	// Address is Vault's URL. Empty means VAULT_ADDR at run time.
	Address string

	// Mount is the KV version 2 mount path, "secret" by default.
	Mount string

	// Namespace is the Vault Enterprise namespace. Empty means none.
	Namespace string

	// Auth is rotor's login method for Vault.
	Auth VaultAuth
}

// Values of VaultAuth.Method.
const (
	VaultAuthToken      = "token"      // VAULT_TOKEN from the environment
	VaultAuthAppRole    = "approle"    // role_id here, secret_id from a file or VAULT_SECRET_ID
	VaultAuthKubernetes = "kubernetes" // the pod's service-account token
)

// DefaultKubernetesJWTFile is the path at which Kubernetes mounts a pod's
// service-account token.
const DefaultKubernetesJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// VaultAuth is rotor's login method for Vault. The fields that do not
// apply to Method are empty.
type VaultAuth struct {
	Method string // VaultAuthToken (the default), VaultAuthAppRole or VaultAuthKubernetes

	// Mount is the auth method's mount path; empty means the method's name.
	Mount string

	RoleID       string // approle: the role's RoleID, which is not a secret
	SecretIDFile string // approle: a file that holds the secret_id; empty means VAULT_SECRET_ID

	Role    string // kubernetes: the Vault role to log in as
	JWTFile string // kubernetes: the service-account token file, DefaultKubernetesJWTFile by default
}

// DefaultAWSPendingLabel is the staging label rotor puts on a version it
// staged. It is rotor's own, so that AWS's rotation (AWSPENDING) and rotor
// never mistake each other's work.
const DefaultAWSPendingLabel = "ROTOR_PENDING"

// AWSBackend is rotor's connection to AWS Secrets Manager. Credentials come
// from the AWS default chain (environment, shared files, the instance or
// task role), never from the configuration.
type AWSBackend struct {
	// Region is the AWS region. Empty means the default chain's
	// (AWS_REGION, AWS_DEFAULT_REGION or the shared config file).
	Region string

	// Endpoint overrides the service endpoint, for a VPC endpoint. It must
	// be https:// unless it is on this machine.
	Endpoint string

	// PendingLabel is the staging label of a staged version,
	// DefaultAWSPendingLabel by default.
	PendingLabel string
}

// GCPBackend is rotor's connection to Google Cloud Secret Manager.
// Credentials come from Application Default Credentials, never from the
// configuration.
type GCPBackend struct {
	// Project is the project that holds the secrets. It may be empty when
	// every store path is a full name (projects/P/secrets/S).
	Project string

	// Endpoint overrides the service endpoint, host:port.
	Endpoint string
}

// Credential is one Persium client whose secret rotor rotates.
type Credential struct {
	ID             string // rotor's name for it: [a-z0-9][a-z0-9-]{0,62}, unique
	Organisation   string // the organisation's name, for people
	OrganisationID string // the organisation's UUID at Persium
	ClientID       string // the OAuth2 client_id, unique
	AuthMethod     string // AuthBasic or AuthPost

	// RotationPeriod is the time from one retirement to the next due date.
	RotationPeriod time.Duration

	// MinDualActive is the minimum time between promote and retire, so that
	// consumers that cache the secret pick up the new one. Zero means no
	// minimum.
	MinDualActive time.Duration

	// Overlap is how long Persium keeps the old secret valid after it
	// issues the new one. Zero means not declared. When set it must be
	// longer than MinDualActive.
	Overlap time.Duration

	// IssuedAt is when Persium issued the secret in use, for a credential
	// rotor has never rotated: its first due date is IssuedAt plus
	// RotationPeriod. Zero means when rotor first saw the credential.
	IssuedAt time.Time

	// Channels name the entries of Config.Channels that hear about this
	// credential's due dates and incidents.
	Channels []string

	// Window is the low-traffic window for promote and retire, such as
	// "Tue 02:00-04:00 Europe/London"; empty means none.
	Window string

	// FourEyes requires a second operator, other than the requester, to
	// approve retirement and a recorded force-revoke.
	FourEyes bool

	// Reminders overrides Config.Reminders for this credential; nil means
	// the global schedule.
	Reminders *Reminders

	Store Store
}

// Store is the location of a credential's secret in a backend.
type Store struct {
	Backend string // a key of Config.Backends
	Path    string // the secret's path or name in the backend
	Format  string // FormatPlain or FormatJSON; a Vault backend needs FormatJSON
	JSONKey string // the key that holds the secret; only with FormatJSON
	Retire  string // RetireDisable or RetireDestroy
}

// Credential returns the credential with the given id.
func (c *Config) Credential(id string) (Credential, bool) {
	for _, cred := range c.Credentials {
		if cred.ID == id {
			return cred, true
		}
	}
	return Credential{}, false
}

// SetDefaults fills every zero-valued field that has a default, for a
// Config built in code. It leaves MinDualActive and Overlap alone, because
// zero is a valid setting for both. Parse does not need it: it applies the
// defaults to the keys a file leaves out.
func (c *Config) SetDefaults() {
	if c.Reminders.Before == nil && c.Reminders.OverdueEvery == 0 {
		c.Reminders = Reminders{Before: slices.Clone(DefaultReminders.Before), OverdueEvery: DefaultReminders.OverdueEvery}
	}
	setIfZero(&c.Persium.Timeout, DefaultTimeout)
	setIfZero(&c.Incidents.RemindEvery, DefaultIncidentRemindEvery)
	setIfZero(&c.Server.Addr, DefaultAddr)
	setIfZero(&c.Server.TimeZone, DefaultTimeZone)
	c.Auth.setAuthDefaults("")

	for name, b := range c.Backends {
		setIfZero(&b.Name, name)
		if b.Type == BackendVault {
			setIfZero(&b.Vault.Mount, DefaultVaultMount)
		}
		c.Backends[name] = b
	}

	for i := range c.Credentials {
		cred := &c.Credentials[i]
		setIfZero(&cred.AuthMethod, DefaultAuthMethod)
		setIfZero(&cred.RotationPeriod, DefaultRotationPeriod)
		setIfZero(&cred.Store.Retire, DefaultRetire)
	}
	c.setStoreFormatDefaults()
}

// setStoreFormatDefaults fills Store.Format and Store.JSONKey, whose
// defaults depend on the backend type and the format.
func (c *Config) setStoreFormatDefaults() {
	for i := range c.Credentials {
		store := &c.Credentials[i].Store
		if store.Format == "" {
			store.Format = FormatPlain
			if b, ok := c.Backends[store.Backend]; ok && b.Type == BackendVault {
				store.Format = FormatJSON
			}
		}
		if store.Format == FormatJSON {
			setIfZero(&store.JSONKey, DefaultJSONKey)
		}
	}
}

func setIfZero[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}
