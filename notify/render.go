package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Render builds the subject line and the plain-text body of m, with dates
// shown in loc (UTC when loc is nil). A non-empty m.Subject or m.Text
// replaces the built one. A built body names the credential, the
// organisation, the client id, the due date, the days left, the reminder
// offset and the link to rotor, leaving out only the fields that are empty.
// The subject is always one line: control characters become spaces.
func Render(m Message, loc *time.Location) (subject, text string) {
	if loc == nil {
		loc = time.UTC
	}
	subject = m.Subject
	if subject == "" {
		subject = buildSubject(m, loc)
	}
	text = m.Text
	if text == "" {
		text = buildText(m, loc)
	}
	return oneLine(subject), text
}

func buildSubject(m Message, loc *time.Location) string {
	who := subjectName(m)
	date := func(format string) string {
		if m.DueAt.IsZero() {
			return ""
		}
		return fmt.Sprintf(format, m.DueAt.In(loc).Format(time.DateOnly))
	}

	switch m.Kind {
	case KindReminder:
		if m.DaysLeft <= 0 {
			return "[rotor] Client secret of " + who + " is due for rotation today" + date(" (%s)")
		}
		return "[rotor] Rotate the client secret of " + who + " within " + days(m.DaysLeft) + date(", by %s")
	case KindOverdue:
		return "[rotor] Client secret of " + who + " is " + days(-m.DaysLeft) + " overdue" + date(" (due %s)")
	case KindUrgent:
		return "[rotor] URGENT: compromise reported for the client secret of " + who + ", rotate it now"
	default:
		return "[rotor] Alert for the client secret of " + who
	}
}

func buildText(m Message, loc *time.Location) string {
	var b strings.Builder
	org := m.Organisation
	if org == "" {
		org = "credential " + m.CredentialID
	}

	switch m.Kind {
	case KindReminder:
		if m.DaysLeft <= 0 {
			fmt.Fprintf(&b, "The client secret of %s is due for rotation today.\n", org)
		} else {
			fmt.Fprintf(&b, "The client secret of %s is due for rotation in %s.\n", org, days(m.DaysLeft))
		}
		b.WriteString("Ask the vendor for a new secret and start the rotation in rotor.\n")
	case KindOverdue:
		fmt.Fprintf(&b, "The client secret of %s was due for rotation %s ago and has not been rotated.\n", org, days(-m.DaysLeft))
		b.WriteString("Start the rotation in rotor now.\n")
	case KindUrgent:
		fmt.Fprintf(&b, "A compromise of the client secret of %s has been reported, and an emergency rotation is open.\n", org)
		b.WriteString("Contact the vendor at once and follow the steps in rotor.\n")
	default:
		fmt.Fprintf(&b, "rotor reports a problem with the client secret of %s.\n", org)
		b.WriteString("Open the credential in rotor for details.\n")
	}
	b.WriteString("\n")

	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-14s%s\n", name+":", value)
		}
	}
	field("Credential", m.CredentialID)
	field("Organisation", m.Organisation)
	field("Client ID", m.ClientID)
	if !m.DueAt.IsZero() {
		field("Due date", m.DueAt.In(loc).Format("Mon 2006-01-02 15:04 MST (-07:00)"))
		field("Days left", daysLeft(m.DaysLeft))
	}
	field("Reminder", m.Offset)
	if m.URL != "" {
		fmt.Fprintf(&b, "\nOpen in rotor: %s\n", m.URL)
	}
	return b.String()
}

// subjectName names the credential as "Acme GmbH (cred-a)", or by its id
// alone when the organisation is unknown.
func subjectName(m Message) string {
	if m.Organisation == "" {
		return m.CredentialID
	}
	return m.Organisation + " (" + m.CredentialID + ")"
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

func daysLeft(n int) string {
	switch {
	case n == 0:
		return "0 (due today)"
	case n < 0:
		return strconv.Itoa(n) + " (" + days(-n) + " overdue)"
	default:
		return strconv.Itoa(n)
	}
}

// oneLine replaces control characters, line breaks included, with spaces,
// so a subject cannot add a header line to an e-mail.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
