package testlog_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/internal/testlog"
)

// recorder is a testing.TB that records failures and runs its cleanups
// when end is called, so a test can check what New's cleanup reports.
type recorder struct {
	testing.TB
	failures []string
	cleanups []func()
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestNewFailsOnCanaryInLog(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	log := slog.New(slog.NewJSONHandler(testlog.New(rec), nil))
	log.Info("stage", "rotation_id", "r1")
	log.Error("stage failed", "error", fmt.Errorf("put value %s: denied", canary.Value.Reveal()))
	rec.end()

	if len(rec.failures) != 1 {
		t.Fatalf("cleanup recorded %d failures, want 1: %q", len(rec.failures), rec.failures)
	}
	if msg := rec.failures[0]; !strings.Contains(msg, "the log") || !strings.Contains(msg, "JSON") {
		t.Errorf("failure %q does not name the log and the JSON form", msg)
	}
}

func TestNewPassesCleanLog(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	log := slog.New(slog.NewTextHandler(testlog.New(rec), nil))
	log.Info("stage", "secret", canary.Value) // a secret.Value redacts itself
	rec.end()

	if len(rec.failures) != 0 {
		t.Errorf("cleanup failed a clean log: %q", rec.failures)
	}
}
