// Package window parses and evaluates low-traffic windows: recurring
// periods of local time, such as "Tue 02:00-04:00 Europe/London", in which
// an operator prefers to cut consumers over to a new secret.
//
// # Syntax
//
// A window is three parts separated by spaces: the days, a time range and
// an IANA time zone.
//
//	Tue 02:00-04:00 Europe/London
//	Tue,Thu 02:00-04:00 Europe/London
//	Mon-Fri 01:00-03:00 America/New_York
//	daily 23:30-01:00 UTC
//
// Days are English day names, abbreviated (Mon) or in full (Monday), in any
// letter case. They can be given as a comma-separated list (Tue,Thu), as a
// range (Mon-Fri, or Sat-Mon, which wraps over Sunday), as a mix of both
// (Mon-Wed,Fri), or as the word daily. The days name the day on which a
// window starts, so "Fri 23:00-01:00 UTC" runs from Friday 23:00 to
// Saturday 01:00.
//
// Times are 24-hour wall-clock times in the window's zone, written HH:MM
// or H:MM. An end time earlier than the start time means the window
// crosses midnight. Midnight is written 00:00, and 24:00 is rejected. The
// end time must differ from the start time, so a window lasts between one
// minute and 23 hours 59 minutes as written. The zone is a name from the IANA time
// zone database, such as Europe/Berlin or UTC. Local is rejected because
// its meaning depends on the host.
//
// # Daylight saving time
//
// A window opens at the first instant at which the local clock shows its
// start time. It closes at whichever comes first: its written length after
// it opens, or the first instant at which the local clock shows its end
// time. A daylight saving time change therefore never makes a window
// longer than written, and never keeps it open past its written end time.
// On the two nights a year when the clocks change, this means:
//
//   - Spring forward. When the clocks skip the start time, the window opens
//     at the instant they jump and closes at its written end time, so it is
//     shorter that night. In Europe/Berlin on 29 March 2026 the clocks jump
//     from 02:00 to 03:00, and a window written 02:30-03:30 runs from 03:00
//     to 03:30 local time. A window that lies wholly within the skipped
//     hour, such as 02:10-02:50, does not occur that night. The window is
//     shortened, not skipped, because what remains is still inside the
//     night hours the operator chose. Skipping it would delay a weekly
//     cutover by a week, possibly past the credential's due date.
//   - Fall back. When the clocks show the start time twice, the window
//     opens at the first occurrence and lasts its written length. In
//     Europe/Berlin on 25 October 2026 the clocks go back from 03:00 to
//     02:00, and a window written 02:30-03:30 opens at 02:30 summer time
//     (00:30 UTC) and closes one hour later, at the second 02:30 (01:30
//     UTC). The clocks then show 02:00 to 02:30 a second time, and that
//     second pass belongs to the window too.
package window

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// example is the window shown in every parse error as an accepted form.
const example = "Tue 02:00-04:00 Europe/London"

// Window is a recurring low-traffic window. Create one with Parse. The
// zero Window is empty: it contains no instant, and Next returns zero
// times for it.
type Window struct {
	days  weekdays       // the days on which the window starts
	start int            // start time in minutes after local midnight
	end   int            // end time in minutes after local midnight, less than start when the window crosses midnight
	loc   *time.Location // the zone in which start and end are read
}

// weekdays is a set of days, one bit per time.Weekday.
type weekdays uint8

const allDays weekdays = 1<<7 - 1

func (s weekdays) has(d time.Weekday) bool { return s&(1<<d) != 0 }

// ParseError describes text that Parse rejected.
type ParseError struct {
	Input  string // the text given to Parse
	Part   string // the part that is wrong: "days", "start time", "end time", "time range" or "time zone", or empty when the text is empty
	Value  string // the wrong part as written, or empty when the part is missing
	Reason string // what is wrong and what is accepted
	Err    error  // the underlying error, if any
}

func (e *ParseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "parse window %q: ", e.Input)
	switch {
	case e.Part == "":
	case e.Value == "":
		b.WriteString(e.Part + ": ")
	default:
		fmt.Fprintf(&b, "%s %q: ", e.Part, e.Value)
	}
	fmt.Fprintf(&b, "%s; an accepted window looks like %q", e.Reason, example)
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// Parse parses a window written as described in the package documentation.
// Surrounding and repeated spaces are ignored. Every error is a
// *ParseError that names the wrong part and shows an accepted window.
func Parse(s string) (Window, error) {
	fields := strings.Fields(s)
	fail := func(part, value, reason string, err error) (Window, error) {
		return Window{}, &ParseError{Input: s, Part: part, Value: value, Reason: reason, Err: err}
	}

	if len(fields) == 0 {
		return fail("", "", "the window is empty", nil)
	}
	days, reason := parseDays(fields[0])
	if reason != "" {
		return fail("days", fields[0], reason, nil)
	}

	if len(fields) < 2 {
		return fail("time range", "", "missing, expected a start and an end time after the days, such as 02:00-04:00", nil)
	}
	startText, endText, found := strings.Cut(fields[1], "-")
	if !found {
		return fail("time range", fields[1], "expected a start and an end time joined by a hyphen, such as 02:00-04:00", nil)
	}
	start, reason := parseClock(startText)
	if reason != "" {
		return fail("start time", startText, reason, nil)
	}
	end, reason := parseClock(endText)
	if reason != "" {
		return fail("end time", endText, reason, nil)
	}
	if start == end {
		return fail("time range", fields[1], "the end time equals the start time, so the window would be empty", nil)
	}

	if len(fields) < 3 {
		return fail("time zone", "", "missing, expected an IANA time zone after the time range, such as Europe/London or UTC", nil)
	}
	if len(fields) > 3 {
		return fail("time zone", strings.Join(fields[2:], " "), "expected one IANA time zone name without spaces as the last part", nil)
	}
	loc, reason, err := loadZone(fields[2])
	if reason != "" {
		return fail("time zone", fields[2], reason, err)
	}

	return Window{days: days, start: start, end: end, loc: loc}, nil
}

