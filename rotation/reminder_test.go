package rotation_test

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin on machines without a zone database

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/rotation"
)

const day = rotation.Day

func TestReminderScheduleDue(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 5, 30, 9, 30, 0, 0, time.UTC)
	def := rotation.DefaultReminderSchedule()

	cases := []struct {
		name     string
		schedule rotation.ReminderSchedule
		now      time.Time
		ok       bool
		latest   time.Duration
		earlier  []time.Duration
	}{
		{name: "before first offset", schedule: def, now: due.Add(-15 * day)},
		{name: "a microsecond before first offset", schedule: def, now: due.Add(-14*day - time.Microsecond)},
		{name: "exactly at first offset", schedule: def, now: due.Add(-14 * day), ok: true, latest: 14 * day},
		{name: "between first and second offset", schedule: def, now: due.Add(-10 * day), ok: true, latest: 14 * day},
		{name: "exactly at second offset", schedule: def, now: due.Add(-7 * day), ok: true, latest: 7 * day, earlier: []time.Duration{14 * day}},
		{name: "two days before due", schedule: def, now: due.Add(-2 * day), ok: true, latest: 7 * day, earlier: []time.Duration{14 * day}},
		{name: "exactly at due date", schedule: def, now: due, ok: true, latest: 0, earlier: []time.Duration{14 * day, 7 * day, day}},
		{name: "six days overdue", schedule: def, now: due.Add(6 * day), ok: true, latest: 0, earlier: []time.Duration{14 * day, 7 * day, day}},
		{name: "exactly one week overdue", schedule: def, now: due.Add(7 * day), ok: true, latest: -7 * day, earlier: []time.Duration{14 * day, 7 * day, day, 0}},
		{name: "fifteen days overdue", schedule: def, now: due.Add(15 * day), ok: true, latest: -14 * day, earlier: []time.Duration{14 * day, 7 * day, day, 0, -7 * day}},
		{
			name:     "no overdue repeats",
			schedule: rotation.ReminderSchedule{Before: []time.Duration{3 * day}},
			now:      due.Add(30 * day), ok: true, latest: 3 * day,
		},
		{
			name:     "unsorted offsets",
			schedule: rotation.ReminderSchedule{Before: []time.Duration{day, 14 * day, 7 * day}},
			now:      due, ok: true, latest: day, earlier: []time.Duration{14 * day, 7 * day},
		},
		{name: "empty schedule", schedule: rotation.ReminderSchedule{}, now: due.Add(100 * day)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			latest, earlier, ok := tc.schedule.Due(due, tc.now)
			if ok != tc.ok {
				t.Fatalf("Due(now = due %+v) ok = %v, want %v", tc.now.Sub(due), ok, tc.ok)
			}
			if latest != tc.latest {
				t.Errorf("latest offset = %v, want %v", latest, tc.latest)
			}
			if diff := cmp.Diff(tc.earlier, earlier); diff != "" {
				t.Errorf("earlier offsets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReminderScheduleValidate(t *testing.T) {
	t.Parallel()
	if err := rotation.DefaultReminderSchedule().Validate(); err != nil {
		t.Errorf("default schedule: %v", err)
	}
	invalid := map[string]rotation.ReminderSchedule{
		"negative offset":           {Before: []time.Duration{-day}},
		"duplicate offset":          {Before: []time.Duration{7 * day, 7 * day}},
		"negative overdue interval": {OverdueEvery: -day},
	}
	for name, s := range invalid {
		if err := s.Validate(); !errors.Is(err, rotation.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// A 90-day period is 90 × 24 h in UTC, whatever daylight saving time does
// in the operator's zone: retired at 00:30 in Berlin in summer, due at
// 23:30 in Berlin in winter, and each reminder exactly whole days before.
func TestRemindersDueAcrossDSTChange(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("load Europe/Berlin: %v", err)
	}
	retired := time.Date(2025, 8, 10, 0, 30, 0, 0, berlin)
	c := rotation.Credential{ID: "cred-a", RotationPeriod: 90 * day, LastRetiredAt: retired, CreatedAt: retired.Add(-400 * day)}

	due := c.NextDueAt()
	if want := time.Date(2025, 11, 7, 22, 30, 0, 0, time.UTC); !due.Equal(want) || due.Location() != time.UTC {
		t.Errorf("NextDueAt = %v, want %v in UTC", due, want)
	}
	if got := due.Sub(retired); got != 2160*time.Hour {
		t.Errorf("due date is %v after retirement, want 2160h", got)
	}
	if got, want := due.In(berlin).Format("2006-01-02 15:04 MST"), "2025-11-07 23:30 CET"; got != want {
		t.Errorf("due date in Berlin = %s, want %s", got, want)
	}

	oneDayBefore := time.Date(2025, 11, 6, 22, 30, 0, 0, time.UTC)
	got := rotation.RemindersDue(c, rotation.DefaultReminderSchedule(), []string{"email"}, oneDayBefore)
	want := []rotation.Reminder{
		{ReminderKey: rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, BeforeDue: 14 * day, Channel: "email"}, Status: rotation.ReminderSkipped, SkipReason: rotation.SkipMissed},
		{ReminderKey: rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, BeforeDue: 7 * day, Channel: "email"}, Status: rotation.ReminderSkipped, SkipReason: rotation.SkipMissed},
		{ReminderKey: rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, BeforeDue: day, Channel: "email"}, Status: rotation.ReminderPending},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RemindersDue one day before (-want +got):\n%s", diff)
	}
	if sendAt := got[2].SendAt(); !sendAt.Equal(oneDayBefore) {
		t.Errorf("1-day reminder SendAt = %v, want %v", sendAt, oneDayBefore)
	}
	if early := rotation.RemindersDue(c, rotation.DefaultReminderSchedule(), []string{"email"}, oneDayBefore.Add(-time.Microsecond)); len(early) != 2 || early[1].BeforeDue != 7*day {
		t.Errorf("RemindersDue a microsecond before the 1-day reminder = %+v, want the 7-day one latest", early)
	}
}

func TestRemindersDue(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	c := rotation.Credential{ID: "cred-a", RotationPeriod: 90 * day, CreatedAt: created}
	due := created.Add(90 * day)
	twoDaysBefore := due.Add(-2 * day)

	t.Run("latest pending and earlier skipped per channel", func(t *testing.T) {
		t.Parallel()
		got := rotation.RemindersDue(c, rotation.DefaultReminderSchedule(), []string{"email", "slack"}, twoDaysBefore)
		key := func(before time.Duration, ch string) rotation.ReminderKey {
			return rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, BeforeDue: before, Channel: ch}
		}
		want := []rotation.Reminder{
			{ReminderKey: key(14*day, "email"), Status: rotation.ReminderSkipped, SkipReason: rotation.SkipMissed},
			{ReminderKey: key(7*day, "email"), Status: rotation.ReminderPending},
			{ReminderKey: key(14*day, "slack"), Status: rotation.ReminderSkipped, SkipReason: rotation.SkipMissed},
			{ReminderKey: key(7*day, "slack"), Status: rotation.ReminderPending},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("RemindersDue (-want +got):\n%s", diff)
		}
	})
	t.Run("none while a rotation is open", func(t *testing.T) {
		t.Parallel()
		open := c
		open.OpenRotationID = "0b4f5a9e-8d57-4c3e-a0a4-9a1f0e6c2d11"
		if got := rotation.RemindersDue(open, rotation.DefaultReminderSchedule(), []string{"email"}, twoDaysBefore); len(got) != 0 {
			t.Errorf("RemindersDue with an open rotation = %+v, want none", got)
		}
	})
	t.Run("none without channels", func(t *testing.T) {
		t.Parallel()
		if got := rotation.RemindersDue(c, rotation.DefaultReminderSchedule(), nil, twoDaysBefore); len(got) != 0 {
			t.Errorf("RemindersDue without channels = %+v, want none", got)
		}
	})
	t.Run("new keys after retirement", func(t *testing.T) {
		t.Parallel()
		retired := c
		retired.LastRetiredAt = twoDaysBefore
		newDue := twoDaysBefore.Add(90 * day)
		got := rotation.RemindersDue(retired, rotation.DefaultReminderSchedule(), []string{"email"}, newDue.Add(-14*day))
		if len(got) != 1 || !got[0].DueAt.Equal(newDue) || got[0].BeforeDue != 14*day {
			t.Errorf("RemindersDue after retirement = %+v, want the 14-day reminder of %v", got, newDue)
		}
	})
}

func TestReminderIdempotencyKey(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("load Europe/Berlin: %v", err)
	}
	due := time.Date(2026, 5, 30, 9, 30, 0, 0, time.UTC)
	base := rotation.ReminderKey{CredentialID: "cred-a", DueAt: due, BeforeDue: 7 * day, Channel: "webhook"}
	key := base.IdempotencyKey()
	if len(key) != 32 {
		t.Errorf("IdempotencyKey() = %q, want 32 hex digits", key)
	}

	same := base
	same.DueAt = due.In(berlin)
	if got := same.IdempotencyKey(); got != key {
		t.Errorf("key of the same instant in Berlin = %s, want %s", got, key)
	}

	variants := map[string]rotation.ReminderKey{
		"other credential": {CredentialID: "cred-b", DueAt: due, BeforeDue: 7 * day, Channel: "webhook"},
		"other due date":   {CredentialID: "cred-a", DueAt: due.Add(time.Microsecond), BeforeDue: 7 * day, Channel: "webhook"},
		"other offset":     {CredentialID: "cred-a", DueAt: due, BeforeDue: day, Channel: "webhook"},
		"other channel":    {CredentialID: "cred-a", DueAt: due, BeforeDue: 7 * day, Channel: "email"},
		"shifted boundary": {CredentialID: "cred-a|", DueAt: due, BeforeDue: 7 * day, Channel: "webhook"},
	}
	for name, k := range variants {
		if k.IdempotencyKey() == key {
			t.Errorf("%s: same idempotency key %s as the base reminder", name, key)
		}
	}
}

func TestDescribeOffset(t *testing.T) {
	t.Parallel()
	cases := map[time.Duration]string{
		14 * day:         "14 days before the due date",
		day:              "1 day before the due date",
		0:                "at the due date",
		-7 * day:         "7 days overdue",
		time.Hour:        "1 hour before the due date",
		-36 * time.Hour:  "36 hours overdue",
		90 * time.Minute: "1h30m0s before the due date",
	}
	for offset, want := range cases {
		if got := rotation.DescribeOffset(offset); got != want {
			t.Errorf("DescribeOffset(%v) = %q, want %q", offset, got, want)
		}
	}
}
