package window_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	// Embedded zone data makes the DST cases independent of the host's
	// time zone database.
	_ "time/tzdata"

	"github.com/rotorhq/rotor/window"
)

// setup returns a parser that fails the test on invalid text.
func setup(t *testing.T) func(string) window.Window {
	t.Helper()
	return func(s string) window.Window {
		t.Helper()
		w, err := window.Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		return w
	}
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse test time %q: %v", s, err)
	}
	return v.UTC()
}

func TestParseString(t *testing.T) {
	t.Parallel()
	parse := setup(t)

	tests := []struct {
		name, input, want string
	}{
		{"single day", "Tue 02:00-04:00 Europe/London", "Tue 02:00-04:00 Europe/London"},
		{"two days", "Tue,Thu 02:00-04:00 Europe/London", "Tue,Thu 02:00-04:00 Europe/London"},
		{"range", "Mon-Fri 01:00-03:00 America/New_York", "Mon-Fri 01:00-03:00 America/New_York"},
		{"daily across midnight", "daily 23:30-01:00 UTC", "daily 23:30-01:00 UTC"},
		{"any letter case and full names", "tuesday,THU 02:00-04:00 Europe/London", "Tue,Thu 02:00-04:00 Europe/London"},
		{"single-digit hour", "Tue 2:00-4:05 UTC", "Tue 02:00-04:05 UTC"},
		{"extra spaces", "  Tue   02:00-04:00\tUTC ", "Tue 02:00-04:00 UTC"},
		{"list becomes range", "Mon,Tue,Wed,Thu,Fri 01:00-03:00 UTC", "Mon-Fri 01:00-03:00 UTC"},
		{"two consecutive days stay a list", "Mon-Tue 01:00-03:00 UTC", "Mon,Tue 01:00-03:00 UTC"},
		{"range wrapping over Sunday", "Sat-Mon 01:00-03:00 UTC", "Sat-Mon 01:00-03:00 UTC"},
		{"range and day mixed", "Fri,Mon-Wed 01:00-03:00 UTC", "Mon-Wed,Fri 01:00-03:00 UTC"},
		{"repeated day", "Tue,Tue 01:00-03:00 UTC", "Tue 01:00-03:00 UTC"},
		{"whole week becomes daily", "Monday-Sunday 23:30-01:00 UTC", "daily 23:30-01:00 UTC"},
		{"daily in capitals", "DAILY 00:00-00:01 UTC", "daily 00:00-00:01 UTC"},
		{"ends at midnight", "Sun 22:00-00:00 Europe/Berlin", "Sun 22:00-00:00 Europe/Berlin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got := parse(tt.input).String()
			if got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.input, got, tt.want)
			}
			again := parse(got).String()
			if again != got {
				t.Errorf("Parse(%q).String() = %q, want it unchanged", got, again)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		input     string
		wantPart  string
		wantValue string
		wantText  string // a fragment the message must contain
	}{
		{"empty", "", "", "", "the window is empty"},
		{"only spaces", "   ", "", "", "the window is empty"},
		{"unknown day", "Tus 02:00-04:00 UTC", "days", "Tus", `unknown day "Tus"`},
		{"unknown day in range", "Mon-Fry 02:00-04:00 UTC", "days", "Mon-Fry", `unknown day "Fry"`},
		{"empty list entry", "Tue,,Thu 02:00-04:00 UTC", "days", "Tue,,Thu", "empty entry"},
		{"daily with a day", "daily,Mon 02:00-04:00 UTC", "days", "daily,Mon", "cannot be combined"},
		{"range of one day", "Mon-Mon 02:00-04:00 UTC", "days", "Mon-Mon", "same day"},
		{"time range missing", "Tue", "time range", "", "missing"},
		{"no hyphen", "Tue 02:00 UTC", "time range", "02:00", "joined by a hyphen"},
		{"hour 25", "Tue 25:00-04:00 UTC", "start time", "25:00", "the hour must be 00 to 23"},
		{"end hour 25", "Tue 02:00-25:00 UTC", "end time", "25:00", "the hour must be 00 to 23"},
		{"minute 60", "Tue 02:60-04:00 UTC", "start time", "02:60", "the minute must be 00 to 59"},
		{"24:00", "Tue 22:00-24:00 UTC", "end time", "24:00", "midnight is written 00:00"},
		{"no colon", "Tue 0200-0400 UTC", "start time", "0200", "HH:MM"},
		{"one-digit minute", "Tue 2:0-04:00 UTC", "start time", "2:0", "HH:MM"},
		{"sign in hour", "Tue +2:00-04:00 UTC", "start time", "+2:00", "HH:MM"},
		{"end missing", "Tue 02:00- UTC", "end time", "", "HH:MM"},
		{"end equals start", "Tue 02:00-02:00 UTC", "time range", "02:00-02:00", "end time equals the start time"},
		{"time zone missing", "Tue 02:00-04:00", "time zone", "", "missing"},
		{"unknown time zone", "Tue 02:00-04:00 Mars/Olympus", "time zone", "Mars/Olympus", "unknown time zone"},
		{"host time zone", "Tue 02:00-04:00 Local", "time zone", "Local", "depends on the host"},
		{"extra part", "Tue 02:00-04:00 Europe/London now", "time zone", "Europe/London now", "one IANA time zone name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			_, err := window.Parse(tt.input)
			if err == nil {
				t.Fatalf("Parse(%q) error = nil, want an error about %q", tt.input, tt.wantPart)
			}
			var perr *window.ParseError
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) error = %T, want *window.ParseError", tt.input, err)
			}
			if perr.Part != tt.wantPart {
				t.Errorf("Parse(%q) part = %q, want %q", tt.input, perr.Part, tt.wantPart)
			}
			if perr.Value != tt.wantValue {
				t.Errorf("Parse(%q) value = %q, want %q", tt.input, perr.Value, tt.wantValue)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.input, msg, tt.wantText)
			}
			if !strings.Contains(msg, tt.wantPart) {
				t.Errorf("Parse(%q) error = %q, want it to name the part %q", tt.input, msg, tt.wantPart)
			}
			if example := `"Tue 02:00-04:00 Europe/London"`; !strings.Contains(msg, example) {
				t.Errorf("Parse(%q) error = %q, want it to show the accepted window %s", tt.input, msg, example)
			}
		})
	}
}

