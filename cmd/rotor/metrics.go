package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/metrics"
	"github.com/rotorhq/rotor/rotation"
)

// metricsPath is the path of rotor's Prometheus metrics, on the same
// listener as the UI and the API. Like them it has no access control yet,
// which is why rotor listens on loopback only.
const metricsPath = "/metrics"

// newMetrics returns rotor's metrics, reading store on each scrape. The
// send counters of the named reminder channels start at zero.
func newMetrics(store metrics.Store, channels []string, log *slog.Logger) (*metrics.Metrics, error) {
	return metrics.New(metrics.Options{
		Store:            store,
		Logger:           log.With("component", "metrics"),
		Version:          version,
		ReminderChannels: channels,
	})
}

// channelNames returns the configured reminder channels' names, sorted.
func channelNames(cfg *config.Config) []string {
	return slices.Sorted(maps.Keys(cfg.Channels))
}

// instrumentSecrets wraps each credential's secret store so its calls are
// counted under the credential's backend name. A store of a credential
// missing from creds is counted under the backend name "unknown".
func instrumentSecrets(m *metrics.Metrics, secrets map[string]rotation.SecretStore, creds []rotation.Credential) map[string]rotation.SecretStore {
	backendOf := make(map[string]string, len(creds))
	for _, c := range creds {
		backendOf[c.ID] = c.Backend
	}
	out := make(map[string]rotation.SecretStore, len(secrets))
	for id, s := range secrets {
		backend := backendOf[id]
		if backend == "" {
			backend = "unknown"
		}
		out[id] = m.InstrumentSecretStore(backend, s)
	}
	return out
}

// withMetrics returns app with its requests counted by route pattern, and
// serves m's metrics at /metrics beside it. app is the handler of
// api.Server, a chi router; any other handler has its requests counted
// under the route "unmatched".
func withMetrics(app http.Handler, m *metrics.Metrics) http.Handler {
	appRoute := func(*http.Request) string { return "" }
	if routes, ok := app.(chi.Routes); ok {
		appRoute = metrics.ChiRoute(routes)
	}
	scrape := m.Handler()

	// A plain path comparison rather than http.ServeMux, which would
	// redirect unclean paths that the app's router handles itself.
	isScrape := func(r *http.Request) bool {
		return r.URL.Path == metricsPath && (r.Method == http.MethodGet || r.Method == http.MethodHead)
	}
	both := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isScrape(r) {
			scrape.ServeHTTP(w, r)
			return
		}
		app.ServeHTTP(w, r)
	})
	route := func(r *http.Request) string {
		if isScrape(r) {
			return metricsPath
		}
		return appRoute(r)
	}
	return m.HTTPMiddleware(both, route)
}

// runHealthcheck runs `rotor healthcheck`. It requests a running rotor's
// readiness URL and returns 0 when the status is 200, else 1. Container
// images without a shell or curl, such as rotor's distroless image, use it
// as their health check. It follows no redirect.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rotor healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "http://127.0.0.1:8080/readyz", "the URL to request; rotor is healthy when it answers 200")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !strings.HasPrefix(*target, "http://") && !strings.HasPrefix(*target, "https://") {
		fmt.Fprintf(stderr, "rotor healthcheck: -url %q is not an http:// or https:// URL\n", *target)
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "rotor healthcheck: %v\n", err)
		return 2
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "rotor healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	// /readyz responds with one short line, such as "not ready: database
	// unreachable". Only the first line is printed, at most 200 bytes.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	text, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "rotor healthcheck: %s returned %s: %s\n", *target, resp.Status, text)
		return 1
	}
	fmt.Fprintln(stdout, text)
	return 0
}

// backendDependencies lists, for /readyz, the outcome of the latest call to
// each secrets manager that rotor called since it started.
func backendDependencies(m *metrics.Metrics, now func() time.Time) func() []api.Dependency {
	return func() []api.Dependency {
		statuses := m.BackendStatuses()
		out := make([]api.Dependency, len(statuses))
		for i, b := range statuses {
			out[i] = api.Dependency{
				Name:    "secrets manager " + b.Backend,
				Failing: b.Failing(),
				Detail:  fmt.Sprintf("last call %s: %s, %s ago", b.Op, b.Result, now().Sub(b.At).Round(time.Second)),
			}
		}
		return out
	}
}
