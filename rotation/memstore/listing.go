package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/rotation"
)

// ListCredentialPage sorts every credential and cuts out the page: the
// memory store serves `rotor dev`, with a handful of credentials.
func (s *Store) ListCredentialPage(ctx context.Context, after rotation.CredentialCursor, limit int) ([]rotation.Credential, rotation.CredentialCursor, error) {
	if limit < 1 {
		return nil, rotation.CredentialCursor{}, fmt.Errorf("list credentials: page size %d is below 1: %w", limit, rotation.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	var page []rotation.Credential
	for _, c := range s.sortedCredentials() {
		if !after.IsZero() && compareCursors(rotation.CursorAfter(c), after) <= 0 {
			continue
		}
		if len(page) == limit {
			return page, rotation.CursorAfter(page[len(page)-1]), nil
		}
		page = append(page, c)
	}
	return page, rotation.CredentialCursor{}, nil
}

func (s *Store) SummarizeCredentials(ctx context.Context, now time.Time, soon time.Duration) (rotation.CredentialSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	now = now.UTC().Truncate(time.Microsecond)
	var sum rotation.CredentialSummary
	for _, c := range s.credentials {
		sum.Total++
		due := rotation.CursorAfter(c).NextDueAt
		switch {
		case due.Before(now):
			sum.Overdue++
		case !due.After(now.Add(soon)):
			sum.DueSoon++
		}
		if s.withOpen(c).OpenRotationID != "" {
			sum.OpenRotations++
		}
	}
	return sum, nil
}
