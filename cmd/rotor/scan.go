package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rotorhq/rotor/config"
	"github.com/rotorhq/rotor/migrations"
	"github.com/rotorhq/rotor/rotation"
	"github.com/rotorhq/rotor/rotation/pgstore"
	"github.com/rotorhq/rotor/scan"
	"github.com/rotorhq/rotor/secret"
	"github.com/rotorhq/rotor/secretstore"
)

const scanUsage = `usage: rotor scan -config FILE -credential ID [-rotation ID] [-json]
                 [-incident ID [-attach ITEM -by NAME]] PATH...

rotor scan reads the old secret of a credential from its secrets manager and
searches the files, directories and git histories under each PATH for it,
exact, URL-encoded, JSON-escaped and in Base64 (also inside a longer encoded
text such as an HTTP Basic header). It prints where it found the secret,
never the secret. Exit status: 0 nothing found, 1 found, 2 error or an
incomplete scan. DATABASE_URL must point at rotor's database.

The old secret is the value the credential's open rotation replaces, or,
with -rotation, the one that rotation replaced, while its old version is
still readable: scan before you retire.

With -attach, the result goes on the incident's blast-radius checklist:
nothing found ticks item ITEM (a number or a title) with a summary of what
was searched; hits add an item that lists where the secret is.

flags:
`

// scanOptions are the parsed flags and paths of rotor scan.
type scanOptions struct {
	configPath string
	credential string
	rotation   string
	json       bool
	incident   string
	attach     string
	by         string
	paths      []string
}

// runScan runs `rotor scan`. It returns 0 when the scan found nothing, 1
// when it found the secret, and 2 for bad input, a failure before the scan,
// an incomplete scan, or a failure to record the result on the incident.
func runScan(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	opts, ok := parseScanArgs(args, stderr)
	if !ok {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "rotor scan: %v\n", err)
		return 2
	}
	if err := checkScanPaths(opts.paths); err != nil {
		return fail(err)
	}

	cfg, err := config.Load(opts.configPath)
	if err != nil {
		return fail(err)
	}
	credCfg, ok := cfg.Credential(opts.credential)
	if !ok {
		return fail(fmt.Errorf("unknown credential %q: %s lists %s; give one of them with -credential", opts.credential, opts.configPath, credentialIDs(cfg)))
	}
	dbURL := getenv("DATABASE_URL")
	if dbURL == "" {
		return fail(errors.New("DATABASE_URL is not set; set it to rotor's Postgres URL, for example postgres://rotor@127.0.0.1:5432/rotor"))
	}
	pool, err := connectDatabase(ctx, dbURL)
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	store := pgstore.New(pool, time.Now)
	svc := rotation.NewService(rotation.Options{Store: store})

	// Check the incident before reading the secret, so a typo costs no
	// scan.
	var target *attachTarget
	rotationID := opts.rotation
	if opts.incident != "" {
		t, err := checkIncident(ctx, svc, opts)
		if err != nil {
			return fail(err)
		}
		target = &t
		if rotationID == "" {
			rotationID = t.incident.RotationID
		}
	}

	r, err := scanRotation(ctx, store, opts.credential, rotationID)
	if err != nil {
		return fail(err)
	}
	value, version, err := readScanSecret(ctx, cfg, credCfg, getenv, r)
	if err != nil {
		return fail(err)
	}
	matcher, err := scan.NewMatcher(value)
	if err != nil {
		return fail(fmt.Errorf("old secret of rotation %s: %w", r.ID, err))
	}

	report := scanReport{Credential: opts.credential, Rotation: r.ID, Version: version}
	scanner := &scan.Scanner{Matcher: matcher, OnError: func(msg string) { fmt.Fprintf(stderr, "rotor scan: %s\n", msg) }}
	if !opts.json {
		scanner.OnHit = func(h scan.Hit) { fmt.Fprintln(stdout, h.String()) }
	}
	res, runErr := scanner.Run(ctx, opts.paths)
	report.Result = res
	if runErr != nil {
		report.Result.Errors = append(report.Result.Errors, "the scan was interrupted before it finished")
		fmt.Fprintln(stderr, "rotor scan: interrupted; the results are incomplete")
	}

	code := 0
	switch {
	case !report.Result.Complete():
		code = 2
	case len(res.Hits) > 0:
		code = 1
	}
	if target != nil && opts.attach != "" && runErr == nil {
		a, err := attachScan(ctx, svc, *target, report)
		if err != nil {
			fmt.Fprintf(stderr, "rotor scan: record the result on incident %s: %v\n", target.incident.ID, err)
			code = 2
		} else {
			report.Attached = &a
		}
	}

	if err := report.write(stdout, opts.json); err != nil {
		return fail(err)
	}
	return code
}

