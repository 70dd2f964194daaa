package rotation

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

func TestRedactSecretKeepsKind(t *testing.T) {
	t.Parallel()
	v := canary.Second
	tests := []struct {
		name string
		err  error
		kind error
	}{
		{"portable error", secretstore.Errorf(secretstore.ErrAccess, "stage", "denied for %s", v.Reveal()), secretstore.ErrAccess},
		{"wrapped portable error", fmt.Errorf("stage: %w", secretstore.Errorf(secretstore.ErrConflict, "stage", "value=%s", url.QueryEscape(v.Reveal()))), secretstore.ErrConflict},
		{"wrapped kind", fmt.Errorf("put %q: %w", v.Reveal(), secretstore.ErrUnavailable), secretstore.ErrUnavailable},
		{"time-out", fmt.Errorf("put %s: %w", v.Reveal(), context.DeadlineExceeded), context.DeadlineExceeded},
		{"no kind", errors.New("sdk: body " + v.Reveal()), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := redactSecret(tt.err, v)
			canary.Check(t, "the redacted error's text", got.Error())
			if !strings.Contains(got.Error(), secret.Redacted) {
				t.Errorf("redacted error %q does not mark the removed secret", got)
			}
			if tt.kind != nil && !errors.Is(got, tt.kind) {
				t.Errorf("redacted error is not of kind %v", tt.kind)
			}
			if msg := safeBackendMessage(got); msg == "" {
				t.Error("redacted error has no message for the operator")
			} else {
				canary.Check(t, "the operator's message", msg)
			}
		})
	}
}

func TestRedactSecretLeavesCleanError(t *testing.T) {
	t.Parallel()
	err := secretstore.Errorf(secretstore.ErrAccess, "stage", "denied for persium/cred-a")
	if got := redactSecret(err, canary.Second); got != err {
		t.Errorf("redactSecret changed an error without the secret: %v", got)
	}
	if redactSecret(nil, canary.Second) != nil {
		t.Error("redactSecret(nil) is not nil")
	}
}

func TestRedactSecretShortValue(t *testing.T) {
	t.Parallel()
	got := redactSecret(errors.New("put abc1234 failed"), secret.New("abc1234"))
	if strings.Contains(got.Error(), "abc1234") {
		t.Errorf("redacted error %q still contains a 7-byte secret", got)
	}
}
