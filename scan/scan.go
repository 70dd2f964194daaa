package scan

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Kind is the kind of place in which a hit was found.
type Kind string

const (
	KindFile   Kind = "file"   // the content of a file on disk
	KindName   Kind = "name"   // a file or directory name, on disk or in a commit
	KindBlob   Kind = "blob"   // the content of a file in a repository's history
	KindCommit Kind = "commit" // a commit object: its message, author or committer
	KindTag    Kind = "tag"    // an annotated tag object: its name or message
)

// Commit identifies one commit of a hit in a repository's history.
type Commit struct {
	ID   string    `json:"id"`
	Date time.Time `json:"date"` // the committer date
}

// Hit is one place that contains the secret. It carries the location and
// the form, never the matched text.
type Hit struct {
	Kind Kind `json:"kind"`
	Form Form `json:"form"`

	// Path is the file's path on disk as the scan reached it (for
	// KindFile and KindName on disk), its path in the repository (for
	// KindBlob and KindName in a commit), or the tag's name (for KindTag).
	// Empty for a blob that no commit adds, such as one a tag points to.
	Path string `json:"path,omitempty"`

	// Line is the 1-based line of the first byte of the match in text
	// content, and 0 in binary content and for the other kinds.
	Line int `json:"line,omitempty"`

	// Offset is the byte offset of the first byte of the match in the
	// file or blob.
	Offset int64 `json:"offset"`

	// Binary reports content with a NUL byte in its first 8000 bytes,
	// where Line means nothing.
	Binary bool `json:"binary,omitempty"`

	// Repository is the repository's work tree, or its git directory when
	// it is bare; empty for hits on disk.
	Repository string `json:"repository,omitempty"`

	// Object is the id of the blob, commit or tag that contains the
	// secret; empty for hits on disk and for names.
	Object string `json:"object,omitempty"`

	// Commits are, for KindBlob and KindName in history, the commits that
	// put the blob at Path or added Path, oldest first. For KindCommit it
	// is the commit itself.
	Commits []Commit `json:"commits,omitempty"`
}

// String returns the hit as one line for people, such as
// "config/app.env:3: exact" or
// "/src/api: commit 1a2b3c4d5e6f (2024-05-01) adds config/app.env:3: base64".
func (h Hit) String() string {
	var b strings.Builder
	if h.Repository != "" {
		b.WriteString(h.Repository + ": ")
	}
	switch h.Kind {
	case KindFile:
		b.WriteString(h.Path + position(h))
	case KindName:
		if len(h.Commits) > 0 {
			b.WriteString(commitList(h.Commits) + " adds ")
		}
		b.WriteString(h.Path + " (in the name)")
	case KindBlob:
		if len(h.Commits) == 0 {
			b.WriteString("blob " + short(h.Object) + ", which no commit adds" + position(h))
			break
		}
		b.WriteString(commitList(h.Commits) + " adds " + h.Path + position(h))
	case KindCommit:
		b.WriteString(commitList(h.Commits) + " (message or author)")
	case KindTag:
		b.WriteString("tag " + h.Path + " (" + short(h.Object) + ")")
	}
	b.WriteString(": " + string(h.Form))
	return b.String()
}

// position returns ":LINE" for text content and ": byte N (binary)" for
// binary content.
func position(h Hit) string {
	if h.Binary {
		return fmt.Sprintf(": byte %d (binary)", h.Offset)
	}
	return fmt.Sprintf(":%d", h.Line)
}

func commitList(cs []Commit) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = short(c.ID) + " (" + c.Date.UTC().Format(time.DateOnly) + ")"
	}
	word := "commit "
	if len(cs) > 1 {
		word = "commits "
	}
	return word + strings.Join(parts, ", ")
}

// short abbreviates an object id to 12 hex digits for people.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Stats counts what a scan searched.
type Stats struct {
	Files           int      `json:"files"`
	Bytes           int64    `json:"bytes"`
	SkippedSymlinks int      `json:"skipped_symlinks"`
	SkippedSpecial  int      `json:"skipped_special"` // devices, sockets, named pipes
	Repositories    []string `json:"repositories"`
	Commits         int      `json:"commits"`
	Trees           int      `json:"trees"`
	Blobs           int      `json:"blobs"`
	Tags            int      `json:"tags"`
	HistoryBytes    int64    `json:"history_bytes"`
}

// Result is the outcome of one scan.
type Result struct {
	Paths  []string `json:"paths"` // as given, redacted
	Forms  []Form   `json:"forms"`
	Hits   []Hit    `json:"hits"`
	Errors []string `json:"errors"` // the paths and objects that could not be searched, one sentence each
	Stats  Stats    `json:"stats"`
}

// Complete reports whether the scan searched everything it was given.
func (r Result) Complete() bool { return len(r.Errors) == 0 }

// Scanner searches paths for the secret of its Matcher.
type Scanner struct {
	Matcher *Matcher

	// Git is the git executable. Empty means "git" on PATH. When it
	// cannot be run, files are still searched, and each repository found
	// is an entry in Result.Errors.
	Git string

	// OnHit and OnError, when set, are called as each hit is found and
	// each error happens, before Run returns them in its Result.
	OnHit   func(Hit)
	OnError func(string)
}

// Run searches each path: a file, or a directory walked recursively
// without following symbolic links and without entering .git directories.
// For every repository among the paths (a path inside one, a git directory,
// or a directory with a .git entry found during the walk) it also searches
// every object reachable from the repository's refs and reflogs. See
// scanRepository.
//
// A path or object that cannot be read is recorded in Result.Errors, and
// the scan goes on. A path that is not in a repository is searched as
// files only. Run returns an error only when ctx ends, with what it found so far.
func (s *Scanner) Run(ctx context.Context, paths []string) (Result, error) {
	r := &run{Scanner: s, ctx: ctx, repos: map[string]bool{}}
	r.res.Forms = s.Matcher.Forms()
	r.res.Hits, r.res.Errors = []Hit{}, []string{}
	r.res.Stats.Repositories = []string{}
	for _, p := range paths {
		r.res.Paths = append(r.res.Paths, s.Matcher.Redact(p))
	}
	r.git, r.gitErr = exec.LookPath(cmp.Or(s.Git, "git"))

	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return r.res, err
		}
		r.scanPath(p)
	}
	for _, rp := range r.pending {
		if err := ctx.Err(); err != nil {
			return r.res, err
		}
		r.scanRepository(rp)
	}
	return r.res, ctx.Err()
}

// run is the state of one Run.
type run struct {
	*Scanner
	ctx    context.Context
	res    Result
	git    string
	gitErr error

	repos   map[string]bool // git directories already queued
	pending []repository    // repositories whose history is still to search
}

func (r *run) hit(h Hit) {
	r.res.Hits = append(r.res.Hits, h)
	if r.OnHit != nil {
		r.OnHit(h)
	}
}

// fail records what could not be searched. The text passes through Redact,
// because error messages quote paths.
func (r *run) fail(format string, args ...any) {
	msg := r.Matcher.Redact(fmt.Sprintf(format, args...))
	r.res.Errors = append(r.res.Errors, msg)
	if r.OnError != nil {
		r.OnError(msg)
	}
}
