package window_test

import (
	"fmt"
	"time"

	"github.com/rotorhq/rotor/window"
)

func ExampleParse() {
	w, err := window.Parse("tue,thu 2:00-04:00 Europe/London")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(w)

	_, err = window.Parse("Tue 25:00-04:00 Europe/London")
	fmt.Println(err)
	// Output:
	// Tue,Thu 02:00-04:00 Europe/London
	// parse window "Tue 25:00-04:00 Europe/London": start time "25:00": the hour must be 00 to 23; an accepted window looks like "Tue 02:00-04:00 Europe/London"
}

// On the night the clocks in Berlin jump from 02:00 to 03:00, a window
// written 02:30-03:30 opens at the jump and is half an hour long.
func ExampleWindow_Next() {
	w, err := window.Parse("Sun 02:30-03:30 Europe/Berlin")
	if err != nil {
		fmt.Println(err)
		return
	}
	start, end := w.Next(time.Date(2026, time.March, 28, 12, 0, 0, 0, time.UTC))
	fmt.Println(start, end)
	// Output:
	// 2026-03-29 01:00:00 +0000 UTC 2026-03-29 01:30:00 +0000 UTC
}
