package scheduler

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rotorhq/rotor/internal/canary"
	"github.com/rotorhq/rotor/rotation"
)

func TestErrorTextDropsURLSecrets(t *testing.T) {
	t.Parallel()
	// A URL carries a secret percent-encoded, as net/http sends it.
	pathToken := url.PathEscape(canary.Value.Reveal())
	queryToken := url.QueryEscape(canary.Value.Reveal())
	cases := []struct {
		name string
		err  error
		want string
	}{
		{
			name: "webhook path",
			err:  &url.Error{Op: "Post", URL: "https://hooks.slack.example/services/T0/B0/" + pathToken, Err: errors.New("EOF")},
			want: `Post "https://hooks.slack.example/…": EOF`,
		},
		{
			name: "userinfo and query",
			err:  fmt.Errorf("send reminder: %w", &url.Error{Op: "Post", URL: "https://user:" + queryToken + "@hooks.example:8443/x?token=" + queryToken, Err: errors.New("i/o timeout")}),
			want: `send reminder: Post "https://hooks.example:8443/…": i/o timeout`,
		},
		{
			name: "no URL",
			err:  errors.New("smtp: 535 authentication failed"),
			want: "smtp: 535 authentication failed",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := errorText(tc.err)
			if got != tc.want {
				t.Errorf("errorText = %q, want %q", got, tc.want)
			}
			canary.Check(t, "errorText's result", got)
		})
	}
}

func TestErrorTextTruncates(t *testing.T) {
	t.Parallel()
	long := errors.New(strings.Repeat("é", maxErrorBytes))
	got := errorText(long)
	if len(got) > maxErrorBytes+len("…") || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("errorText of a %d-byte error: %d bytes, valid UTF-8 %v, want at most %d valid bytes ending in …",
			len(long.Error()), len(got), utf8.ValidString(got), maxErrorBytes+len("…"))
	}
}

func TestNewMessage(t *testing.T) {
	t.Parallel()
	cred := rotation.Credential{ID: "cred-a", Organisation: "Acme GmbH", ClientID: "client-a"}
	due := time.Date(2026, 5, 30, 9, 30, 0, 0, time.UTC)
	cases := []struct {
		beforeDue time.Duration
		subject   string
		text      string
	}{
		{7 * rotation.Day, "Persium client secret of Acme GmbH (client ID client-a) is due for rotation in 7 days", "is due for rotation on 2026-05-30 09:30 UTC."},
		{rotation.Day, "Persium client secret of Acme GmbH (client ID client-a) is due for rotation in 1 day", "is due for rotation on 2026-05-30 09:30 UTC."},
		{0, "Persium client secret of Acme GmbH (client ID client-a) is due for rotation today", "is due for rotation now, on 2026-05-30 09:30 UTC."},
		{-14 * rotation.Day, "Persium client secret of Acme GmbH (client ID client-a) is 14 days overdue for rotation", "is now 14 days overdue."},
	}
	for _, tc := range cases {
		m := NewMessage(cred, rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, BeforeDue: tc.beforeDue, Channel: "email"})
		if m.Subject != tc.subject {
			t.Errorf("subject %s = %q, want %q", rotation.DescribeOffset(tc.beforeDue), m.Subject, tc.subject)
		}
		if !strings.Contains(m.Text, tc.text) || !strings.Contains(m.Text, "request a rotation of cred-a") {
			t.Errorf("text %s = %q, want it to contain %q and the next step", rotation.DescribeOffset(tc.beforeDue), m.Text, tc.text)
		}
		if m.Overdue() != (tc.beforeDue < 0) || !m.DueAt.Equal(due) || m.CredentialID != "cred-a" || m.ClientID != "client-a" {
			t.Errorf("message %s: overdue %v, due %v, credential %s, client %s", rotation.DescribeOffset(tc.beforeDue), m.Overdue(), m.DueAt, m.CredentialID, m.ClientID)
		}
	}
}
