package ical_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	// Embedded zone data makes the tests independent of the host's time
	// zone database.
	_ "time/tzdata"

	"github.com/google/go-cmp/cmp"

	"github.com/rotorhq/rotor/ical"
)

// stamp is the DTSTAMP of the test calendars.
var stamp = time.Date(2025, time.November, 1, 9, 30, 0, 0, time.UTC)

// setup returns a function that writes a calendar and fails the test on
// an error.
func setup(t *testing.T) func(ical.Calendar) string {
	t.Helper()
	return func(cal ical.Calendar) string {
		t.Helper()
		var b bytes.Buffer
		if err := ical.Write(&b, cal); err != nil {
			t.Fatalf("Write: %v", err)
		}
		return b.String()
	}
}

func crlf(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n"
}

func TestWriteGolden(t *testing.T) {
	t.Parallel()
	write := setup(t)

	got := write(ical.Calendar{
		Name:  "rotor due dates",
		Stamp: stamp,
		Events: []ical.Event{
			{
				UID:         "due-cred-a-1762561800@rotor",
				Summary:     "Rotate cred-a, due today",
				Description: "Persium client client-a, last rotated 2025-08-10.\nOpen rotor to request the rotation.",
				URL:         "https://rotor.example/credentials/cred-a",
				Start:       time.Date(2025, time.November, 8, 0, 30, 0, 0, time.UTC),
				AllDay:      true,
			},
			{
				UID:         "window-cred-a-1762221600@rotor",
				Summary:     "Low-traffic window for cred-a",
				Description: "Tue 02:00-04:00 Europe/London",
				URL:         "https://rotor.example/credentials/cred-a",
				Start:       time.Date(2025, time.November, 4, 2, 0, 0, 0, time.UTC),
				End:         time.Date(2025, time.November, 4, 4, 0, 0, 0, time.UTC),
			},
		},
	})

	want := crlf(
		"BEGIN:VCALENDAR",
		"VERSION:2.0",
		"PRODID:-//rotor//rotor//EN",
		"CALSCALE:GREGORIAN",
		"NAME:rotor due dates",
		"X-WR-CALNAME:rotor due dates",
		"BEGIN:VEVENT",
		"UID:due-cred-a-1762561800@rotor",
		"DTSTAMP:20251101T093000Z",
		"DTSTART;VALUE=DATE:20251108",
		"DTEND;VALUE=DATE:20251109",
		`SUMMARY:Rotate cred-a\, due today`,
		`DESCRIPTION:Persium client client-a\, last rotated 2025-08-10.\nOpen rotor `,
		` to request the rotation.`,
		"URL:https://rotor.example/credentials/cred-a",
		"TRANSP:TRANSPARENT",
		"END:VEVENT",
		"BEGIN:VEVENT",
		"UID:window-cred-a-1762221600@rotor",
		"DTSTAMP:20251101T093000Z",
		"DTSTART:20251104T020000Z",
		"DTEND:20251104T040000Z",
		"SUMMARY:Low-traffic window for cred-a",
		"DESCRIPTION:Tue 02:00-04:00 Europe/London",
		"URL:https://rotor.example/credentials/cred-a",
		"TRANSP:TRANSPARENT",
		"END:VEVENT",
		"END:VCALENDAR",
	)
	if diff := cmp.Diff(strings.Split(want, "\r\n"), strings.Split(got, "\r\n")); diff != "" {
		t.Errorf("Write output mismatch, lines split at CRLF (-want +got):\n%s", diff)
	}
	if got != want {
		t.Errorf("Write output = %q, want %q", got, want)
	}
}