func TestParseUnknownZoneWrapsCause(t *testing.T) {
	t.Parallel()

	_, err := window.Parse("Tue 02:00-04:00 Mars/Olympus")
	var perr *window.ParseError
	if !errors.As(err, &perr) {
		t.Fatalf("Parse error = %v, want *window.ParseError", err)
	}
	if perr.Err == nil {
		t.Errorf("ParseError.Err = nil, want the error from time.LoadLocation")
	}
}

// TestNextDST covers the 2026 clock changes. Europe/Berlin jumps from
// 02:00 CET to 03:00 CEST on 29 March (01:00 UTC) and goes back from 03:00
// CEST to 02:00 CET on 25 October (01:00 UTC). America/New_York jumps from
// 02:00 EST to 03:00 EDT on 8 March (07:00 UTC) and goes back from 02:00
// EDT to 01:00 EST on 1 November (06:00 UTC).
func TestNextDST(t *testing.T) {
	t.Parallel()
	parse := setup(t)

	tests := []struct {
		name      string
		window    string
		at        string
		wantStart string
		wantEnd   string
	}{
		// Europe/Berlin, spring forward.
		{"Berlin ordinary night before spring forward", "daily 02:30-03:30 Europe/Berlin", "2026-03-27T12:00:00Z", "2026-03-28T01:30:00Z", "2026-03-28T02:30:00Z"},
		{"Berlin start skipped opens at the jump", "Sun 02:30-03:30 Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"},
		{"Berlin start at the skipped 02:00", "Sun 02:00-04:00 Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"},
		{"Berlin spanning the jump is an hour shorter", "Sun 01:00-04:00 Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z"},
		{"Berlin end skipped closes at the jump", "Sun 01:00-02:30 Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z"},
		{"Berlin wholly skipped moves to next week", "Sun 02:10-02:50 Europe/Berlin", "2026-03-28T12:00:00Z", "2026-04-05T00:10:00Z", "2026-04-05T00:50:00Z"},
		{"Berlin across midnight into the jump", "Sat 23:00-03:30 Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-28T22:00:00Z", "2026-03-29T01:30:00Z"},
		{"Berlin ordinary night after spring forward", "daily 02:30-03:30 Europe/Berlin", "2026-03-29T12:00:00Z", "2026-03-30T00:30:00Z", "2026-03-30T01:30:00Z"},

		// Europe/Berlin, fall back.
		{"Berlin repeated start opens at first occurrence", "Sun 02:30-03:30 Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"},
		{"Berlin spanning fall back keeps its length", "Sun 01:00-04:00 Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-24T23:00:00Z", "2026-10-25T02:00:00Z"},
		{"Berlin wholly in repeated hour runs once", "Sun 02:10-02:50 Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:10:00Z", "2026-10-25T00:50:00Z"},
		{"Berlin repeated hour not reopened after first pass", "Sun 02:10-02:50 Europe/Berlin", "2026-10-25T01:00:00Z", "2026-11-01T01:10:00Z", "2026-11-01T01:50:00Z"},
		{"Berlin across midnight into fall back", "Sat 23:00-03:30 Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-24T21:00:00Z", "2026-10-25T01:30:00Z"},
		{"Berlin ordinary night after fall back", "daily 02:30-03:30 Europe/Berlin", "2026-10-25T12:00:00Z", "2026-10-26T01:30:00Z", "2026-10-26T02:30:00Z"},

		// America/New_York, spring forward.
		{"New York start skipped opens at the jump", "Sun 02:30-03:30 America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"},
		{"New York spanning the jump is an hour shorter", "Sun 01:00-04:00 America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z"},
		{"New York weekdays skip the weekend", "Mon-Fri 01:00-03:00 America/New_York", "2026-03-07T12:00:00Z", "2026-03-09T05:00:00Z", "2026-03-09T07:00:00Z"},
		{"New York weekday before the change", "Mon-Fri 01:00-03:00 America/New_York", "2026-03-05T12:00:00Z", "2026-03-06T06:00:00Z", "2026-03-06T08:00:00Z"},

		// America/New_York, fall back.
		{"New York repeated start opens at first occurrence", "Sun 01:30-02:30 America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"},
		{"New York repeated end closes at first occurrence", "Sun 00:30-01:30 America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z"},
		{"New York spanning fall back keeps its length", "Sun 00:00-03:00 America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T04:00:00Z", "2026-11-01T07:00:00Z"},

		// Midnight and the current occurrence.
		{"daily across midnight", "daily 23:30-01:00 UTC", "2026-06-01T12:00:00Z", "2026-06-01T23:30:00Z", "2026-06-02T01:00:00Z"},
		{"inside returns current occurrence", "daily 23:30-01:00 UTC", "2026-06-02T00:30:00Z", "2026-06-01T23:30:00Z", "2026-06-02T01:00:00Z"},
		{"at opening returns that occurrence", "daily 23:30-01:00 UTC", "2026-06-01T23:30:00Z", "2026-06-01T23:30:00Z", "2026-06-02T01:00:00Z"},
		{"at closing returns the next occurrence", "daily 23:30-01:00 UTC", "2026-06-02T01:00:00Z", "2026-06-02T23:30:00Z", "2026-06-03T01:00:00Z"},
		{"start day names the opening day", "Fri 23:00-01:00 UTC", "2026-06-06T00:30:00Z", "2026-06-05T23:00:00Z", "2026-06-06T01:00:00Z"},
		{"London summer time", "Tue 02:00-04:00 Europe/London", "2026-05-30T12:00:00Z", "2026-06-02T01:00:00Z", "2026-06-02T03:00:00Z"},
		{"London winter time", "Tue 02:00-04:00 Europe/London", "2026-01-01T12:00:00Z", "2026-01-06T02:00:00Z", "2026-01-06T04:00:00Z"},
		{"two days picks the nearer", "Tue,Thu 02:00-04:00 Europe/London", "2026-06-03T12:00:00Z", "2026-06-04T01:00:00Z", "2026-06-04T03:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := parse(tt.window)
			at := utc(t, tt.at)

			gotStart, gotEnd := w.Next(at)
			if want := utc(t, tt.wantStart); !gotStart.Equal(want) {
				t.Errorf("%q Next(%s) start = %s, want %s", tt.window, tt.at, gotStart.Format(time.RFC3339), tt.wantStart)
			}
			if want := utc(t, tt.wantEnd); !gotEnd.Equal(want) {
				t.Errorf("%q Next(%s) end = %s, want %s", tt.window, tt.at, gotEnd.Format(time.RFC3339), tt.wantEnd)
			}
			if gotStart.Location() != time.UTC || gotEnd.Location() != time.UTC {
				t.Errorf("%q Next(%s) locations = %s, %s, want UTC", tt.window, tt.at, gotStart.Location(), gotEnd.Location())
			}
		})
	}
}

