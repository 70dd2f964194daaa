package rotation_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

func TestReminderScheduleNext(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 5, 30, 9, 30, 0, 0, time.UTC)
	def := rotation.DefaultReminderSchedule()
	cases := []struct {
		name     string
		schedule rotation.ReminderSchedule
		now      time.Time
		ok       bool
		next     time.Time
	}{
		{name: "long before", schedule: def, now: due.Add(-60 * day), ok: true, next: due.Add(-14 * day)},
		{name: "at the first offset", schedule: def, now: due.Add(-14 * day), ok: true, next: due.Add(-7 * day)},
		{name: "a microsecond before the due date", schedule: def, now: due.Add(-time.Microsecond), ok: true, next: due},
		{name: "at the due date", schedule: def, now: due, ok: true, next: due.Add(7 * day)},
		{name: "between repeats", schedule: def, now: due.Add(10 * day), ok: true, next: due.Add(14 * day)},
		{name: "at a repeat", schedule: def, now: due.Add(14 * day), ok: true, next: due.Add(21 * day)},
		{name: "no repeats, all passed", schedule: rotation.ReminderSchedule{Before: []time.Duration{day}}, now: due.Add(-day)},
		{name: "only repeats", schedule: rotation.ReminderSchedule{OverdueEvery: day}, now: due.Add(-30 * day), ok: true, next: due.Add(day)},
		{name: "empty schedule", schedule: rotation.ReminderSchedule{}, now: due},
	}
	for _, tc := range cases {
		next, ok := tc.schedule.Next(due, tc.now)
		if ok != tc.ok || !next.Equal(tc.next) {
			t.Errorf("%s: Next = %v, %v; want %v, %v", tc.name, next, ok, tc.next, tc.ok)
		}
	}
}

// NextReminderAt is exact: between a planning and the time it returns,
// RemindersDue returns the same reminders, and at that time it returns a
// new one. The scheduler relies on it to plan nothing in between.
func TestNextReminderAtMatchesRemindersDue(t *testing.T) {
	t.Parallel()
	c := rotation.Credential{ID: "cred-a", RotationPeriod: 90 * day, CreatedAt: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}
	schedules := map[string]rotation.ReminderSchedule{
		"default":    rotation.DefaultReminderSchedule(),
		"no repeats": {Before: []time.Duration{30 * day, 2 * day}},
		"hours":      {Before: []time.Duration{36 * time.Hour, 90 * time.Minute}, OverdueEvery: 50 * time.Hour},
	}
	channels := []string{"email"}
	latestKey := func(s rotation.ReminderSchedule, now time.Time) string {
		rs := rotation.RemindersDue(c, s, channels, now)
		if len(rs) == 0 {
			return "none"
		}
		return rs[len(rs)-1].ReminderKey.String()
	}

	for name, s := range schedules {
		// Step through the time around the due date in 30 minutes.
		start := c.NextDueAt().Add(-40 * day)
		for now := start; now.Before(c.NextDueAt().Add(40 * day)); now = now.Add(30 * time.Minute) {
			next := rotation.NextReminderAt(c, s, channels, now)
			before := latestKey(s, now)
			if next.IsZero() {
				if got := latestKey(s, now.Add(1000*day)); got != before {
					t.Fatalf("%s at %v: NextReminderAt is zero, but at +1000 days the latest reminder is %s, not %s", name, now, got, before)
				}
				continue
			}
			if !next.After(now) {
				t.Fatalf("%s at %v: NextReminderAt %v is not after now", name, now, next)
			}
			if got := latestKey(s, next.Add(-time.Microsecond)); got != before {
				t.Fatalf("%s at %v: just before NextReminderAt %v the latest reminder is %s, not %s", name, now, next, got, before)
			}
			if got := latestKey(s, next); got == before {
				t.Fatalf("%s at %v: at NextReminderAt %v the latest reminder is still %s", name, now, next, got)
			}
		}
	}
}

func TestNextReminderAtNone(t *testing.T) {
	t.Parallel()
	c := rotation.Credential{ID: "cred-a", RotationPeriod: 90 * day, CreatedAt: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}
	now := c.CreatedAt
	s := rotation.DefaultReminderSchedule()
	if got := rotation.NextReminderAt(c, s, nil, now); !got.IsZero() {
		t.Errorf("no channels: NextReminderAt = %v, want zero", got)
	}
	open := c
	open.OpenRotationID = "a-rotation"
	if got := rotation.NextReminderAt(open, s, []string{"email"}, now); !got.IsZero() {
		t.Errorf("open rotation: NextReminderAt = %v, want zero", got)
	}
	if got, want := rotation.NextReminderAt(c, s, []string{"email"}, now), c.NextDueAt().Add(-14*day); !got.Equal(want) {
		t.Errorf("new credential: NextReminderAt = %v, want %v", got, want)
	}
}

func TestCheckReminderPlanFor(t *testing.T) {
	t.Parallel()
	c := rotation.Credential{ID: "cred-a"}
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	due := now.Add(day)
	valid := rotation.Reminder{ReminderKey: rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, Channel: "email"}, Status: rotation.ReminderPending}
	other := valid
	other.CredentialID = "cred-b"

	if err := rotation.CheckReminderPlanFor(c, rotation.ReminderPlan{Reminders: []rotation.Reminder{valid}, NextAt: now.Add(time.Nanosecond)}, now); err != nil {
		t.Errorf("valid plan: %v", err)
	}
	if err := rotation.CheckReminderPlanFor(c, rotation.ReminderPlan{}, now); err != nil {
		t.Errorf("empty plan with no next time: %v", err)
	}
	invalid := map[string]rotation.ReminderPlan{
		"next time now":           {NextAt: now},
		"next time before now":    {NextAt: now.Add(-time.Hour)},
		"another credential":      {Reminders: []rotation.Reminder{valid, other}},
		"reminder without status": {Reminders: []rotation.Reminder{{ReminderKey: valid.ReminderKey}}},
	}
	for name, p := range invalid {
		if err := rotation.CheckReminderPlanFor(c, p, now); !errors.Is(err, rotation.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestCredentialCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := rotation.Credential{ID: "cred-a", RotationPeriod: 90 * day, CreatedAt: time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)}
	k := rotation.CursorAfter(c)
	if want := c.NextDueAt().Truncate(time.Microsecond); !k.NextDueAt.Equal(want) || k.ID != "cred-a" {
		t.Fatalf("CursorAfter = %+v, want %v and cred-a", k, want)
	}
	token := k.Encode()
	if strings.Contains(token, "cred-a") {
		t.Errorf("token %q shows the id; it should be opaque", token)
	}
	got, err := rotation.ParseCredentialCursor(token)
	if err != nil || !got.NextDueAt.Equal(k.NextDueAt) || got.ID != k.ID {
		t.Errorf("ParseCredentialCursor(Encode()) = %+v, %v; want %+v", got, err, k)
	}

	if (rotation.CredentialCursor{}).Encode() != "" {
		t.Errorf("the zero cursor encodes to %q, want empty", (rotation.CredentialCursor{}).Encode())
	}
	if got, err := rotation.ParseCredentialCursor(""); err != nil || !got.IsZero() {
		t.Errorf(`ParseCredentialCursor("") = %+v, %v; want the zero cursor`, got, err)
	}
	for _, bad := range []string{"x", "!!!", "bm9jb2xvbg", "MTIzOg", "YWJjOmNyZWQ", strings.Repeat("A", 200)} {
		if _, err := rotation.ParseCredentialCursor(bad); !errors.Is(err, rotation.ErrInvalid) {
			t.Errorf("ParseCredentialCursor(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
}