func TestWriteFoldsLongUTF8Summary(t *testing.T) {
	t.Parallel()
	write := setup(t)

	tests := []struct {
		name    string
		summary string
	}{
		{"two-octet letters", strings.Repeat("é", 100)},
		{"three-octet letters", strings.Repeat("€", 80)},
		{"four-octet emoji", strings.Repeat("🔑", 60)},
		{"mixed scripts", strings.Repeat("Rotate ключ 秘密 🔑 now, ", 12)},
		{"exactly one line", strings.Repeat("a", 75-len("SUMMARY:"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := write(ical.Calendar{Stamp: stamp, Events: []ical.Event{{
				UID: "fold@rotor", Summary: tt.summary, Start: stamp,
			}}})

			for i, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
				if len(line) > 75 {
					t.Errorf("line %d is %d octets, want at most 75: %q", i, len(line), line)
				}
				if !utf8.ValidString(line) {
					t.Errorf("line %d is not valid UTF-8, so a fold split a character: %q", i, line)
				}
			}
			props := parse(t, out)
			if got := props.event(t, 0).text(t, "SUMMARY"); got != tt.summary {
				t.Errorf("unfolded SUMMARY = %q, want %q", got, tt.summary)
			}
		})
	}
}

// The first line of a folded SUMMARY ends before a character that would
// straddle the 75th octet, so it is one octet short.
func TestWriteFoldBacksOffBeforeCharacter(t *testing.T) {
	t.Parallel()
	write := setup(t)

	// "SUMMARY:" is 8 octets, so 33 two-octet letters reach 74 octets and
	// the 34th would end at octet 76.
	out := write(ical.Calendar{Stamp: stamp, Events: []ical.Event{{
		UID: "fold@rotor", Summary: strings.Repeat("é", 40), Start: stamp,
	}}})

	want := crlf("SUMMARY:"+strings.Repeat("é", 33), " "+strings.Repeat("é", 7))
	if !strings.Contains(out, want) {
		t.Errorf("Write output = %q, want it to contain %q", out, want)
	}
}

func TestWriteEscapesText(t *testing.T) {
	t.Parallel()
	write := setup(t)

	tests := []struct {
		name     string
		input    string
		wantRaw  string // the value as written, unfolded
		wantText string // the value a reader gets back
	}{
		{"comma", "a,b", `a\,b`, "a,b"},
		{"semicolon", "a;b", `a\;b`, "a;b"},
		{"backslash", `a\b`, `a\\b`, `a\b`},
		{"backslash before n", `C:\new`, `C:\\new`, `C:\new`},
		{"newline", "a\nb", `a\nb`, "a\nb"},
		{"CR LF", "a\r\nb", `a\nb`, "a\nb"},
		{"lone CR", "a\rb", `a\nb`, "a\nb"},
		{"colon and quotes kept", `key: "value"`, `key: "value"`, `key: "value"`},
		{"tab kept", "a\tb", "a\tb", "a\tb"},
		{"control character dropped", "a\x00b\x1bc\x7f", "abc", "abc"},
		{"invalid UTF-8 replaced", "a\xffb", "a\uFFFDb", "a\uFFFDb"},
		{"all together", "x,y;z\\\n", `x\,y\;z\\\n`, "x,y;z\\\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := write(ical.Calendar{Name: tt.input, Stamp: stamp, Events: []ical.Event{{
				UID: "escape-" + tt.name + "@rotor", Summary: tt.input, Description: tt.input, Start: stamp,
			}}})

			props := parse(t, out)
			event := props.event(t, 0)
			for _, name := range []string{"SUMMARY", "DESCRIPTION"} {
				if got := event.raw(t, name); got != tt.wantRaw {
					t.Errorf("%s written as %q, want %q", name, got, tt.wantRaw)
				}
				if got := event.text(t, name); got != tt.wantText {
					t.Errorf("%s read back as %q, want %q", name, got, tt.wantText)
				}
			}
			if got := props.calendar.text(t, "NAME"); got != tt.wantText {
				t.Errorf("NAME read back as %q, want %q", got, tt.wantText)
			}
		})
	}
}