func TestContains(t *testing.T) {
	t.Parallel()
	parse := setup(t)

	tests := []struct {
		name   string
		window string
		at     string
		want   bool
	}{
		{"opening instant", "daily 23:30-01:00 UTC", "2026-06-01T23:30:00Z", true},
		{"after midnight", "daily 23:30-01:00 UTC", "2026-06-02T00:59:59Z", true},
		{"closing instant", "daily 23:30-01:00 UTC", "2026-06-02T01:00:00Z", false},
		{"before opening", "daily 23:30-01:00 UTC", "2026-06-01T23:29:59Z", false},
		{"previous day's window after midnight", "Fri 23:00-01:00 UTC", "2026-06-06T00:30:00Z", true},
		{"other day after midnight", "Fri 23:00-01:00 UTC", "2026-06-05T00:30:00Z", false},
		{"other day", "Tue 02:00-04:00 Europe/London", "2026-06-03T02:00:00Z", false},
		{"weekday in New York", "Mon-Fri 01:00-03:00 America/New_York", "2026-06-03T05:30:00Z", true},
		{"weekend in New York", "Mon-Fri 01:00-03:00 America/New_York", "2026-06-06T05:30:00Z", false},
		{"Berlin skipped start before the jump", "Sun 02:30-03:30 Europe/Berlin", "2026-03-29T00:59:59Z", false},
		{"Berlin skipped start at the jump", "Sun 02:30-03:30 Europe/Berlin", "2026-03-29T01:00:00Z", true},
		{"Berlin first 02:30", "Sun 02:30-03:30 Europe/Berlin", "2026-10-25T00:30:00Z", true},
		{"Berlin second 02:00 to 02:30", "Sun 02:30-03:30 Europe/Berlin", "2026-10-25T01:15:00Z", true},
		{"Berlin second 02:30", "Sun 02:30-03:30 Europe/Berlin", "2026-10-25T01:30:00Z", false},
		{"Berlin second 03:00", "Sun 02:30-03:30 Europe/Berlin", "2026-10-25T02:00:00Z", false},
		{"New York first 01:45", "Sun 01:30-02:30 America/New_York", "2026-11-01T05:45:00Z", true},
		{"New York second 01:15", "Sun 01:30-02:30 America/New_York", "2026-11-01T06:15:00Z", true},
		{"New York second 01:45", "Sun 01:30-02:30 America/New_York", "2026-11-01T06:45:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := parse(tt.window)

			if got := w.Contains(utc(t, tt.at)); got != tt.want {
				t.Errorf("%q Contains(%s) = %v, want %v", tt.window, tt.at, got, tt.want)
			}
		})
	}
}

