package scan

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// repository is one git repository whose history a scan searches.
type repository struct {
	gitDir   string // the absolute common git directory, which identifies it
	display  string // the work tree's top, or gitDir for a bare repository
	inGitDir bool   // the directory that found it lies inside gitDir
}

// queue adds a repository to search after the files, once.
func (r *run) queue(repo repository) {
	if r.repos[repo.gitDir] {
		return
	}
	r.repos[repo.gitDir] = true
	r.pending = append(r.pending, repo)
}

// findRepository returns the repository that contains dir, with found
// false when there is none. Without git it looks for a .git entry in dir
// and its parents. When it finds one, it returns an error that names the
// repository and the fix: install git.
func (r *run) findRepository(dir string) (repository, bool, error) {
	if r.gitErr != nil {
		if top, ok := dotGitAbove(dir); ok {
			return repository{}, false, fmt.Errorf("%s is in the git repository %s, but git cannot be run (%v), so its history was not searched; install git or put it on PATH, and scan again", dir, top, r.gitErr)
		}
		return repository{}, false, nil
	}

	out, err := r.output(dir, "rev-parse", "--is-inside-git-dir", "--is-bare-repository", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		var gerr *gitError
		if errors.As(err, &gerr) && strings.Contains(gerr.stderr, "not a git repository") {
			return repository{}, false, nil
		}
		return repository{}, false, fmt.Errorf("find the git repository of %s: %w", dir, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		return repository{}, false, fmt.Errorf("find the git repository of %s: git rev-parse printed %d lines, want 3", dir, len(lines))
	}
	repo := repository{gitDir: filepath.Clean(lines[2]), inGitDir: lines[0] == "true"}
	repo.display = repo.gitDir
	if !repo.inGitDir && lines[1] != "true" {
		top, err := r.output(dir, "rev-parse", "--show-toplevel")
		if err != nil {
			return repository{}, false, fmt.Errorf("find the work tree of %s: %w", dir, err)
		}
		repo.display = strings.TrimSpace(top)
	}
	return repo, true, nil
}

// dotGitAbove returns the first of dir and its parents that has a .git
// entry.
func dotGitAbove(dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Lstat(filepath.Join(abs, ".git")); err == nil {
			return abs, true
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return "", false
		}
		abs = parent
	}
}

// scanRepository searches every object reachable from the repository's
// refs (branches, tags, remote-tracking branches, the stash, notes,
// replacements) and from its reflogs, which keep commits that were amended,
// rebased or reset away and the older stash entries. It searches the
// content of blobs, the names in trees, and commit and tag objects with
// their messages. Objects that nothing reaches any more are not searched.
// A name is found when one tree entry contains the secret, so a secret with
// a slash, which git stores as nested trees, is found in names on disk only.
//
// git rev-list lists the objects into git cat-file --batch through a pipe,
// and the matcher reads cat-file's output, so the secret never appears in
// a process's arguments, its environment or a temporary file. For each
// blob that contains the secret, git log then lists the commits that put
// it at a path.
func (r *run) scanRepository(repo repository) {
	repoName := r.Matcher.Redact(repo.display)
	r.res.Stats.Repositories = append(r.res.Stats.Repositories, repoName)

	found, err := r.readObjects(repo, repoName)
	if err != nil {
		r.fail("search the history of %s: %v", repoName, err)
	}
	if len(found.blobs) == 0 && !found.names {
		return
	}
	places, names, err := r.attribute(repo, found)
	if err != nil {
		r.fail("find the commits that added the secret to %s: %v; the hits below lack their commits", repoName, err)
	}

	var hits []Hit
	for oid, b := range found.blobs {
		at := places[oid]
		if len(at) == 0 {
			at = []place{{}} // reachable, but added by no commit git log lists
		}
		for _, p := range at {
			for _, m := range b.matches {
				h := Hit{Kind: KindBlob, Form: m.form, Path: r.Matcher.Redact(p.path), Offset: m.offset, Binary: b.binary,
					Repository: repoName, Object: oid, Commits: p.commits}
				if !b.binary {
					h.Line = m.line
				}
				hits = append(hits, h)
			}
		}
	}
	for path, commits := range names {
		form, _ := r.Matcher.find(path)
		hits = append(hits, Hit{Kind: KindName, Form: form, Path: r.Matcher.Redact(path), Repository: repoName, Commits: commits})
	}
	slices.SortFunc(hits, compareHits)
	for _, h := range hits {
		r.hit(h)
	}
}