func TestWriteParseBack(t *testing.T) {
	t.Parallel()
	write := setup(t)

	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("load time zone: %v", err)
	}
	cal := ical.Calendar{
		Name:  "Persium credentials, production",
		Stamp: time.Date(2026, time.March, 1, 8, 15, 42, 999, berlin),
		Events: []ical.Event{
			{
				UID:         "due-cred-a-1782000000@rotor",
				Summary:     "Rotate cred-a; overdue",
				Description: "Organisation: Acme Ltd.\nClient: client-a\nPath: C:\\rotor",
				URL:         "https://rotor.example/credentials/cred-a?tab=history#due",
				// 23:30 in Berlin is 22:30 UTC, so the UTC date is the one
				// written.
				Start:  time.Date(2026, time.June, 20, 23, 30, 0, 0, berlin),
				AllDay: true,
			},
			{
				UID:     "window-cred-a-1781920800@rotor",
				Summary: "Low-traffic window for cred-a",
				Start:   time.Date(2026, time.June, 19, 4, 0, 0, 0, berlin),
				End:     time.Date(2026, time.June, 19, 6, 0, 0, 0, berlin),
			},
			{
				UID:     "due-cred-b-1782000000@rotor",
				Summary: "Rotate cred-b",
				Start:   time.Date(2026, time.June, 21, 0, 0, 0, 0, time.UTC),
			},
			{
				UID:     "freeze-cred-c@rotor",
				Summary: "Rotation freeze for cred-c",
				Start:   time.Date(2026, time.July, 1, 12, 0, 0, 0, time.UTC),
				End:     time.Date(2026, time.July, 3, 12, 0, 0, 0, time.UTC),
				AllDay:  true,
			},
		},
	}
	out := write(cal)

	if strings.Contains(strings.ReplaceAll(out, "\r\n", ""), "\n") {
		t.Errorf("output contains a line feed without a carriage return: %q", out)
	}
	if !strings.HasSuffix(out, "END:VCALENDAR\r\n") {
		t.Errorf("output ends with %q, want END:VCALENDAR and CRLF", out[max(0, len(out)-20):])
	}

	props := parse(t, out)
	wantCalendar := map[string]string{
		"VERSION":      "2.0",
		"PRODID":       "-//rotor//rotor//EN",
		"CALSCALE":     "GREGORIAN",
		"NAME":         `Persium credentials\, production`,
		"X-WR-CALNAME": `Persium credentials\, production`,
	}
	if diff := cmp.Diff(wantCalendar, props.calendar.values()); diff != "" {
		t.Errorf("calendar properties mismatch (-want +got):\n%s", diff)
	}

	want := []map[string]string{
		{
			"UID":                "due-cred-a-1782000000@rotor",
			"DTSTAMP":            "20260301T071542Z",
			"DTSTART;VALUE=DATE": "20260620",
			"DTEND;VALUE=DATE":   "20260621",
			"SUMMARY":            `Rotate cred-a\; overdue`,
			"DESCRIPTION":        `Organisation: Acme Ltd.\nClient: client-a\nPath: C:\\rotor`,
			"URL":                "https://rotor.example/credentials/cred-a?tab=history#due",
			"TRANSP":             "TRANSPARENT",
		},
		{
			"UID":     "window-cred-a-1781920800@rotor",
			"DTSTAMP": "20260301T071542Z",
			"DTSTART": "20260619T020000Z",
			"DTEND":   "20260619T040000Z",
			"SUMMARY": "Low-traffic window for cred-a",
			"TRANSP":  "TRANSPARENT",
		},
		{
			"UID":     "due-cred-b-1782000000@rotor",
			"DTSTAMP": "20260301T071542Z",
			"DTSTART": "20260621T000000Z",
			"SUMMARY": "Rotate cred-b",
			"TRANSP":  "TRANSPARENT",
		},
		{
			"UID":                "freeze-cred-c@rotor",
			"DTSTAMP":            "20260301T071542Z",
			"DTSTART;VALUE=DATE": "20260701",
			"DTEND;VALUE=DATE":   "20260704",
			"SUMMARY":            "Rotation freeze for cred-c",
			"TRANSP":             "TRANSPARENT",
		},
	}
	if got := len(props.events); got != len(want) {
		t.Fatalf("parsed %d events, want %d", got, len(want))
	}
	for i := range want {
		if diff := cmp.Diff(want[i], props.events[i].values()); diff != "" {
			t.Errorf("event %d properties mismatch (-want +got):\n%s", i, diff)
		}
	}
	if got, want := props.event(t, 0).text(t, "DESCRIPTION"), cal.Events[0].Description; got != want {
		t.Errorf("event 0 DESCRIPTION read back as %q, want %q", got, want)
	}
}

