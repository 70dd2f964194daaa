package aws_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/rotorhq/rotor/internal/testlog"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	awsstore "github.com/rotorhq/rotor/secretstore/aws"
	"github.com/rotorhq/rotor/secretstore/aws/awsfake"
	"github.com/rotorhq/rotor/secretstore/storetest"
)

var (
	_ rotation.SecretStore         = (*awsstore.Store)(nil)
	_ rotation.DriftChecker        = (*awsstore.Store)(nil)
	_ storetest.FaultInjector      = (*harness)(nil)
	_ storetest.DocumentWriter     = (*harness)(nil)
	_ storetest.MissingSecret      = (*harness)(nil)
	_ storetest.RetireDestroyLimit = (*harness)(nil)
)

const (
	secretName = "persium/cred-a"
	jsonKey    = "client_secret"
	// jsonBase is the document a JSON-format secret starts from; the
	// harness puts the initial secret under jsonKey.
	jsonBase = `{"client_id": "client-a",  "client_secret":"", "token_url":"https://id.persium.example/realms/a/protocol/openid-connect/token","timeout":1.50}`
)

var (
	plain      = secretstore.Format{}
	jsonFormat = secretstore.Format{JSONKey: jsonKey}
)

// harness is an awsstore.Store on a fresh fake Secrets Manager, and the
// storetest hooks.
type harness struct {
	t      *testing.T
	fake   *awsfake.Server
	store  *awsstore.Store
	format secretstore.Format
	logs   *testlog.Buffer
}

// setup starts a fake whose secret holds initial in format: the whole
// SecretString for plain, or client_secret of jsonBase for JSON.
func setup(t *testing.T, initial secret.Value, format secretstore.Format) *harness {
	t.Helper()
	var base []byte
	if format.JSONKey != "" {
		base = []byte(jsonBase)
	}
	doc, err := format.Encode(base, initial)
	if err != nil {
		t.Fatalf("encode initial secret: %v", err)
	}
	fake := awsfake.New(t)
	if _, err := fake.Seed(secretName, string(doc)); err != nil {
		t.Fatalf("seed: %v", err)
	}
	h := &harness{t: t, fake: fake, format: format, logs: testlog.New(t)}
	h.store = h.newStore(fake.Client())
	return h
}

func (h *harness) newStore(client *secretsmanager.Client) *awsstore.Store {
	h.t.Helper()
	store, err := awsstore.New(client, awsstore.Config{
		SecretID: secretName,
		Format:   h.format,
		Logger:   slog.New(slog.NewTextHandler(h.logs, nil)),
	})
	if err != nil {
		h.t.Fatalf("awsstore.New: %v", err)
	}
	return store
}

func (h *harness) Store() rotation.SecretStore { return h.store }

// Versions reports a labelled version as enabled and a deprecated one as
// disabled: it keeps its value, but the store no longer reads it.
func (h *harness) Versions(context.Context) ([]storetest.StoredVersion, error) {
	versions, err := h.fake.Versions(secretName)
	if err != nil {
		return nil, err
	}
	out := make([]storetest.StoredVersion, 0, len(versions))
	for _, v := range versions {
		sv := storetest.StoredVersion{Version: secretstore.Version(v.ID), State: storetest.Enabled}
		if v.Deprecated() {
			sv.State = storetest.Disabled
		}
		// A document the format cannot read is listed without a value.
		sv.Value, _ = h.format.Decode([]byte(v.SecretString))
		out = append(out, sv)
	}
	return out, nil
}

// currentDoc returns the document of the AWSCURRENT version.
func (h *harness) currentDoc() []byte {
	h.t.Helper()
	id, ok := h.fake.Holder(secretName, awsfake.LabelCurrent)
	if !ok {
		h.t.Fatalf("no version carries AWSCURRENT")
	}
	return h.doc(id)
}

// doc returns the document of version id.
func (h *harness) doc(id string) []byte {
	h.t.Helper()
	versions, err := h.fake.Versions(secretName)
	if err != nil {
		h.t.Fatalf("versions: %v", err)
	}
	for _, v := range versions {
		if v.ID == id {
			return []byte(v.SecretString)
		}
	}
	h.t.Fatalf("secret has no version %s", id)
	return nil
}

func (h *harness) Write(_ context.Context, value secret.Value) error {
	doc, err := h.format.Encode(h.currentDoc(), value)
	if err != nil {
		return err
	}
	_, err = h.fake.Put(secretName, string(doc))
	return err
}

func (h *harness) StageExternal(_ context.Context, value secret.Value) (secretstore.Version, error) {
	doc, err := h.format.Encode(h.currentDoc(), value)
	if err != nil {
		return "", err
	}
	id, err := h.fake.PutPending(secretName, string(doc))
	return secretstore.Version(id), err
}

func (h *harness) Prune(_ context.Context, version secretstore.Version) error {
	return h.fake.Delete(secretName, string(version))
}

func (h *harness) SecretName() string { return secretName }

func fakeOps(op storetest.Op) string {
	if op == storetest.Write {
		return awsfake.WriteOps
	}
	return awsfake.ReadOps
}

func (h *harness) Deny(op storetest.Op) { h.fake.Deny(fakeOps(op)) }

func (h *harness) Throttle(op storetest.Op, n int) { h.fake.Throttle(fakeOps(op), n) }

func (h *harness) PendingFaults() int { return h.fake.PendingFaults() }

func (h *harness) Format() secretstore.Format { return h.format }

func (h *harness) WriteDocument(_ context.Context, doc []byte) error {
	_, err := h.fake.Put(secretName, string(doc))
	return err
}

func (h *harness) MissingStore(t *testing.T) (rotation.SecretStore, string) {
	t.Helper()
	store, err := awsstore.New(h.fake.Client(), awsstore.Config{SecretID: "persium/missing", Format: h.format})
	if err != nil {
		t.Fatalf("awsstore.New: %v", err)
	}
	return store, "persium/missing"
}

// RetireDestroyLeaves is Disabled: Secrets Manager cannot destroy one
// version, so the old value stays in deprecated versions until Secrets
// Manager deletes them.
func (h *harness) RetireDestroyLeaves() storetest.State { return storetest.Disabled }
