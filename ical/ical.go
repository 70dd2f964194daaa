// Package ical writes iCalendar feeds (RFC 5545) that calendar apps can
// subscribe to, such as rotor's feed of credential due dates and
// low-traffic windows.
//
// Write produces CRLF line endings, folds lines longer than 75 octets
// without splitting a UTF-8 sequence, escapes TEXT values and writes every
// time in UTC with the Z suffix, so the feed needs no VTIMEZONE.
package ical

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"time"
)

// ContentType is the media type of what Write produces.
const ContentType = "text/calendar; charset=utf-8"

// prodID names rotor as the product that produced the calendar (PRODID).
const prodID = "-//rotor//rotor//EN"

// Calendar is one feed.
type Calendar struct {
	// Name is the feed's name, which calendar apps show for the
	// subscription. It is written as NAME (RFC 7986) and as
	// X-WR-CALNAME, the older property that more apps read. An empty
	// Name writes neither.
	Name string

	// Stamp is written as every event's DTSTAMP. The zero value means the
	// time at which Write is called.
	//
	// TODO: RFC 5545 (section 3.8.7.2) defines DTSTAMP in a calendar
	// without METHOD as the time the event's information was last
	// revised. One Stamp for all events does not say that. Each event
	// should carry the time its due date or window last changed.
	Stamp time.Time

	Events []Event
}

// Event is one VEVENT.
type Event struct {
	// UID identifies the event across requests, so a calendar app updates
	// it instead of adding a copy. It must be unique within the calendar
	// and must not change while the event means the same thing. A good
	// form names the kind, the credential and the event's start in Unix
	// seconds, such as "due-cred-a-1762561800@rotor" for a due date and
	// "window-cred-a-1762221600@rotor" for a low-traffic window. A moved
	// due date then gets a new UID, and an unchanged one keeps its UID.
	UID string

	Summary     string // short title, written as SUMMARY
	Description string // longer text that may contain newlines, written as DESCRIPTION unless empty
	URL         string // absolute URL of the matching page, such as the credential's, written as URL unless empty

	// Start is the instant the event begins, and End the instant it ends.
	// For a timed event, a zero End, or one equal to Start, makes an event
	// without DTEND, which RFC 5545 defines as ending when it starts.
	Start, End time.Time

	// AllDay makes the event cover whole days: the dates of Start and End
	// in UTC, both included. Dates are read in UTC so that the feed shows
	// the same day as rotor's UI and API. A zero End, or one on Start's
	// date, makes a one-day event.
	AllDay bool
}

// Write writes cal to w as an iCalendar object. It checks every event
// before writing anything, so an invalid calendar writes nothing. It
// returns an error for an empty or repeated UID, a UID with control
// characters, a zero Start, an End before Start, a URL that is not an
// absolute URL, and any error from w.
//
// TEXT values (the name, UIDs, summaries and descriptions) are escaped as
// RFC 5545 requires. In them, invalid UTF-8 becomes U+FFFD, CR LF and
// lone CR become a newline, and other control characters except tab are
// dropped, because TEXT cannot carry them.
func Write(w io.Writer, cal Calendar) error {
	urls, err := check(cal.Events)
	if err != nil {
		return fmt.Errorf("write calendar: %w", err)
	}
	stamp := cal.Stamp
	if stamp.IsZero() {
		stamp = time.Now()
	}

	var b bytes.Buffer
	line := func(name, value string) { writeLine(&b, name+":"+value) }

	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", prodID)
	line("CALSCALE", "GREGORIAN")
	if cal.Name != "" {
		line("NAME", escapeText(cal.Name))
		line("X-WR-CALNAME", escapeText(cal.Name))
	}
	// NOTE: RFC 5545's grammar requires at least one component in a
	// calendar. With no events this writes an empty calendar anyway,
	// because an event invented to fill it would show up in every
	// subscriber's calendar.
	for i, e := range cal.Events {
		line("BEGIN", "VEVENT")
		line("UID", escapeText(e.UID))
		line("DTSTAMP", formatUTC(stamp))
		writeTimes(line, e)
		line("SUMMARY", escapeText(e.Summary))
		if e.Description != "" {
			line("DESCRIPTION", escapeText(e.Description))
		}
		if urls[i] != "" {
			line("URL", urls[i])
		}
		// The events inform and do not block time, so they leave the
		// subscriber's free/busy state as it is.
		line("TRANSP", "TRANSPARENT")
		line("END", "VEVENT")
	}
	line("END", "VCALENDAR")

	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write calendar: %w", err)
	}
	return nil
}

// check validates events and returns their URLs in the form to write.
func check(events []Event) ([]string, error) {
	urls := make([]string, len(events))
	seen := make(map[string]bool, len(events))
	for i, e := range events {
		switch {
		case e.UID == "":
			return nil, fmt.Errorf("event %d: empty UID", i)
		case hasControl(e.UID):
			return nil, fmt.Errorf("event %d: UID %q contains a control character", i, e.UID)
		case seen[e.UID]:
			return nil, fmt.Errorf("event %d: UID %q repeats an earlier event's UID", i, e.UID)
		case e.Start.IsZero():
			return nil, fmt.Errorf("event %q: zero start time", e.UID)
		case !e.End.IsZero() && e.End.Before(e.Start):
			return nil, fmt.Errorf("event %q: end %s is before start %s", e.UID, e.End.UTC().Format(time.RFC3339), e.Start.UTC().Format(time.RFC3339))
		}
		seen[e.UID] = true

		if e.URL == "" {
			continue
		}
		u, err := url.Parse(e.URL)
		if err != nil {
			return nil, fmt.Errorf("event %q: parse URL: %w", e.UID, err)
		}
		if !u.IsAbs() || u.Host == "" {
			return nil, fmt.Errorf("event %q: URL %q is not an absolute URL with a host, such as https://rotor.example/credentials/cred-a", e.UID, e.URL)
		}
		urls[i] = u.String()
	}
	return urls, nil
}

// writeTimes writes DTSTART and, where the event has one, DTEND.
func writeTimes(line func(name, value string), e Event) {
	if e.AllDay {
		first := dateOf(e.Start)
		// DTEND of an all-day event is the day after its last day.
		after := first.AddDate(0, 0, 1)
		if !e.End.IsZero() {
			if last := dateOf(e.End); !last.Before(after) {
				after = last.AddDate(0, 0, 1)
			}
		}
		line("DTSTART;VALUE=DATE", first.Format("20060102"))
		line("DTEND;VALUE=DATE", after.Format("20060102"))
		return
	}
	line("DTSTART", formatUTC(e.Start))
	if e.End.After(e.Start) {
		line("DTEND", formatUTC(e.End))
	}
}

// dateOf returns midnight UTC of t's date in UTC.
func dateOf(t time.Time) time.Time {
	year, month, day := t.UTC().Date()
	return time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
}

// formatUTC formats t as an RFC 5545 DATE-TIME in UTC, to the second.
func formatUTC(t time.Time) string {
	return t.UTC().Format("20060102T150405Z")
}
