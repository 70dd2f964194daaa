package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/metrics"
	"github.com/rotorhq/rotor/persiumsim"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/memstore"
	"github.com/rotorhq/rotor/rotation/scheduler"
	"github.com/rotorhq/rotor/rotation/storetest"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
	"github.com/rotorhq/rotor/secretstore/memory"
	"github.com/rotorhq/rotor/tokencheck"
)

// labelPair matches one label in the text format.
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// TestNoSecretInMetrics runs a rotation through the JSON API, with the
// canary as the credential's current secret and canary.Second as one the
// token endpoint rejects. It also
// fails a backend call, a reminder send and a secret check with the
// canaries in their errors and requests. Then no form of a secret may
// appear in the exposition, and every label value of rotor's metrics must
// come from a known set: ids, configured names, states, kinds, ops, error
// kinds, methods, route patterns and status codes.
func TestNoSecretInMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := storetest.NewClock()
	log := slog.New(slog.NewJSONHandler(testlog.New(t), &slog.HandlerOptions{Level: slog.LevelDebug}))

	sim := persiumsim.New(persiumsim.Options{Now: clock.Now, Logger: log})
	tlsSim, err := persiumsim.NewTLS(sim, log)
	if err != nil {
		t.Fatalf("NewTLS: %v", err)
	}
	t.Cleanup(func() { tlsSim.Close() })
	checker, err := tokencheck.New(tokencheck.Config{TokenURL: tlsSim.URL + sim.TokenPath(), RootCAs: tlsSim.CertPool})
	if err != nil {
		t.Fatalf("tokencheck.New: %v", err)
	}

	cred := storetest.Credential("cred-a")
	cred.MinDualActive = 0
	sim.AddClient(cred.ClientID, canary.Value)
	store := memstore.New(clock.Now)
	if err := store.SyncCredentials(ctx, []rotation.Credential{cred}); err != nil {
		t.Fatalf("SyncCredentials: %v", err)
	}

	f := setup(t, metrics.Options{Store: store, Now: clock.Now, Version: "test", ReminderChannels: []string{"ops-email"}})
	backend := memory.New(canary.Value, secretstore.Format{JSONKey: "client_secret"})
	svc := rotation.NewService(rotation.Options{
		Store:   store,
		Secrets: map[string]rotation.SecretStore{"cred-a": f.m.InstrumentSecretStore("vault-prod", backend)},
		Checker: checker, Now: clock.Now, Logger: log,
	})
	srv, err := api.New(api.Options{Service: svc, Auth: api.Fixed{Name: "otto", Role: api.RoleOperator}, Logger: log, Now: clock.Now, Dev: sim})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	app := srv.Handler()
	routes, ok := app.(chi.Routes)
	if !ok {
		t.Fatalf("api.Server.Handler is a %T, not a chi router", app)
	}
	hs := httptest.NewServer(f.m.HTTPMiddleware(app, metrics.ChiRoute(routes)))
	t.Cleanup(hs.Close)

	send := func(method, path, body string, wantStatus int) string {
		t.Helper()
		req, err := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatalf("NewRequest: %v", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, wantStatus, b)
		}
		return string(b)
	}
	jsonBody := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		return string(b)
	}
	rotationID := func(body string) string {
		var r struct{ ID string }
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.ID == "" {
			t.Fatalf("no rotation id in %s (%v)", body, err)
		}
		return r.ID
	}

	// A whole rotation.
	id := rotationID(send("POST", "/api/v1/credentials/cred-a/rotations", `{"kind":"manual","reason":"quarterly"}`, http.StatusCreated))
	issued, err := sim.Issue(cred.ClientID)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	send("POST", "/api/v1/rotations/"+id+"/issued", jsonBody(map[string]string{"secret": issued.Reveal()}), http.StatusOK)
	send("POST", "/api/v1/rotations/"+id+"/promote", `{}`, http.StatusOK)
	if err := sim.RetireOld(cred.ClientID); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	send("POST", "/api/v1/rotations/"+id+"/retire", `{"persium_confirmed":true}`, http.StatusOK)

	// A secret the token endpoint rejects, then a cancel.
	id2 := rotationID(send("POST", "/api/v1/credentials/cred-a/rotations", `{"kind":"emergency","reason":"leak"}`, http.StatusCreated))
	send("POST", "/api/v1/rotations/"+id2+"/issued", jsonBody(map[string]string{"secret": canary.Second.Reveal()}), http.StatusUnprocessableEntity)

	// Secrets in the path and an unknown method.
	send("GET", "/api/v1/rotations/"+url.PathEscape(canary.Value.Reveal()), "", http.StatusNotFound)
	send("GET", "/"+url.PathEscape(canary.Second.Reveal()), "", http.StatusNotFound)
	send("CANARYMETHOD", "/api/v1/rotations/"+id2, "", http.StatusMethodNotAllowed)

	// A backend and a reminder channel whose errors carry a secret.
	leaky := f.m.InstrumentSecretStore("aws-prod", failStore{err: secretstore.Errorf(secretstore.ErrAccess, "read", "denied for key %s", canary.Value.Reveal())})
	callAll(ctx, leaky)
	sender := f.m.InstrumentSender(scheduler.SenderFunc(func(context.Context, string, scheduler.Message, string) error {
		return errors.New("post https://hooks.example/" + canary.Value.Reveal() + ": 403")
	}))
	_ = sender.Send(ctx, "ops-email", scheduler.Message{CredentialID: "cred-a"}, "key")

	exp := f.scrape(t)

	t.Run("no form of a secret", func(t *testing.T) {
		for _, s := range []secret.Value{canary.Value, canary.Second, issued} {
			raw := s.Reveal()
			quoted, _ := json.Marshal(raw)
			for name, form := range map[string]string{
				"raw":    raw,
				"path":   url.PathEscape(raw),
				"form":   url.QueryEscape(raw),
				"quoted": strconv.Quote(raw),
				"JSON":   strings.Trim(string(quoted), `"`),
			} {
				if strings.Contains(exp.text, form) {
					t.Errorf("a secret (%s form) is in the exposition", name)
				}
			}
		}
		if strings.Contains(exp.text, "CANARY") {
			t.Error("part of a canary is in the exposition")
		}
		canary.Check(t, "the metrics exposition", exp.text)
	})

	t.Run("label values from known sets", func(t *testing.T) {
		var patterns []string
		err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			patterns = append(patterns, route)
			return nil
		})
		if err != nil {
			t.Fatalf("chi.Walk: %v", err)
		}
		var states, kinds []string
		for _, s := range rotation.States {
			states = append(states, string(s))
		}
		for _, k := range []rotation.Kind{rotation.KindScheduled, rotation.KindManual, rotation.KindEmergency, rotation.KindOffboarding} {
			kinds = append(kinds, string(k))
		}
		allowed := map[string][]string{
			"credential_id": {"cred-a"},
			"state":         states,
			"kind":          kinds,
			"backend":       {"vault-prod", "aws-prod"},
			"op":            {"stage", "adopt", "staged", "promote", "rollback", "retire", "discard", "read", "current", "verify", "preflight"},
			"result":        {"ok", "conflict", "not_found", "access", "unavailable", "invalid", "drift", "other"},
			"method":        {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"},
			"route":         append(patterns, metrics.RouteUnmatched),
			"channel":       {"ops-email"},
			"query":         {"list_credentials", "get_rotation", "count_failed_reminders", "list_open_incidents"},
			"version":       {"test"},
		}
		status := regexp.MustCompile(`^[1-5][0-9][0-9]$`)
		bucket := regexp.MustCompile(`^(\+Inf|[0-9.]+(e[+-][0-9]+)?)$`)
		uuidPattern := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

		checked := 0
		for series := range exp.samples {
			if !strings.HasPrefix(series, "rotor_") {
				continue
			}
			for _, m := range labelPair.FindAllStringSubmatch(series, -1) {
				name, value := m[1], m[2]
				checked++
				var ok bool
				switch name {
				case "status":
					ok = status.MatchString(value)
				case "le":
					ok = bucket.MatchString(value)
				case "incident_id":
					ok = uuidPattern.MatchString(value)
				default:
					ok = slices.Contains(allowed[name], value)
				}
				if !ok {
					t.Errorf("%s: label %s=%q is not from its known set", series, name, value)
				}
			}
		}
		// The run above must have produced each kind of series, or the
		// check proves nothing.
		for _, series := range []string{
			`rotor_backend_calls_total{backend="vault-prod",op="stage",result="ok"}`,
			`rotor_backend_calls_total{backend="aws-prod",op="read",result="access"}`,
			`rotor_http_requests_total{method="POST",route="/api/v1/rotations/{id}/issued",status="422"}`,
			`rotor_http_requests_total{method="other",route="unmatched",status="405"}`,
			`rotor_http_requests_total{method="GET",route="unmatched",status="404"}`,
			`rotor_reminders_send_failures_total{channel="ops-email"}`,
			`rotor_rotations_open{credential_id="cred-a",kind="emergency",state="requested"}`,
		} {
			if exp.value(series) == "absent" {
				t.Errorf("%s absent; the scenario did not run as planned", series)
			}
		}
		if checked < 50 {
			t.Errorf("checked %d label values, want at least 50", checked)
		}
	})
}