// write prints the report's end: the JSON document, or for people the
// summary line and what -attach did. The hits were printed as found.
func (r scanReport) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("encode the result: %w", err)
		}
		return nil
	}
	fmt.Fprintln(w, r.summary())
	if r.Attached != nil {
		fmt.Fprintln(w, "rotor scan: "+r.Attached.Message)
	}
	return nil
}

// parseScanArgs parses flags and paths. Flags may follow the paths, as in
// `rotor scan . -json`; everything after "--" is a path.
func parseScanArgs(args []string, stderr io.Writer) (scanOptions, bool) {
	var o scanOptions
	fs := flag.NewFlagSet("rotor scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, scanUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.configPath, "config", "", "path to the configuration file (required)")
	fs.StringVar(&o.credential, "credential", "", "id of the credential whose old secret to search for (required)")
	fs.StringVar(&o.rotation, "rotation", "", "id of the rotation whose old secret to search for (default: the credential's open rotation, or the incident's)")
	fs.BoolVar(&o.json, "json", false, "print one JSON document instead of lines for people")
	fs.StringVar(&o.incident, "incident", "", "id of the incident the scan is for; its rotation is the default for -rotation")
	fs.StringVar(&o.attach, "attach", "", "record the result on this checklist item of -incident: its number or its title")
	fs.StringVar(&o.by, "by", "", "your name, recorded with the result on the checklist (required with -attach)")

	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return o, false
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			o.paths = append(o.paths, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		o.paths = append(o.paths, rest[0])
		args = rest[1:]
	}

	var problem string
	switch {
	case o.configPath == "":
		problem = "-config FILE is required"
	case o.credential == "":
		problem = "-credential ID is required: the credential whose old secret to search for"
	case len(o.paths) == 0:
		problem = "give at least one file or directory to search, such as ."
	case o.attach != "" && o.incident == "":
		problem = "-attach needs -incident ID: the incident whose checklist gets the result"
	case o.attach != "" && strings.TrimSpace(o.by) == "":
		problem = "-attach needs -by NAME: the checklist records who searched"
	case o.attach == "" && o.by != "":
		problem = "-by is only used with -attach ITEM"
	}
	if problem != "" {
		fmt.Fprintf(stderr, "rotor scan: %s\n\n", problem)
		fs.Usage()
		return o, false
	}
	return o, true
}

// checkScanPaths reports the first path that does not exist or cannot be
// read, before anything else happens.
func checkScanPaths(paths []string) error {
	for _, p := range paths {
		_, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("path %q does not exist; check the spelling", p)
		case err != nil:
			return fmt.Errorf("path %q cannot be read: %w; check its permissions", p, err)
		}
	}
	return nil
}

