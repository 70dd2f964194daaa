package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rotorhq/rotor/rotation"
)

// SearchAudit runs one statement: a UNION ALL of a query over events, one
// over incident_events and one over token_events, each ordered by (at, id)
// descending with its own LIMIT, merged and cut to the page. A filter that
// rules a source out leaves its query out. Each branch is a keyset query
// on an index of migration 00012 or, for token_events, 00013: (at, id)
// without filters, or (credential_id, at, id), (lower(actor), at, id) or
// (action, at, id). Postgres reads that index backwards from the cursor and
// stops after limit + 1 rows, so a page costs the same wherever it is in
// the log. An incident event takes its credential and rotation from its
// incident, and a token event its token's name, role and expiry from
// api_tokens, which package apitoken writes. It reads one row more than
// the page to learn whether a next page exists.
func (s *Store) SearchAudit(ctx context.Context, f rotation.AuditFilter) (rotation.AuditPage, error) {
	if err := f.Check(); err != nil {
		return rotation.AuditPage{}, fmt.Errorf("search the audit log: %w", err)
	}
	if len(f.Sources()) == 0 {
		return rotation.AuditPage{}, nil
	}
	sql, args := auditQuery(f)

	// pgx prepares and caches statements by default, and after five runs
	// Postgres may keep a generic plan made without the arguments. A
	// generic plan cannot tell a rare action or actor from a common one.
	// On 1,000,000 events (BenchmarkAuditPages in package api), it read
	// 200,000 rows of events_newest_first to find 51 of a rare action, in
	// 35 ms instead of 0.2 ms. An
	// unnamed statement (QueryExecModeExec) is planned with the arguments
	// each time, in the same single round trip.
	rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return rotation.AuditPage{}, mapError(fmt.Errorf("search the audit log: %w", err))
	}
	entries, err := pgx.CollectRows(rows, scanAuditEntry)
	if err != nil {
		return rotation.AuditPage{}, mapError(fmt.Errorf("search the audit log: %w", err))
	}
	return rotation.NextAuditPage(entries, f.PageSize()), nil
}

// The columns of the three branches, in the order that scanAuditEntry
// reads. The rank column orders sources that share an instant, as
// rotation.CompareAuditCursors does.
//
// A token event's action gets the "token_" prefix of rotation.TokenAction:
// token_events stores "created" and "revoked". Its detail is built from
// the token's record, whose name, role and expiry the trigger
// api_tokens_guard (migration 00010) keeps as they were at creation. It
// never reads the token_hash column.
const (
	rotationAuditColumns = `0 AS rank, e.id, e.at, e.actor, e.action, e.credential_id, e.rotation_id::text, '' AS incident_id,
		COALESCE(e.from_state::text, '') AS from_state, e.to_state::text AS to_state, e.reason, e.detail, 0 AS item,
		'' AS token_id, '' AS token_name`
	incidentAuditColumns = `1 AS rank, ie.id, ie.at, ie.actor, ie.action, i.credential_id, i.rotation_id::text, ie.incident_id::text,
		'', '', '', ie.detail, COALESCE(ie.item, 0), '', ''`
	tokenAuditColumns = `2 AS rank, te.id, te.at, te.actor, 'token_' || te.action, '', '', '',
		'', '', '', format('name %s, role %s, expires %s', t.name, t.role,
			to_char(t.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
		0, te.token_id::text, t.name`
)

// auditSourceOfRank is the source of each value of the rank column.
var auditSourceOfRank = map[int]rotation.AuditSource{
	0: rotation.AuditRotation,
	1: rotation.AuditIncident,
	2: rotation.AuditToken,
}

