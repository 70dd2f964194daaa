package api

import (
	"bytes"
	"net/http"
	"time"

	"github.com/rotorhq/rotor/ical"
	"github.com/rotorhq/rotor/window"
)

// calendar serves the due dates as an iCalendar feed that teams can
// subscribe to: one event per credential on its due date, and one for its
// next low-traffic window before that date.
func (s *Server) calendar(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	creds, err := s.svc.Store().ListCredentials(r.Context())
	if err != nil {
		return err
	}

	now := s.now().UTC()
	cal := ical.Calendar{Name: "rotor: Persium secret rotations", Stamp: now}
	for _, c := range creds {
		due := c.NextDueAt()
		link := s.publicURL + "/credentials/" + c.ID
		if s.publicURL == "" {
			link = "http://" + r.Host + "/credentials/" + c.ID
		}
		cal.Events = append(cal.Events, ical.Event{
			UID:         "due-" + c.ID + "-" + due.Format("20060102T150405Z") + "@rotor",
			Summary:     "Rotate the Persium secret of " + c.ID + " (" + c.Organisation + ")",
			Description: "Client " + c.ClientID + " is due for rotation. Start the rotation in rotor.",
			URL:         link,
			Start:       due,
			End:         due.Add(time.Hour),
		})
		if c.Window == "" {
			continue
		}
		win, err := window.Parse(c.Window)
		if err != nil {
			continue
		}
		start, end := win.Next(now)
		if start.IsZero() || !start.Before(due) {
			continue
		}
		cal.Events = append(cal.Events, ical.Event{
			UID:         "window-" + c.ID + "-" + start.Format("20060102T150405Z") + "@rotor",
			Summary:     "Low-traffic window for " + c.ID,
			Description: "Promote and retire without a reason during " + win.String() + ".",
			URL:         link,
			Start:       start,
			End:         end,
		})
	}

	var buf bytes.Buffer
	if err := ical.Write(&buf, cal); err != nil {
		return err
	}
	w.Header().Set("Content-Type", ical.ContentType)
	_, _ = w.Write(buf.Bytes())
	return nil
}