func credentialIDs(cfg *config.Config) string {
	ids := make([]string, len(cfg.Credentials))
	for i, c := range cfg.Credentials {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}

// connectDatabase connects to rotor's database without migrating it: a
// scan only reads rotations and records a checklist result. A schema that
// is behind this rotor is an error whose fix is rotor migrate.
func connectDatabase(ctx context.Context, url string) (*pgxpool.Pool, error) {
	return connectPool(ctx, url, func(db *sql.DB) error { return schemaCurrent(ctx, db) })
}

func schemaCurrent(ctx context.Context, db *sql.DB) error {
	n, err := migrations.Pending(ctx, db)
	if err != nil {
		return fmt.Errorf("read the database schema's version: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("the database schema is %d migrations behind this rotor; run rotor migrate, or start rotor serve once, then scan again", n)
	}
	return nil
}

// scanRotation returns the rotation whose old secret to search for: the one
// named, which must belong to the credential, or else the credential's
// open rotation. No open rotation is an error that lists the latest ones
// and suggests -rotation.
func scanRotation(ctx context.Context, store rotation.Store, credentialID, rotationID string) (rotation.Rotation, error) {
	if rotationID != "" {
		r, err := store.GetRotation(ctx, rotationID)
		if errors.Is(err, rotation.ErrNotFound) {
			return rotation.Rotation{}, fmt.Errorf("there is no rotation %q; copy its id from the credential's page in rotor (/credentials/%s)", rotationID, credentialID)
		}
		if err != nil {
			return rotation.Rotation{}, fmt.Errorf("read rotation %s: %w", rotationID, err)
		}
		if r.CredentialID != credentialID {
			return rotation.Rotation{}, fmt.Errorf("rotation %s belongs to credential %s, not %s; give the matching -credential or -rotation", r.ID, r.CredentialID, credentialID)
		}
		return r, nil
	}

	c, err := store.GetCredential(ctx, credentialID)
	if err != nil && !errors.Is(err, rotation.ErrNotFound) {
		return rotation.Rotation{}, fmt.Errorf("read credential %s: %w", credentialID, err)
	}
	if c.OpenRotationID == "" {
		return rotation.Rotation{}, noOpenRotation(ctx, store, credentialID)
	}
	r, err := store.GetRotation(ctx, c.OpenRotationID)
	if err != nil {
		return rotation.Rotation{}, fmt.Errorf("read rotation %s: %w", c.OpenRotationID, err)
	}
	return r, nil
}

// noOpenRotation explains that there is no old secret to default to.
func noOpenRotation(ctx context.Context, store rotation.Store, credentialID string) error {
	msg := fmt.Sprintf("credential %s has no open rotation, so no secret is being replaced and there is nothing old to search for", credentialID)
	rotations, err := store.ListRotations(ctx, credentialID)
	if err != nil || len(rotations) == 0 {
		return errors.New(msg + "; report the compromise in rotor to open an emergency rotation, then scan with -incident or while it is open")
	}
	var latest []string
	for _, r := range rotations[:min(3, len(rotations))] {
		latest = append(latest, fmt.Sprintf("%s (%s, %s)", r.ID, r.State, r.UpdatedAt.UTC().Format(time.DateOnly)))
	}
	return fmt.Errorf("%s; to search for the secret an earlier rotation replaced, give it with -rotation ID, which works while its old version is still readable. Latest rotations: %s", msg, strings.Join(latest, ", "))
}

// readScanSecret opens the credential's secrets manager and reads the
// value rotation r replaces. It returns a description of the version read.
func readScanSecret(ctx context.Context, cfg *config.Config, c config.Credential, getenv func(string) string, r rotation.Rotation) (secret.Value, string, error) {
	b := newBackends(cfg, getenv, slog.New(slog.DiscardHandler))
	defer b.Close()
	store, err := b.open(ctx, c)
	if err != nil {
		return secret.Value{}, "", fmt.Errorf("credential %s: %w", c.ID, err)
	}
	return oldSecret(ctx, store, r)
}

// oldSecret reads the value that rotation r replaces. That is the version
// r recorded as old when it staged the new secret, readable in new_issued,
// in dual_active, and afterwards until retirement removes it. While r is
// requested it has recorded none, and the current value is read. The
// recorded version is preferred to the current one because it stays right
// when another tool wrote a version behind rotor's back.
//
// A recorded version that the secrets manager no longer returns is an
// error that names the cause (retired by rotor, or removed outside it) and
// the next step.
func oldSecret(ctx context.Context, store rotation.SecretStore, r rotation.Rotation) (secret.Value, string, error) {
	if r.Versions.Old == "" {
		if r.State != rotation.StateRequested {
			return secret.Value{}, "", fmt.Errorf("rotation %s is %s and recorded no old version, because it ended before a new secret was staged; the secret it was opened to replace is still the credential's current one, so scan while a later rotation of it is open, or give that rotation with -rotation", r.ID, r.State)
		}
		v, version, err := store.Current(ctx)
		if err != nil {
			return secret.Value{}, "", fmt.Errorf("read the current secret of credential %s: %w", r.CredentialID, err)
		}
		return v, "current version " + string(version), nil
	}

	v, err := store.Read(ctx, r.Versions.Old)
	switch {
	case errors.Is(err, secretstore.ErrNotFound) && r.State == rotation.StateOldRetired:
		return secret.Value{}, "", fmt.Errorf("the old secret of rotation %s (version %s) is no longer readable: rotor retired that version on %s, and rotor scan reads the value only from the secrets manager, so it cannot search for this one. Search with other means if you still hold a copy, and record what you searched on the incident's checklist; next time, scan before retiring",
			r.ID, r.Versions.Old, r.RetiredAt.UTC().Format(time.RFC3339))
	case errors.Is(err, secretstore.ErrNotFound):
		return secret.Value{}, "", fmt.Errorf("the old secret of rotation %s (version %s) is gone from the secrets manager, removed outside rotor; check the secret's version history there: %w", r.ID, r.Versions.Old, err)
	case err != nil:
		return secret.Value{}, "", fmt.Errorf("read the old secret of rotation %s (version %s): %w", r.ID, r.Versions.Old, err)
	}
	return v, "version " + string(r.Versions.Old), nil
}

// scanReport is the document rotor scan prints with -json.
type scanReport struct {
	Credential string `json:"credential"`
	Rotation   string `json:"rotation"`
	Version    string `json:"version"` // the secrets-manager version whose value was searched for
	scan.Result
	Attached *attachment `json:"attached,omitempty"`
}

// summary returns the closing line for people.
func (r scanReport) summary() string {
	var b strings.Builder
	what := fmt.Sprintf("the old secret of credential %s (rotation %s, %s)", r.Credential, r.Rotation, r.Version)
	if n := len(r.Hits); n > 0 {
		fmt.Fprintf(&b, "rotor scan: %s of %s", plural(n, "hit"), what)
	} else {
		fmt.Fprintf(&b, "rotor scan: no trace of %s", what)
	}
	fmt.Fprintf(&b, " in forms %s; searched %s", formList(r.Forms), r.searched())
	if n := len(r.Errors); n > 0 {
		fmt.Fprintf(&b, "; %s could not be searched (see above), so the scan is incomplete", plural(n, "place"))
	}
	return b.String() + "."
}

// searched describes what the scan read, such as "12 files (1.2 MB) and
// 1 git repository (7 commits, 9 blobs, 1 tag)".
func (r scanReport) searched() string {
	s := r.Stats
	out := fmt.Sprintf("%s (%s)", plural(s.Files, "file"), formatBytes(s.Bytes))
	if n := s.SkippedSymlinks + s.SkippedSpecial; n > 0 {
		out += fmt.Sprintf(", skipping %s and %s", plural(s.SkippedSymlinks, "symbolic link"), plural(s.SkippedSpecial, "special file"))
	}
	if len(s.Repositories) == 0 {
		return out + " and no git repository"
	}
	return out + fmt.Sprintf(" and %s (%s, %s, %s, all refs and reflogs)", plural(len(s.Repositories), "git repository"),
		plural(s.Commits, "commit"), plural(s.Blobs, "blob"), plural(s.Tags, "tag"))
}

func formList(forms []scan.Form) string {
	names := make([]string, len(forms))
	for i, f := range forms {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// plural returns "1 file", "2 files", "1 git repository", "3 git
// repositories".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if base, ok := strings.CutSuffix(noun, "y"); ok {
		return fmt.Sprintf("%d %sies", n, base)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// formatBytes prints a size in bytes with a decimal unit, such as "1.2 MB".
func formatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	value, exp := float64(n)/unit, 0
	for value >= unit && exp < 3 {
		value /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", value, "kMGT"[exp])
}

// attachTarget is the checked checklist item that gets the result.
type attachTarget struct {
	incident rotation.Incident
	item     rotation.ChecklistItem // zero without -attach
	by       string
}

// checkIncident reads the incident of -incident and, with -attach, the
// item, and rejects what cannot take the result: an incident of another
// credential, a closed incident, an unknown or ticked item.
func checkIncident(ctx context.Context, svc *rotation.Service, o scanOptions) (attachTarget, error) {
	inc, err := svc.Incident(ctx, o.incident)
	if err != nil {
		return attachTarget{}, err
	}
	if inc.CredentialID != o.credential {
		return attachTarget{}, fmt.Errorf("incident %s is about credential %s, not %s; give the matching -credential or -incident", inc.ID, inc.CredentialID, o.credential)
	}
	t := attachTarget{incident: inc, by: strings.TrimSpace(o.by)}
	if o.attach == "" {
		return t, nil
	}
	if !inc.Open() {
		return attachTarget{}, fmt.Errorf("incident %s closed on %s, and its checklist can no longer change; scan without -attach", inc.ID, inc.ClosedAt.UTC().Format(time.RFC3339))
	}
	item, ok := findItem(inc, o.attach)
	if !ok {
		var items []string
		for _, it := range inc.Checklist {
			items = append(items, fmt.Sprintf("%d (%s)", it.Item, it.Title))
		}
		return attachTarget{}, fmt.Errorf("incident %s has no checklist item %q; give one of %s by number or title", inc.ID, o.attach, strings.Join(items, ", "))
	}
	if item.Done() {
		return attachTarget{}, fmt.Errorf("item %d (%s) of incident %s was already ticked by %s on %s; attach the scan to another item", item.Item, item.Title, inc.ID, item.DoneBy, item.DoneAt.UTC().Format(time.RFC3339))
	}
	t.item = item
	return t, nil
}

// findItem finds a checklist item by number or, ignoring case, by title.
func findItem(inc rotation.Incident, ref string) (rotation.ChecklistItem, bool) {
	n, err := strconv.Atoi(ref)
	for _, it := range inc.Checklist {
		if (err == nil && it.Item == n) || strings.EqualFold(it.Title, strings.TrimSpace(ref)) {
			return it, true
		}
	}
	return rotation.ChecklistItem{}, false
}

// attachment is the record of -attach: the item and the action taken.
type attachment struct {
	Incident string `json:"incident"`
	Item     int    `json:"item"` // the item ticked, or the item added for the hits

	// Action is "ticked" (nothing found), "added" (hits recorded as a new
	// item), "already_recorded" (an item with the same hits exists) or
	// "not_recorded" (the scan was incomplete and found nothing).
	Action         string `json:"action"`
	IncidentClosed bool   `json:"incident_closed"`
	Message        string `json:"message"`
}

// attachScan records the result on the checklist through the service. A
// scan that found nothing ticks the item with a note of what was searched.
// Hits leave the item open and add one item that names them, because the
// service records notes only with a tick. An incomplete scan that found
// nothing records nothing.
//
// TODO: the title of the added item has room for the first few locations
// only (rotation.MaxItemTitleBytes). A service method that appends a note
// to an open item would let the full list be recorded.
func attachScan(ctx context.Context, svc *rotation.Service, t attachTarget, rep scanReport) (attachment, error) {
	a := attachment{Incident: t.incident.ID, Item: t.item.Item}
	switch {
	case len(rep.Hits) > 0:
		title := hitsTitle(t.item, rep.Paths, rep.Hits)
		inc, err := svc.AddChecklistItem(ctx, t.by, t.incident.ID, title)
		if e, ok := rotation.AsError(err); ok && e.Code == "duplicate_item" {
			a.Action = "already_recorded"
			if it, ok := findItem(t.incident, title); ok {
				a.Item = it.Item
			}
			a.Message = fmt.Sprintf("incident %s already lists these hits as item %d; item %d (%s) stays open until they are removed and a scan finds nothing", t.incident.ID, a.Item, t.item.Item, t.item.Title)
			return a, nil
		}
		if err != nil {
			return a, err
		}
		a.Action, a.Item = "added", inc.Checklist[len(inc.Checklist)-1].Item
		a.Message = fmt.Sprintf("added item %d to incident %s for the hits; item %d (%s) stays open until they are removed and a scan finds nothing", a.Item, inc.ID, t.item.Item, t.item.Title)
		return a, nil

	case !rep.Complete():
		a.Action = "not_recorded"
		a.Message = fmt.Sprintf("nothing recorded on incident %s: the scan was incomplete, so item %d (%s) stays open; fix the errors above and scan again", t.incident.ID, t.item.Item, t.item.Title)
		return a, nil
	}

	inc, err := svc.CompleteChecklistItem(ctx, t.by, t.incident.ID, t.item.Item, cleanNote(rep))
	if err != nil {
		return a, err
	}
	a.Action, a.IncidentClosed = "ticked", !inc.Open()
	a.Message = fmt.Sprintf("ticked item %d (%s) of incident %s with a note of what was searched", t.item.Item, t.item.Title, inc.ID)
	if a.IncidentClosed {
		a.Message += "; every item is done and the secret is retired, so the incident is closed"
	}
	return a, nil
}

// hitsTitle returns the title of the item that records hits: the count
// and as many short locations as fit in rotation.MaxItemTitleBytes. Paths
// on disk are shortened to start at the scanned path's last element.
func hitsTitle(item rotation.ChecklistItem, roots []string, hits []scan.Hit) string {
	title := fmt.Sprintf("Remove the old secret from %s rotor scan found for item %d:", plural(len(hits), "place"), item.Item)
	for i, h := range hits {
		loc := " " + shortLocation(h, roots)
		if i > 0 {
			loc = ";" + loc
		}
		more := ""
		if i < len(hits)-1 {
			more = fmt.Sprintf("; and %d more", len(hits)-i-1)
		}
		if len(title)+len(loc)+len(more) > rotation.MaxItemTitleBytes {
			return title + fmt.Sprintf("; and %d more", len(hits)-i)
		}
		title += loc
	}
	return title
}

// shortLocation returns a hit's location in few bytes, on one line.
func shortLocation(h scan.Hit, roots []string) string {
	commit := ""
	if len(h.Commits) > 0 {
		commit = h.Commits[0].ID[:min(8, len(h.Commits[0].ID))] + " "
	}
	var loc string
	switch h.Kind {
	case scan.KindFile:
		loc = fmt.Sprintf("%s:%d", underRoot(h.Path, roots), h.Line)
		if h.Binary {
			loc = fmt.Sprintf("%s@%d", underRoot(h.Path, roots), h.Offset)
		}
	case scan.KindName:
		if h.Repository == "" {
			loc = underRoot(h.Path, roots) + " (name)"
		} else {
			loc = commit + h.Path + " (name)"
		}
	case scan.KindBlob:
		loc = fmt.Sprintf("%s%s:%d", commit, h.Path, h.Line)
	case scan.KindCommit:
		loc = commit + "message"
	case scan.KindTag:
		loc = "tag " + h.Path
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, loc)
}

// underRoot shortens a path on disk that lies under one of the scanned
// roots to the root's last element and the rest, such as "app/ci/smoke.sh"
// for /src/app/ci/smoke.sh scanned as /src/app.
func underRoot(path string, roots []string) string {
	for _, root := range roots {
		if path == root {
			return filepath.Base(path)
		}
		if rest, ok := strings.CutPrefix(path, strings.TrimSuffix(root, string(filepath.Separator))+string(filepath.Separator)); ok {
			return filepath.Join(filepath.Base(root), rest)
		}
	}
	return path
}

// cleanNote returns the note that ticks an item: what was searched for, in
// which forms, where, and how much, within rotation.MaxNoteBytes.
func cleanNote(rep scanReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rotor scan found no trace of the old secret of credential %s (rotation %s, %s).\n", rep.Credential, rep.Rotation, rep.Version)
	fmt.Fprintf(&b, "Forms: %s (Base64 in the standard and URL-safe alphabets, padded or not, at every byte alignment, of the value and of its URL encoding).\n", formList(rep.Forms))
	fmt.Fprintf(&b, "Searched: %s.\n", rep.searched())
	if len(rep.Stats.Repositories) > 0 {
		fmt.Fprintf(&b, "Repositories: %s.\n", strings.Join(rep.Stats.Repositories, ", "))
	}
	fmt.Fprintf(&b, "Paths: %s.", strings.Join(rep.Paths, ", "))
	if b.Len() > rotation.MaxNoteBytes {
		return truncateUTF8(b.String(), rotation.MaxNoteBytes-len(" …")) + " …"
	}
	return b.String()
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
