package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/rotation"
)

// ListCredentialPage is a keyset query on the index credentials_by_next_due:
// the row comparison (next_due_at, id) > cursor lets Postgres start the
// index scan at the cursor, so a page costs the same wherever it is in
// the list. It reads one row more than limit to learn whether a next page
// exists.
func (s *Store) ListCredentialPage(ctx context.Context, after rotation.CredentialCursor, limit int) ([]rotation.Credential, rotation.CredentialCursor, error) {
	if limit < 1 {
		return nil, rotation.CredentialCursor{}, fmt.Errorf("list credentials: page size %d is below 1: %w", limit, rotation.ErrInvalid)
	}

	var (
		rows pgx.Rows
		err  error
	)
	if after.IsZero() {
		rows, err = s.pool.Query(ctx, `SELECT `+credentialColumns+` FROM credentials c
			ORDER BY c.next_due_at, c.id LIMIT $1`, limit+1)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+credentialColumns+` FROM credentials c
			WHERE (c.next_due_at, c.id) > ($1, $2)
			ORDER BY c.next_due_at, c.id LIMIT $3`, after.NextDueAt.UTC(), after.ID, limit+1)
	}
	if err != nil {
		return nil, rotation.CredentialCursor{}, mapError(fmt.Errorf("list credentials: %w", err))
	}
	page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rotation.Credential, error) { return scanCredential(row) })
	if err != nil {
		return nil, rotation.CredentialCursor{}, mapError(fmt.Errorf("list credentials: %w", err))
	}

	if len(page) <= limit {
		return page, rotation.CredentialCursor{}, nil
	}
	page = page[:limit]
	return page, rotation.CursorAfter(page[limit-1]), nil
}

// SummarizeCredentials counts in one statement. The due-date counts are
// range scans of credentials_by_next_due, and the open rotations a scan of
// the partial index rotations_one_open_per_credential.
func (s *Store) SummarizeCredentials(ctx context.Context, now time.Time, soon time.Duration) (rotation.CredentialSummary, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var sum rotation.CredentialSummary
	err := s.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM credentials),
			(SELECT count(*) FROM credentials WHERE next_due_at < $1),
			(SELECT count(*) FROM credentials WHERE next_due_at >= $1 AND next_due_at <= $2),
			(SELECT count(*) FROM rotations WHERE state IN ('requested', 'new_issued', 'dual_active'))`,
		now, now.Add(soon)).Scan(&sum.Total, &sum.Overdue, &sum.DueSoon, &sum.OpenRotations)
	if err != nil {
		return rotation.CredentialSummary{}, mapError(fmt.Errorf("summarize credentials: %w", err))
	}
	return sum, nil
}
