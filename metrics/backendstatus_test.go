package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/rotorhq/rotor/secretstore"
)

func TestBackendStatusesKeepLatestPerBackend(t *testing.T) {
	t.Parallel()
	m, err := New(Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	vault := &instrumentedStore{backend: "vault-prod", m: m}
	aws := &instrumentedStore{backend: "aws-eu", m: m}

	vault.observe(opPromote, time.Now(), fmt.Errorf("write: %w", secretstore.ErrUnavailable))
	aws.observe(opCurrent, time.Now(), fmt.Errorf("no such version: %w", secretstore.ErrNotFound))
	vault.observe(opCurrent, time.Now(), nil)

	got := m.BackendStatuses()
	if len(got) != 2 || got[0].Backend != "aws-eu" || got[1].Backend != "vault-prod" {
		t.Fatalf("BackendStatuses = %+v, want aws-eu then vault-prod", got)
	}
	if got[1].Op != opCurrent || got[1].Result != "ok" || got[1].Failing() {
		t.Errorf("vault-prod = %+v, want the later ok call, not failing", got[1])
	}
	if got[0].Result != "not_found" || got[0].Failing() {
		t.Errorf("aws-eu = %+v, want not_found, which is an answer and not a failure", got[0])
	}
}

func TestBackendStatusFailing(t *testing.T) {
	t.Parallel()
	for result, want := range map[string]bool{"ok": false, "conflict": false, "not_found": false, "invalid": false, "drift": false,
		"unavailable": true, "access": true, "other": true} {
		if got := (BackendStatus{Result: result}).Failing(); got != want {
			t.Errorf("Failing() for %s = %v, want %v", result, got, want)
		}
	}
}
