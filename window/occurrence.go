package window

import "time"

// Contains reports whether t falls in an occurrence of the window, which
// includes its opening instant and excludes its closing one. It is false
// for every t when w is the zero Window.
func (w Window) Contains(t time.Time) bool {
	start, end := w.Next(t)
	return !start.IsZero() && !start.After(t) && end.After(t)
}

// Next returns the opening and closing instants, in UTC, of the occurrence
// that contains t or, if none does, of the first one after t. The start is
// before t when t falls in an occurrence. Occurrences that the clocks skip
// entirely on a spring-forward night are passed over. Next returns zero
// times for the zero Window.
func (w Window) Next(t time.Time) (start, end time.Time) {
	if w.IsZero() {
		return time.Time{}, time.Time{}
	}
	year, month, day := t.In(w.loc).Date()
	// An occurrence lasts less than a day, so one that contains t started
	// at most a day before t's local date. Sixteen days ahead reach the
	// next occurrence of a weekly window even when the clocks skip one.
	for offset := -1; offset <= 16; offset++ {
		date := time.Date(year, month, day+offset, 0, 0, 0, 0, time.UTC)
		if !w.days.has(date.Weekday()) {
			continue
		}
		open, close := w.occurrence(date)
		if open.Equal(close) {
			continue
		}
		if close.After(t) {
			return open.UTC(), close.UTC()
		}
	}
	return time.Time{}, time.Time{}
}

// occurrence returns the instants at which the occurrence starting on the
// local date of date (a UTC midnight) opens and closes. They are equal
// when the clocks skip the whole occurrence.
func (w Window) occurrence(date time.Time) (open, close time.Time) {
	length := w.end - w.start
	if length < 0 {
		length += 24 * 60
	}
	open = firstInstant(w.loc, date.Add(time.Duration(w.start)*time.Minute))
	close = open.Add(time.Duration(length) * time.Minute)
	// The first instant at which the clock shows the end time is earlier
	// than open plus length only when the clocks jumped forward in between.
	if atEnd := firstInstant(w.loc, date.Add(time.Duration(w.start+length)*time.Minute)); atEnd.Before(close) {
		close = atEnd
	}
	return open, close
}

// firstInstant returns the first instant at which the clock in loc shows
// the wall-clock reading wall, which is written as a UTC time. When the
// clocks show it twice, that is the earlier instant. When the clocks skip
// it, firstInstant returns the instant at which they jump past it.
func firstInstant(loc *time.Location, wall time.Time) time.Time {
	// time.Date picks one of the two instants, or an instant in one of the
	// two zones, without saying which. A change of offset that affects
	// wall happens at a bound of the zone in effect at its guess, so the
	// candidates are wall read with the offsets on both sides of those
	// bounds.
	guess := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), 0, 0, loc)
	zoneStart, zoneEnd := guess.ZoneBounds()
	probes := []time.Time{guess}
	if !zoneStart.IsZero() {
		probes = append(probes, zoneStart.Add(-time.Second))
	}
	if !zoneEnd.IsZero() {
		probes = append(probes, zoneEnd)
	}

	var first, latest time.Time
	for _, probe := range probes {
		_, offset := probe.Zone()
		candidate := wall.Add(-time.Duration(offset) * time.Second).In(loc)
		if readsAs(candidate, wall) && (first.IsZero() || candidate.Before(first)) {
			first = candidate
		}
		if candidate.After(latest) {
			latest = candidate
		}
	}
	if !first.IsZero() {
		return first
	}

	// The clocks skip wall. Read with the smaller offset, the one in force
	// before the jump, wall lands after the jump, so the zone in effect
	// there starts at the jump.
	jump, _ := latest.ZoneBounds()
	if jump.IsZero() {
		return latest
	}
	return jump
}

// readsAs reports whether the clock shows wall at t, to the minute.
func readsAs(t, wall time.Time) bool {
	y1, m1, d1 := t.Date()
	y2, m2, d2 := wall.Date()
	return y1 == y2 && m1 == m2 && d1 == d2 && t.Hour() == wall.Hour() && t.Minute() == wall.Minute()
}