// dayNames lists the accepted spellings of each day.
var dayNames = map[string]time.Weekday{
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
	"sun": time.Sunday, "sunday": time.Sunday,
}

const daysHint = "expected Mon to Sun, a list such as Tue,Thu, a range such as Mon-Fri, or daily"

// parseDays returns the set of days in s, or a reason why s is invalid.
func parseDays(s string) (weekdays, string) {
	if strings.EqualFold(s, "daily") {
		return allDays, ""
	}
	var set weekdays
	for item := range strings.SplitSeq(s, ",") {
		if item == "" {
			return 0, "empty entry in the list of days, expected day names separated by single commas, such as Tue,Thu"
		}
		if strings.EqualFold(item, "daily") {
			return 0, "daily covers every day and cannot be combined with other days"
		}
		first, last, isRange := strings.Cut(item, "-")
		from, ok := dayNames[strings.ToLower(first)]
		if !ok {
			return 0, fmt.Sprintf("unknown day %q, %s", first, daysHint)
		}
		if !isRange {
			set |= 1 << from
			continue
		}
		to, ok := dayNames[strings.ToLower(last)]
		if !ok {
			return 0, fmt.Sprintf("unknown day %q, %s", last, daysHint)
		}
		if from == to {
			return 0, fmt.Sprintf("the range %q starts and ends on the same day, so write the day alone", item)
		}
		// A range runs forward through the week and may wrap over Sunday.
		for d := from; ; d = (d + 1) % 7 {
			set |= 1 << d
			if d == to {
				break
			}
		}
	}
	return set, ""
}

// parseClock returns the minutes after midnight of a time written H:MM or
// HH:MM, or a reason why s is invalid.
func parseClock(s string) (int, string) {
	const layout = "expected a 24-hour time written HH:MM, such as 02:00"
	hourText, minuteText, found := strings.Cut(s, ":")
	if !found || len(hourText) < 1 || len(hourText) > 2 || len(minuteText) != 2 || !digits(hourText) || !digits(minuteText) {
		return 0, layout
	}
	hour, _ := strconv.Atoi(hourText)
	minute, _ := strconv.Atoi(minuteText)
	switch {
	case hour == 24 && minute == 0:
		return 0, "midnight is written 00:00, and an end time earlier than the start time crosses midnight"
	case hour > 23:
		return 0, "the hour must be 00 to 23"
	case minute > 59:
		return 0, "the minute must be 00 to 59"
	}
	return hour*60 + minute, ""
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// loadZone loads an IANA time zone, or returns a reason why name is
// rejected and the error from time.LoadLocation, if any.
func loadZone(name string) (*time.Location, string, error) {
	if name == "Local" {
		return nil, "Local depends on the host's settings, so name the zone, such as Europe/London or UTC", nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		// time.LoadLocation reports an unknown name and a host without a
		// time zone database the same way.
		return nil, "unknown time zone, expected a name from the IANA time zone database such as Europe/London or UTC", err
	}
	return loc, "", nil
}

// IsZero reports whether w is the zero Window.
func (w Window) IsZero() bool { return w.loc == nil }

// Location returns the zone in which the window's times are read, or nil
// for the zero Window.
func (w Window) Location() *time.Location { return w.loc }

// dayAbbreviations is indexed by time.Weekday.
var dayAbbreviations = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// String returns the window in its canonical form, which Parse accepts and
// turns back into an equal Window. Days are abbreviated, and three or more
// consecutive days are written as a range. The zero Window returns "".
func (w Window) String() string {
	if w.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s %s-%s %s", w.days.String(), formatClock(w.start), formatClock(w.end), w.loc)
}

func (s weekdays) String() string {
	if s == allDays {
		return "daily"
	}
	// Begin with the first day, from Monday on, that opens a run of days,
	// so that a run wrapping over Sunday (Sat-Mon) stays in one piece.
	first := time.Monday
	for i := range 7 {
		d := (time.Monday + time.Weekday(i)) % 7
		if s.has(d) && !s.has((d+6)%7) {
			first = d
			break
		}
	}

	var items []string
	for i := 0; i < 7; {
		d := (first + time.Weekday(i)) % 7
		if !s.has(d) {
			i++
			continue
		}
		run := 1
		for i+run < 7 && s.has((d+time.Weekday(run))%7) {
			run++
		}
		last := (d + time.Weekday(run-1)) % 7
		switch run {
		case 1:
			items = append(items, dayAbbreviations[d])
		case 2:
			items = append(items, dayAbbreviations[d], dayAbbreviations[last])
		default:
			items = append(items, dayAbbreviations[d]+"-"+dayAbbreviations[last])
		}
		i += run
	}
	return strings.Join(items, ",")
}

func formatClock(minutes int) string {
	return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60)
}