func TestWriteAllDayEndOnStartDate(t *testing.T) {
	t.Parallel()
	write := setup(t)

	start := time.Date(2026, time.May, 4, 9, 0, 0, 0, time.UTC)
	out := write(ical.Calendar{Stamp: stamp, Events: []ical.Event{{
		UID: "same-day@rotor", Summary: "s", Start: start, End: start.Add(3 * time.Hour), AllDay: true,
	}}})

	event := parse(t, out).event(t, 0)
	if got := event.raw(t, "DTSTART;VALUE=DATE"); got != "20260504" {
		t.Errorf("DTSTART = %q, want 20260504", got)
	}
	if got := event.raw(t, "DTEND;VALUE=DATE"); got != "20260505" {
		t.Errorf("DTEND = %q, want 20260505, the day after a one-day event", got)
	}
}

func TestWriteZeroStampUsesNow(t *testing.T) {
	t.Parallel()
	write := setup(t)

	before := time.Now().UTC().Truncate(time.Second)
	out := write(ical.Calendar{Events: []ical.Event{{UID: "now@rotor", Summary: "s", Start: stamp}}})
	after := time.Now().UTC()

	raw := parse(t, out).event(t, 0).raw(t, "DTSTAMP")
	got, err := time.Parse("20060102T150405Z", raw)
	if err != nil {
		t.Fatalf("parse DTSTAMP %q: %v", raw, err)
	}
	if got.Before(before) || got.After(after) {
		t.Errorf("DTSTAMP = %s, want between %s and %s", got, before, after)
	}
}

func TestWriteEmptyCalendar(t *testing.T) {
	t.Parallel()
	write := setup(t)

	got := write(ical.Calendar{Stamp: stamp})
	want := crlf("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//rotor//rotor//EN", "CALSCALE:GREGORIAN", "END:VCALENDAR")
	if got != want {
		t.Errorf("Write output = %q, want %q", got, want)
	}
}