// compareHits orders hits in history by their first commit, then path,
// then offset.
func compareHits(a, b Hit) int {
	first := func(h Hit) time.Time {
		if len(h.Commits) == 0 {
			return time.Time{}
		}
		return h.Commits[0].Date
	}
	return cmp.Or(first(a).Compare(first(b)), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Object, b.Object),
		cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.Form, b.Form))
}

// objectHits are the hits of readObjects that git log must locate.
type objectHits struct {
	blobs map[string]blobHit // by blob id
	names bool               // some tree has an entry named with the secret
}

type blobHit struct {
	matches []match
	binary  bool
}

// readObjects streams every reachable object through the matcher. It
// reports hits in commit and tag objects at once, and returns the blobs
// and whether a tree matched, which need git log to be located.
func (r *run) readObjects(repo repository, repoName string) (objectHits, error) {
	found := objectHits{blobs: map[string]blobHit{}}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()

	pr, pw, err := os.Pipe()
	if err != nil {
		return found, fmt.Errorf("create a pipe: %w", err)
	}
	list := r.command(ctx, "", "--git-dir="+repo.gitDir, "rev-list", "--all", "--reflog", "--objects", "--no-object-names", "--missing=allow-promisor")
	list.Stdout = pw
	listErr := &limitedBuffer{}
	list.Stderr = listErr

	batch := r.command(ctx, "", "--git-dir="+repo.gitDir, "cat-file", "--batch")
	batch.Stdin = pr
	batchErr := &limitedBuffer{}
	batch.Stderr = batchErr
	out, err := batch.StdoutPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return found, fmt.Errorf("connect to git cat-file: %w", err)
	}

	if err := list.Start(); err != nil {
		pr.Close()
		pw.Close()
		out.Close()
		return found, fmt.Errorf("start git rev-list: %w", err)
	}
	if err := batch.Start(); err != nil {
		pr.Close()
		pw.Close()
		out.Close()
		cancel()
		_ = list.Wait()
		return found, fmt.Errorf("start git cat-file: %w", err)
	}
	// Each child holds its own end of the pipe now. Closing ours lets
	// cat-file see the end of the list, and rev-list see a cat-file that
	// exited early.
	pr.Close()
	pw.Close()

	readErr := r.readBatch(bufio.NewReaderSize(out, defaultChunk), repo, repoName, &found)
	if readErr != nil {
		cancel()
	}
	batchWait := batch.Wait()
	listWait := list.Wait()
	switch {
	case readErr != nil:
		return found, readErr
	case listWait != nil:
		return found, &gitError{command: "rev-list", err: listWait, stderr: listErr.String()}
	case batchWait != nil:
		return found, &gitError{command: "cat-file", err: batchWait, stderr: batchErr.String()}
	}
	return found, nil
}

