package metrics

import (
	"slices"
	"sync"
	"time"
)

// BackendStatus is the outcome of the latest call rotor made to one
// configured secrets manager, for /readyz. It holds the result label only,
// never an error's text.
type BackendStatus struct {
	Backend string    // the configured name, such as "vault-prod"
	At      time.Time // when the call returned
	Op      string    // the call, such as "promote" or "current"
	Result  string    // ResultLabel of its error: "ok", "unavailable", …
}

// Failing reports whether the result shows the secrets manager itself
// failing (unreachable, refusing rotor's credentials, or an error of no
// kind), as opposed to a result about one secret, such as a conflict or a
// missing version.
func (b BackendStatus) Failing() bool {
	switch b.Result {
	case "unavailable", "access", "other":
		return true
	}
	return false
}

// backendStatuses keeps the latest BackendStatus per backend.
type backendStatuses struct {
	mu     sync.Mutex
	latest map[string]BackendStatus
}

func (s *backendStatuses) record(b BackendStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil {
		s.latest = map[string]BackendStatus{}
	}
	s.latest[b.Backend] = b
}

// BackendStatuses returns the latest call's outcome for each backend that
// rotor called since it started, ordered by backend name.
func (m *Metrics) BackendStatuses() []BackendStatus {
	m.statuses.mu.Lock()
	defer m.statuses.mu.Unlock()
	out := make([]BackendStatus, 0, len(m.statuses.latest))
	for _, b := range m.statuses.latest {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b BackendStatus) int {
		switch {
		case a.Backend < b.Backend:
			return -1
		case a.Backend > b.Backend:
			return 1
		}
		return 0
	})
	return out
}
