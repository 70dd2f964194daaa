package notify_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/notify"
)

// setup returns a reminder for a due date that falls on 2025-11-08 in
// Berlin but on 2025-11-07 in UTC, so a test can tell which zone was used.
func setup(t *testing.T) (notify.Message, *time.Location) {
	t.Helper()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("load Europe/Berlin: %v", err)
	}
	m := notify.Message{
		Kind:           notify.KindReminder,
		CredentialID:   "cred-a",
		Organisation:   "Acme GmbH",
		ClientID:       "client-a",
		DueAt:          time.Date(2025, 11, 7, 23, 30, 0, 0, time.UTC),
		DaysLeft:       14,
		Offset:         "14d",
		URL:            "https://rotor.example/credentials/cred-a",
		IdempotencyKey: "cred-a/2025-11-07T23:30:00Z/14d/smtp",
	}
	return m, berlin
}

func TestRender(t *testing.T) {
	t.Parallel()
	base, berlin := setup(t)

	tests := []struct {
		name        string
		kind        notify.Kind
		daysLeft    int
		subjectHas  string
		textHas     string
		daysLeftOut string
	}{
		{"reminder before due", notify.KindReminder, 14, "within 14 days, by 2025-11-08", "due for rotation in 14 days", "Days left:    14\n"},
		{"reminder one day before", notify.KindReminder, 1, "within 1 day, by 2025-11-08", "in 1 day.", "Days left:    1\n"},
		{"reminder on due date", notify.KindReminder, 0, "due for rotation today (2025-11-08)", "due for rotation today", "0 (due today)"},
		{"overdue", notify.KindOverdue, -3, "3 days overdue (due 2025-11-08)", "3 days ago", "-3 (3 days overdue)"},
		{"urgent", notify.KindUrgent, 14, "URGENT: compromise reported", "emergency rotation is open", "Days left:    14\n"},
		{"alert", notify.KindAlert, 14, "Alert for the client secret", "reports a problem", "Days left:    14\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := base
			m.Kind, m.DaysLeft = tt.kind, tt.daysLeft

			subject, text := notify.Render(m, berlin)

			if !strings.Contains(subject, tt.subjectHas) {
				t.Errorf("subject = %q; want it to contain %q", subject, tt.subjectHas)
			}
			if !strings.Contains(subject, "Acme GmbH (cred-a)") {
				t.Errorf("subject = %q; want it to name the organisation and credential", subject)
			}
			for _, want := range []string{
				tt.textHas,
				"Credential:   cred-a\n",
				"Organisation: Acme GmbH\n",
				"Client ID:    client-a\n",
				"Due date:     Sat 2025-11-08 00:30 CET (+01:00)\n",
				tt.daysLeftOut,
				"Reminder:     14d\n",
				"Open in rotor: https://rotor.example/credentials/cred-a\n",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("text does not contain %q; text:\n%s", want, text)
				}
			}
		})
	}
}

func TestRenderUsesUTCWithoutLocation(t *testing.T) {
	t.Parallel()
	m, _ := setup(t)

	subject, text := notify.Render(m, nil)

	if !strings.Contains(subject, "by 2025-11-07") {
		t.Errorf("subject = %q; want the UTC date 2025-11-07", subject)
	}
	if want := "Due date:     Fri 2025-11-07 23:30 UTC (+00:00)"; !strings.Contains(text, want) {
		t.Errorf("text does not contain %q; text:\n%s", want, text)
	}
}

func TestRenderOverrides(t *testing.T) {
	t.Parallel()
	m, berlin := setup(t)
	m.Subject = "Old secret revoked early\r\nBcc: someone@example.com"
	m.Text = "The old secret stopped working.\n"

	subject, text := notify.Render(m, berlin)

	if want := "Old secret revoked early  Bcc: someone@example.com"; subject != want {
		t.Errorf("subject = %q; want %q (one line)", subject, want)
	}
	if text != m.Text {
		t.Errorf("text = %q; want the override %q", text, m.Text)
	}
}

func TestRenderLeavesOutEmptyFields(t *testing.T) {
	t.Parallel()
	m := notify.Message{Kind: notify.KindAlert, CredentialID: "cred-a", IdempotencyKey: "k"}

	subject, text := notify.Render(m, nil)

	if want := "[rotor] Alert for the client secret of cred-a"; subject != want {
		t.Errorf("subject = %q; want %q", subject, want)
	}
	for _, absent := range []string{"Organisation:", "Due date:", "Days left:", "Open in rotor:"} {
		if strings.Contains(text, absent) {
			t.Errorf("text contains %q for an empty field; text:\n%s", absent, text)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	valid, _ := setup(t)

	tests := []struct {
		name   string
		change func(*notify.Message)
		want   string
	}{
		{"unknown kind", func(m *notify.Message) { m.Kind = "digest" }, `invalid message kind "digest"`},
		{"no credential", func(m *notify.Message) { m.CredentialID = "" }, "no credential id"},
		{"no idempotency key", func(m *notify.Message) { m.IdempotencyKey = "" }, "no idempotency key"},
	}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(valid message) = %v; want nil", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := valid
			tt.change(&m)

			err := m.Validate()

			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v; want an error containing %q", err, tt.want)
			}
			if !errors.Is(err, notify.ErrPermanent) {
				t.Errorf("Validate() = %v; want it to wrap ErrPermanent", err)
			}
		})
	}
}

func TestSendError(t *testing.T) {
	t.Parallel()

	t.Run("permanent reply", func(t *testing.T) {
		t.Parallel()
		err := fmt.Errorf("send reminder: %w", &notify.SendError{
			Channel: "slack", Op: "post", Host: "hooks.slack.com",
			Code: 410, Reply: "HTTP 410 channel_is_archived", Permanent: true,
		})

		if want := "send reminder: slack hooks.slack.com: post: HTTP 410 channel_is_archived (permanent)"; err.Error() != want {
			t.Errorf("Error() = %q; want %q", err.Error(), want)
		}
		if !errors.Is(err, notify.ErrPermanent) {
			t.Errorf("errors.Is(err, ErrPermanent) = false; want true")
		}
	})

	t.Run("temporary reply with retry hint", func(t *testing.T) {
		t.Parallel()
		err := &notify.SendError{
			Channel: "webhook", Op: "post", Host: "hooks.example.com",
			Code: 429, Reply: "HTTP 429", RetryAfter: 30 * time.Second,
		}

		if want := "webhook hooks.example.com: post: HTTP 429, retry after 30s"; err.Error() != want {
			t.Errorf("Error() = %q; want %q", err.Error(), want)
		}
		if errors.Is(err, notify.ErrPermanent) {
			t.Errorf("errors.Is(err, ErrPermanent) = true; want false")
		}
		if got := notify.RetryAfter(fmt.Errorf("wrapped: %w", err)); got != 30*time.Second {
			t.Errorf("RetryAfter = %v; want 30s", got)
		}
	})

	t.Run("no reply", func(t *testing.T) {
		t.Parallel()
		err := &notify.SendError{Channel: "smtp", Op: "connect", Host: "mail.example.com", Err: context.DeadlineExceeded}

		if want := "smtp mail.example.com: connect: context deadline exceeded"; err.Error() != want {
			t.Errorf("Error() = %q; want %q", err.Error(), want)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(err, context.DeadlineExceeded) = false; want true")
		}
		if got := notify.RetryAfter(err); got != 0 {
			t.Errorf("RetryAfter = %v; want 0", got)
		}
	})
}
