package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/api"
	testcanary "github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/pgtest"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// acceptCanaries plays a token endpoint that accepts the current canary
// and the second one, so a rotation reaches the stage step with
// testcanary.Second as its new secret.
type acceptCanaries struct{}

func (acceptCanaries) Check(_ context.Context, _ string, _ tokencheck.AuthMethod, s secret.Value) tokencheck.Result {
	if s.Equal(testcanary.Value) || s.Equal(testcanary.Second) {
		return tokencheck.Result{Outcome: tokencheck.Accepted, Status: http.StatusOK}
	}
	return tokencheck.Result{Outcome: tokencheck.Rejected, Status: http.StatusUnauthorized, Detail: "401 invalid_client"}
}

// badStage is a secrets manager whose Stage breaks the backend contract
// with the value it was given: stage returns the error it builds from the
// value, or panics with it when stage is nil.
type badStage struct {
	*memory.Store
	stage func(v secret.Value) error
}

func (b badStage) Stage(ctx context.Context, rotationID string, v secret.Value) (secretstore.Versions, error) {
	if b.stage == nil {
		panic("stage rotation " + rotationID + " with value " + v.Reveal())
	}
	return secretstore.Versions{}, b.stage(v)
}

// leakFixture serves rotor with cred-a in the bad secrets manager.
type leakFixture struct {
	url    string
	logs   *testlog.Buffer
	client *http.Client
}

func setupLeak(t *testing.T, stage func(v secret.Value) error) *leakFixture {
	t.Helper()
	clock := storetest.NewClock()
	logs := testlog.New(t)
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	store := pgstore.New(pgtest.NewPool(t), clock.Now)
	if err := store.SyncCredentials(context.Background(), []rotation.Credential{storetest.Credential("cred-a")}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}
	backend := badStage{Store: memory.New(testcanary.Value, secretstore.Format{JSONKey: "client_secret"}), stage: stage}
	svc := rotation.NewService(rotation.Options{
		Store: store, Secrets: map[string]rotation.SecretStore{"cred-a": backend}, Checker: acceptCanaries{}, Now: clock.Now, Logger: log,
	})
	srv, err := api.New(api.Options{Service: svc, Auth: roleHeader{}, Logger: log, Now: clock.Now})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	client := hs.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &leakFixture{url: hs.URL, logs: logs, client: client}
}

// send sends a request as an operator and returns the status and body.
func (f *leakFixture) send(t *testing.T, path, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.Header.Set("X-Test-Role", "operator")
	req.Header.Set("Content-Type", contentType)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of POST %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// requestRotation opens a rotation of cred-a and returns its id.
func (f *leakFixture) requestRotation(t *testing.T) string {
	t.Helper()
	status, body := f.send(t, "/api/v1/credentials/cred-a/rotations", "application/json", `{"kind":"manual","reason":"leak test"}`)
	var r struct{ ID string }
	if err := json.Unmarshal([]byte(body), &r); status != http.StatusCreated || err != nil || r.ID == "" {
		t.Fatalf("request rotation: %d %s", status, body)
	}
	return r.ID
}

// pasteSecret posts the second canary as the new secret of rotation id,
// through the JSON API or the UI's form.
func (f *leakFixture) pasteSecret(t *testing.T, id string, viaUI bool) (int, string) {
	t.Helper()
	if viaUI {
		form := url.Values{"secret": {testcanary.Second.Reveal()}}.Encode()
		return f.send(t, "/rotations/"+id+"/issued", "application/x-www-form-urlencoded", form)
	}
	body, err := json.Marshal(map[string]string{"secret": testcanary.Second.Reveal()})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return f.send(t, "/api/v1/rotations/"+id+"/issued", "application/json", string(body))
}

// A panic whose value contains the pasted secret is logged through rotor's
// logger, with the request id the client receives. Neither the log nor the
// response contains the secret.
func TestPanicInHandlerLeaksNoSecret(t *testing.T) {
	t.Parallel()
	for _, surface := range []string{"JSON API", "UI"} {
		t.Run(surface, func(t *testing.T) {
			t.Parallel()
			f := setupLeak(t, nil)
			id := f.requestRotation(t)

			status, body := f.pasteSecret(t, id, surface == "UI")
			if status != http.StatusInternalServerError {
				t.Errorf("status after a panic = %d, want 500; body %s", status, body)
			}
			testcanary.Check(t, "the response to a request that panicked", body)

			logs := f.logs.String()
			testcanary.Check(t, "the log of a request that panicked", logs)
			panicked := logRecord(t, logs, "request panicked")
			if panicked == nil {
				t.Fatalf("no log record of the panic; logs:\n%s", logs)
			}
			if panicked["panic_type"] != "string" || !strings.Contains(fmt.Sprint(panicked["stack"]), "badStage") {
				t.Errorf("panic record lacks the panic's type or the stack: type %v", panicked["panic_type"])
			}
			reqID, _ := panicked["request_id"].(string)
			if reqID == "" || !strings.Contains(body, reqID) {
				t.Errorf("response does not name the request id %q of the panic's log record: %s", reqID, body)
			}
		})
	}
}

// A secrets manager that breaks its contract and puts the value in its
// error does not get it into rotor's log, response or database (searched
// by pgtest when the test ends).
func TestBackendErrorWithSecretLeaksNoSecret(t *testing.T) {
	t.Parallel()
	tests := map[string]func(v secret.Value) error{
		"portable error message": func(v secret.Value) error {
			return secretstore.Errorf(secretstore.ErrAccess, "stage", "policy denies writing %s", v.Reveal())
		},
		"wrapped kind": func(v secret.Value) error {
			return fmt.Errorf("put secret value %q: %w", v.Reveal(), secretstore.ErrUnavailable)
		},
		"vendor error with request body": func(v secret.Value) error {
			body, _ := json.Marshal(map[string]string{"SecretString": v.Reveal()})
			return fmt.Errorf("sdk: serialization failed for %s", body)
		},
		"form-encoded value": func(v secret.Value) error {
			return secretstore.Errorf(secretstore.ErrConflict, "stage", "pending value=%s exists", url.QueryEscape(v.Reveal()))
		},
	}
	for name, stage := range tests {
		for _, surface := range []string{"JSON API", "UI"} {
			t.Run(name+"/"+surface, func(t *testing.T) {
				t.Parallel()
				f := setupLeak(t, stage)
				id := f.requestRotation(t)

				status, body := f.pasteSecret(t, id, surface == "UI")
				if status < 400 {
					t.Errorf("status after a failed stage = %d, want an error; body %s", status, body)
				}
				testcanary.Check(t, "the response to a failed stage", body)
				logs := f.logs.String()
				testcanary.Check(t, "the log of a failed stage", logs)
				if logRecord(t, logs, "secrets manager step failed") == nil {
					t.Errorf("no log record of the failed step; logs:\n%s", logs)
				}
			})
		}
	}
}

// logRecord returns the first JSON log record with message msg, or nil.
func logRecord(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON (%v): %s", err, line)
		}
		if rec["msg"] == msg {
			return rec
		}
	}
	return nil
}