func scanAuditEntry(row pgx.CollectableRow) (rotation.AuditEntry, error) {
	var (
		e        rotation.AuditEntry
		rank     int
		from, to string
	)
	err := row.Scan(&rank, &e.ID, &e.At, &e.Actor, &e.Action, &e.CredentialID, &e.RotationID, &e.IncidentID,
		&from, &to, &e.Reason, &e.Detail, &e.Item, &e.TokenID, &e.TokenName)
	if err != nil {
		return rotation.AuditEntry{}, err
	}
	source, ok := auditSourceOfRank[rank]
	if !ok {
		return rotation.AuditEntry{}, fmt.Errorf("audit entry %d has the unknown rank %d", e.ID, rank)
	}
	e.Source, e.At, e.From, e.To = source, e.At.UTC(), rotation.State(from), rotation.State(to)
	return e, nil
}

// auditQuery returns the statement of SearchAudit and its arguments. Only
// fixed SQL fragments and placeholders go into the text; every value is an
// argument.
func auditQuery(f rotation.AuditFilter) (string, []any) {
	q := &queryArgs{}
	limit := q.add(f.PageSize() + 1)
	var branches []string
	for _, source := range f.Sources() {
		branches = append(branches, auditBranch(q, f, source, limit))
	}
	sql := `SELECT * FROM (` + strings.Join(branches, "\nUNION ALL\n") + `) audit
		ORDER BY at DESC, rank DESC, id DESC LIMIT ` + limit
	return sql, q.args
}

// auditBranch returns the query of one source, newest first, limited.
func auditBranch(q *queryArgs, f rotation.AuditFilter, source rotation.AuditSource, limit string) string {
	table, columns, from := "e", rotationAuditColumns, "events e"
	switch source {
	case rotation.AuditIncident:
		table, columns, from = "ie", incidentAuditColumns, "incident_events ie JOIN incidents i ON i.id = ie.incident_id"
	case rotation.AuditToken:
		table, columns, from = "te", tokenAuditColumns, "token_events te JOIN api_tokens t ON t.id = te.token_id"
	}

	// The branch has at most one upper bound, a row comparison on (at, id),
	// where Postgres starts its backward index scan. Beside a second upper
	// bound on at, Postgres would start at the row comparison's and skip
	// rows.
	//
	// The cursor (at, source, id) becomes a bound within this source, as
	// AuditCursor.Within explains. Until replaces the cursor's bound when
	// it is lower: ids start at 1, so (at, id) < (until, 0) is at < until.
	var (
		where   []string
		bounded bool
		at      time.Time
		id      int64
	)
	if c := f.Cursor; !c.IsZero() {
		at, id = c.Within(source)
		bounded = true
	}
	if until := ceilMicro(f.Until); !f.Until.IsZero() && (!bounded || !until.After(at)) {
		at, id, bounded = until, 0, true
	}
	if bounded {
		where = append(where, fmt.Sprintf("(%[1]s.at, %[1]s.id) < (%s, %s)", table, q.add(at.UTC()), q.add(id)))
	}

	// Sources leaves token events out when a credential is set, since
	// they have none.
	if f.CredentialID != "" {
		column := "e.credential_id"
		if source == rotation.AuditIncident {
			column = "i.credential_id"
		}
		where = append(where, column+" = "+q.add(f.CredentialID))
	}
	if f.Actor != "" {
		where = append(where, "lower("+table+".actor) = lower("+q.add(f.Actor)+"::text)")
	}
	if f.Action != "" {
		action := f.Action
		if source == rotation.AuditToken {
			action = strings.TrimPrefix(action, "token_")
		}
		where = append(where, table+".action = "+q.add(action))
	}
	if !f.Since.IsZero() {
		where = append(where, table+".at >= "+q.add(ceilMicro(f.Since).UTC()))
	}

	conditions := ""
	if len(where) > 0 {
		conditions = "WHERE " + strings.Join(where, " AND ")
	}
	return fmt.Sprintf(`(SELECT %s FROM %s
		%s
		ORDER BY %[4]s.at DESC, %[4]s.id DESC LIMIT %s)`, columns, from, conditions, table, limit)
}

// queryArgs collects the arguments of a statement built from fragments.
type queryArgs struct{ args []any }

// add appends v and returns its placeholder, such as $3.
func (q *queryArgs) add(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

var _ rotation.AuditLog = (*Store)(nil)