// readBatch reads git cat-file --batch output: for each object a line
// "<id> <type> <size>", the content, and a newline.
func (r *run) readBatch(br *bufio.Reader, repo repository, repoName string, found *objectHits) error {
	for {
		header, err := br.ReadString('\n')
		if errors.Is(err, io.EOF) && header == "" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read git cat-file output: %w", err)
		}
		fields := strings.Fields(header)
		if len(fields) == 2 && fields[1] == "missing" {
			continue
		}
		if len(fields) != 3 {
			return fmt.Errorf("read git cat-file output: unexpected header line of %d fields", len(fields))
		}
		oid, kind := fields[0], fields[1]
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return fmt.Errorf("read git cat-file output: object %s has size %q", oid, fields[2])
		}
		body := io.LimitReader(br, size)

		switch kind {
		case "blob":
			r.res.Stats.Blobs++
			matches, info, err := r.Matcher.search(body)
			r.res.Stats.HistoryBytes += info.size
			if err != nil {
				return fmt.Errorf("read blob %s: %w", oid, err)
			}
			if len(matches) > 0 {
				found.blobs[oid] = blobHit{matches: matches, binary: info.binary}
			}
		case "tree":
			r.res.Stats.Trees++
			matches, _, err := r.Matcher.search(body)
			if err != nil {
				return fmt.Errorf("read tree %s: %w", oid, err)
			}
			found.names = found.names || len(matches) > 0
		case "commit", "tag":
			content, err := io.ReadAll(body)
			if err != nil {
				return fmt.Errorf("read %s %s: %w", kind, oid, err)
			}
			r.res.Stats.HistoryBytes += int64(len(content))
			r.searchCommitOrTag(kind, oid, content, repoName)
		default:
			if _, err := io.Copy(io.Discard, body); err != nil {
				return fmt.Errorf("read %s %s: %w", kind, oid, err)
			}
		}
		if b, err := br.ReadByte(); err != nil || b != '\n' {
			return fmt.Errorf("read git cat-file output: object %s is longer than its stated size", oid)
		}
	}
}

// searchCommitOrTag reports one hit per form in a commit or an annotated
// tag object: in its message, or in its author, committer or tagger lines.
func (r *run) searchCommitOrTag(kind, oid string, content []byte, repoName string) {
	if kind == "commit" {
		r.res.Stats.Commits++
	} else {
		r.res.Stats.Tags++
	}
	matches, _, _ := r.Matcher.search(bytes.NewReader(content)) // a bytes.Reader returns no error but io.EOF
	seen := map[Form]bool{}
	for _, m := range matches {
		if seen[m.form] {
			continue
		}
		seen[m.form] = true
		if kind == "commit" {
			r.hit(Hit{Kind: KindCommit, Form: m.form, Repository: repoName, Object: oid,
				Commits: []Commit{{ID: oid, Date: headerTime(content, "committer ")}}})
			continue
		}
		r.hit(Hit{Kind: KindTag, Form: m.form, Repository: repoName, Object: oid,
			Path: r.Matcher.Redact(headerValue(content, "tag "))})
	}
}

// headerValue returns the value of the first header line of a commit or
// tag object that starts with prefix.
func headerValue(content []byte, prefix string) string {
	head, _, _ := bytes.Cut(content, []byte("\n\n"))
	for line := range bytes.SplitSeq(head, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(prefix)); ok {
			return string(v)
		}
	}
	return ""
}

// headerTime returns the time in a "committer" or "tagger" header, which
// ends in "<unix seconds> <zone>", or the zero time.
func headerTime(content []byte, prefix string) time.Time {
	fields := strings.Fields(headerValue(content, prefix))
	if len(fields) < 2 {
		return time.Time{}
	}
	secs, err := strconv.ParseInt(fields[len(fields)-2], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(secs, 0).UTC()
}

// place is one path at which commits put a blob.
type place struct {
	path    string
	commits []Commit
}

// attribute reads the history with git log and returns, for each blob in
// found, the paths at which commits put it, and when found.names is set,
// the paths whose names contain the secret with the commits that add them.
// A commit "puts" a blob at a path when, compared with its parent (or each
// parent of a merge, as git log -c compares), the path holds that blob
// afterwards and did not before: an added, changed or reverted file.
func (r *run) attribute(repo repository, found objectHits) (map[string][]place, map[string][]Commit, error) {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	log := r.command(ctx, "", "--git-dir="+repo.gitDir, "-c", "core.quotePath=false", "log", "--all", "--reflog",
		"--raw", "--no-abbrev", "--no-renames", "-c", "--root", "--no-show-signature", "--format=commit %H %ct")
	stderr := &limitedBuffer{}
	log.Stderr = stderr
	out, err := log.StdoutPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("connect to git log: %w", err)
	}
	if err := log.Start(); err != nil {
		return nil, nil, fmt.Errorf("start git log: %w", err)
	}

	type key struct{ oid, path string }
	byKey := map[key][]Commit{}
	names := map[string][]Commit{}
	var current Commit
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "commit "); ok {
			id, secs, _ := strings.Cut(rest, " ")
			n, _ := strconv.ParseInt(secs, 10, 64)
			current = Commit{ID: id, Date: time.Unix(n, 0).UTC()}
			continue
		}
		oid, status, path, ok := parseRaw(line)
		if !ok || strings.Trim(oid, "0") == "" {
			continue // not a raw line, or a deletion
		}
		if _, hit := found.blobs[oid]; hit {
			k := key{oid, path}
			byKey[k] = append(byKey[k], current)
		}
		if found.names && strings.Contains(status, "A") && r.Matcher.Contains(path) {
			names[path] = append(names[path], current)
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		cancel()
	}
	waitErr := log.Wait()
	switch {
	case scanErr != nil:
		return nil, nil, fmt.Errorf("read git log output: %w", scanErr)
	case waitErr != nil:
		return nil, nil, &gitError{command: "log", err: waitErr, stderr: stderr.String()}
	}

	oldestFirst := func(cs []Commit) []Commit {
		slices.SortStableFunc(cs, func(a, b Commit) int { return a.Date.Compare(b.Date) })
		return cs
	}
	places := map[string][]place{}
	for k, commits := range byKey {
		places[k.oid] = append(places[k.oid], place{path: k.path, commits: oldestFirst(commits)})
	}
	for path, commits := range names {
		names[path] = oldestFirst(commits)
	}
	return places, names, nil
}