// TestNextInvariants walks in 10-minute steps through the weeks around the
// 2026 clock changes in Europe and North America, and checks the rules
// from the package documentation at every step.
func TestNextInvariants(t *testing.T) {
	t.Parallel()
	parse := setup(t)

	tests := []struct {
		window  string
		opens   string        // the start time as written
		written time.Duration // the length as written
	}{
		{"Sun 02:30-03:30 Europe/Berlin", "02:30", time.Hour},
		{"daily 01:00-04:00 Europe/Berlin", "01:00", 3 * time.Hour},
		{"daily 23:30-02:15 Europe/Berlin", "23:30", 2*time.Hour + 45*time.Minute},
		{"Mon-Fri 01:00-03:00 America/New_York", "01:00", 2 * time.Hour},
		{"Sat,Sun 01:30-02:30 America/New_York", "01:30", time.Hour},
		{"daily 23:30-01:00 UTC", "23:30", 90 * time.Minute},
		{"Tue 02:00-01:59 Europe/London", "02:00", 23*time.Hour + 59*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.window, func(t *testing.T) {
			t.Parallel()
			w := parse(tt.window)
			spans := [][2]time.Time{
				{utc(t, "2026-03-01T00:00:00Z"), utc(t, "2026-04-06T00:00:00Z")},
				{utc(t, "2026-10-18T00:00:00Z"), utc(t, "2026-11-09T00:00:00Z")},
			}

			for _, span := range spans {
				var prevStart, prevEnd time.Time
				for at := span[0]; at.Before(span[1]); at = at.Add(10 * time.Minute) {
					start, end := w.Next(at)
					if !start.Before(end) {
						t.Fatalf("Next(%s) = %s, %s, want start before end", at, start, end)
					}
					if !end.After(at) {
						t.Fatalf("Next(%s) end = %s, want after %s", at, end, at)
					}
					if got := end.Sub(start); got > tt.written {
						t.Fatalf("Next(%s) lasts %s, want at most the written %s", at, got, tt.written)
					}
					if got, want := w.Contains(at), !start.After(at); got != want {
						t.Fatalf("Contains(%s) = %v, want %v with Next = %s, %s", at, got, want, start, end)
					}
					local := start.In(w.Location())
					clockChange, _ := local.ZoneBounds()
					if local.Format("15:04") != tt.opens && !clockChange.Equal(start) {
						t.Fatalf("Next(%s) opens at %s, want %s local or a clock change", at, local, tt.opens)
					}
					if start.Equal(prevStart) != end.Equal(prevEnd) {
						t.Fatalf("Next(%s) = %s, %s, overlaps the previous %s, %s", at, start, end, prevStart, prevEnd)
					}
					if !start.Equal(prevStart) && start.Before(prevEnd) {
						t.Fatalf("Next(%s) opens at %s, before the previous occurrence closes at %s", at, start, prevEnd)
					}
					prevStart, prevEnd = start, end
				}
			}
		})
	}
}

func TestZeroWindow(t *testing.T) {
	t.Parallel()

	var w window.Window
	at := utc(t, "2026-06-01T00:00:00Z")
	if !w.IsZero() {
		t.Errorf("IsZero() = false, want true")
	}
	if got := w.String(); got != "" {
		t.Errorf("String() = %q, want empty", got)
	}
	if w.Contains(at) {
		t.Errorf("Contains(%s) = true, want false", at)
	}
	if start, end := w.Next(at); !start.IsZero() || !end.IsZero() {
		t.Errorf("Next(%s) = %s, %s, want zero times", at, start, end)
	}
}
