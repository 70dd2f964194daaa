package vaultauth_test

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when the test moves it. Timers from
// After fire when the clock reaches them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	moves  int // how often the clock moved; a timer records the count when set
	timers []*fakeTimer
	added  chan struct{} // closed and replaced when a timer is set
}

type fakeTimer struct {
	at    time.Time
	moves int
	c     chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), added: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, &fakeTimer{at: c.now.Add(d), moves: c.moves, c: ch})
	close(c.added)
	c.added = make(chan struct{})
	return ch
}

// Set moves the clock to t and fires the timers due by then.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	c.moves++
	pending := c.timers[:0]
	for _, timer := range c.timers {
		if timer.at.After(t) {
			pending = append(pending, timer)
			continue
		}
		timer.c <- t
	}
	c.timers = pending
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// NextTimer waits until a timer has been set since the clock last moved,
// which the renewal loop does when it has finished a renewal or login and
// waits for the next one, and returns when the latest such timer fires.
func (c *fakeClock) NextTimer(t *testing.T) time.Time {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for i := len(c.timers) - 1; i >= 0; i-- {
			if c.timers[i].moves == c.moves {
				at := c.timers[i].at
				c.mu.Unlock()
				return at
			}
		}
		added := c.added
		c.mu.Unlock()

		select {
		case <-added:
		case <-deadline:
			t.Fatalf("the renewal loop set no timer within 10s")
		}
	}
}

// FireNext waits for the renewal loop's next timer and moves the clock to
// it.
func (c *fakeClock) FireNext(t *testing.T) time.Time {
	t.Helper()
	at := c.NextTimer(t)
	c.Set(at)
	return at
}