// parseRaw parses one line of git log --raw output, in the plain form
// ":<mode> <mode> <id> <id> <status>\t<path>" or the combined form of a
// merge with one more colon, mode and id per extra parent. It returns the
// id the path holds after the commit.
func parseRaw(line string) (oid, status, path string, ok bool) {
	meta, path, ok := strings.Cut(line, "\t")
	if !ok || !strings.HasPrefix(meta, ":") {
		return "", "", "", false
	}
	parents := len(meta) - len(strings.TrimLeft(meta, ":"))
	fields := strings.Fields(meta[parents:])
	if len(fields) != 2*(parents+1)+1 {
		return "", "", "", false
	}
	if strings.HasPrefix(path, `"`) {
		// git quotes a path with control characters, quotes or
		// backslashes in C style, which strconv.Unquote reads.
		if unquoted, err := strconv.Unquote(path); err == nil {
			path = unquoted
		}
	}
	return fields[2*parents+1], fields[2*parents+2], path, true
}

// command returns a git command with a clean environment. Variables that
// would point git at another repository, index or namespace are removed.
// Replacement objects are not applied, and nothing prompts or fetches
// lazily. Messages are in English, so that "not a git repository" can be
// recognised.
func (r *run) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.git, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = gitEnv(os.Environ())
	return cmd
}

// gitEnv returns environ without the variables that redirect git, plus
// the settings command describes.
func gitEnv(environ []string) []string {
	redirect := []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
		"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_REPLACE_REF_BASE"}
	out := make([]string, 0, len(environ)+6)
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(redirect, name) {
			out = append(out, kv)
		}
	}
	return append(out, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", "GIT_NO_REPLACE_OBJECTS=1",
		"GIT_NO_LAZY_FETCH=1", "GIT_PAGER=cat")
}

// output runs git in dir and returns its standard output.
func (r *run) output(dir string, args ...string) (string, error) {
	cmd := r.command(r.ctx, dir, args...)
	var stdout bytes.Buffer
	stderr := &limitedBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		return "", &gitError{command: args[0], err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

// gitError is a git command that failed, with what it wrote to stderr.
type gitError struct {
	command string
	err     error
	stderr  string
}

func (e *gitError) Error() string {
	msg := strings.Join(strings.Fields(e.stderr), " ")
	if msg == "" {
		return fmt.Sprintf("git %s: %v", e.command, e.err)
	}
	return fmt.Sprintf("git %s: %v: %s", e.command, e.err, msg)
}

func (e *gitError) Unwrap() error { return e.err }

// limitedBuffer keeps the first 4 KiB written to it, enough for git's
// error messages, and discards the rest.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
