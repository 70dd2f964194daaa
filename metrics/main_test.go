package metrics_test

import (
	"bufio"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/rotorhq/rotor/internal/testlog"
	"github.com/rotorhq/rotor/metrics"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture is a Metrics under test with its log.
type fixture struct {
	m   *metrics.Metrics
	log *testlog.Buffer
}

// setup returns the metrics that o configures. Logs go to f.log and to
// t.Log.
func setup(t *testing.T, o metrics.Options) *fixture {
	t.Helper()
	f := &fixture{log: testlog.New(t)}
	o.Logger = slog.New(slog.NewJSONHandler(teeWriter{t: t, buf: f.log}, nil))
	m, err := metrics.New(o)
	if err != nil {
		t.Fatalf("metrics.New: %v", err)
	}
	f.m = m
	return f
}

// teeWriter writes log lines to a buffer and to the test's log.
type teeWriter struct {
	t   *testing.T
	buf *testlog.Buffer
}

func (w teeWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return w.buf.Write(p)
}

// exposition is one scrape: the text as served, and each sample by its
// series (name and labels, as the text writes them).
type exposition struct {
	text    string
	samples map[string]string
}

// scrape fetches the metrics handler in-process and parses the text
// format.
func (f *fixture) scrape(t *testing.T) exposition {
	t.Helper()
	rec := httptest.NewRecorder()
	f.m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, want 200; body:\n%s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	e := exposition{text: rec.Body.String(), samples: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(e.text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("exposition line %q has no value", line)
		}
		e.samples[line[:i]] = line[i+1:]
	}
	return e
}

// value returns the sample of series, or "absent".
func (e exposition) value(series string) string {
	if v, ok := e.samples[series]; ok {
		return v
	}
	return "absent"
}

// withPrefix returns the samples whose series starts with prefix.
func (e exposition) withPrefix(prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range e.samples {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}