func TestWriteRejectsInvalidEvents(t *testing.T) {
	t.Parallel()

	valid := ical.Event{UID: "ok@rotor", Summary: "ok", Start: stamp}
	tests := []struct {
		name     string
		event    ical.Event
		wantText string
	}{
		{"empty UID", ical.Event{Summary: "s", Start: stamp}, "empty UID"},
		{"repeated UID", valid, "repeats"},
		{"UID with newline", ical.Event{UID: "a\r\nDTSTART:19700101T000000Z", Start: stamp}, "control character"},
		{"zero start", ical.Event{UID: "z@rotor"}, "zero start time"},
		{"end before start", ical.Event{UID: "e@rotor", Start: stamp, End: stamp.Add(-time.Minute)}, "before start"},
		{"all-day end before start", ical.Event{UID: "e@rotor", Start: stamp, End: stamp.Add(-48 * time.Hour), AllDay: true}, "before start"},
		{"relative URL", ical.Event{UID: "u@rotor", Start: stamp, URL: "/credentials/cred-a"}, "not an absolute URL with a host"},
		{"URL without host", ical.Event{UID: "u@rotor", Start: stamp, URL: "mailto:ops@example.com"}, "not an absolute URL with a host"},
		{"URL with newline", ical.Event{UID: "u@rotor", Start: stamp, URL: "https://rotor.example/\r\nX-INJECTED:1"}, "parse URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer

			err := ical.Write(&b, ical.Calendar{Stamp: stamp, Events: []ical.Event{valid, tt.event}})
			if err == nil {
				t.Fatalf("Write error = nil, want an error containing %q", tt.wantText)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Write error = %q, want it to contain %q", err, tt.wantText)
			}
			if b.Len() != 0 {
				t.Errorf("Write wrote %d bytes for an invalid calendar, want none", b.Len())
			}
		})
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteReturnsWriterError(t *testing.T) {
	t.Parallel()

	sentinel := errors.New("connection reset")
	err := ical.Write(failingWriter{sentinel}, ical.Calendar{Stamp: stamp})
	if !errors.Is(err, sentinel) {
		t.Errorf("Write error = %v, want it to wrap %v", err, sentinel)
	}
}

// A minimal reader for what Write produces: it unfolds lines, splits each
// into a name with parameters and a value, and groups them by component.
// It does not handle quoted parameter values, which Write never writes.

type component []property

type property struct {
	name  string // the name and any parameters, such as DTSTART;VALUE=DATE
	value string // the value as written, still escaped
}

type parsed struct {
	calendar component
	events   []component
}

func parse(t *testing.T, out string) parsed {
	t.Helper()
	if !strings.HasSuffix(out, "\r\n") {
		t.Fatalf("output does not end with CRLF: %q", out)
	}

	var lines []string
	for physical := range strings.SplitSeq(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if strings.HasPrefix(physical, " ") || strings.HasPrefix(physical, "\t") {
			if len(lines) == 0 {
				t.Fatalf("output starts with a folded line: %q", physical)
			}
			lines[len(lines)-1] += physical[1:]
			continue
		}
		lines = append(lines, physical)
	}

	var p parsed
	var current *component
	for _, line := range lines {
		name, value, found := strings.Cut(line, ":")
		if !found {
			t.Fatalf("content line without a colon: %q", line)
		}
		switch {
		case name == "BEGIN" && value == "VEVENT":
			p.events = append(p.events, nil)
			current = &p.events[len(p.events)-1]
		case name == "END" && value == "VEVENT":
			current = nil
		case name == "BEGIN" || name == "END":
		case current != nil:
			*current = append(*current, property{name, value})
		default:
			p.calendar = append(p.calendar, property{name, value})
		}
	}
	return p
}

func (p parsed) event(t *testing.T, i int) component {
	t.Helper()
	if i >= len(p.events) {
		t.Fatalf("output has %d events, want at least %d", len(p.events), i+1)
	}
	return p.events[i]
}

// values returns the component's properties by name. A repeated property
// gets both values in one entry, so the caller's diff shows it.
func (c component) values() map[string]string {
	m := make(map[string]string, len(c))
	for _, prop := range c {
		if _, ok := m[prop.name]; ok {
			m[prop.name] += " (repeated) " + prop.value
			continue
		}
		m[prop.name] = prop.value
	}
	return m
}

func (c component) raw(t *testing.T, name string) string {
	t.Helper()
	for _, prop := range c {
		if prop.name == name {
			return prop.value
		}
	}
	t.Fatalf("property %s missing from %v", name, c)
	return ""
}

// text returns a TEXT property's value with RFC 5545 escapes undone.
func (c component) text(t *testing.T, name string) string {
	t.Helper()
	raw := c.raw(t, name)
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			b.WriteByte(raw[i])
			continue
		}
		i++
		if i == len(raw) {
			t.Fatalf("%s ends with a lone backslash: %q", name, raw)
		}
		switch raw[i] {
		case 'n', 'N':
			b.WriteByte('\n')
		case '\\', ';', ',':
			b.WriteByte(raw[i])
		default:
			t.Fatalf("%s has an invalid escape \\%c: %q", name, raw[i], raw)
		}
	}
	return b.String()
}
