package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testRepo is a git repository built with the git CLI for a test. Each
// commit is dated one day after the previous one, from 2024-01-01.
type testRepo struct {
	t    *testing.T
	dir  string
	days int
}

func newRepo(t *testing.T, dir string) *testRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("SKIPPING: git is not installed: %v", err)
	}
	r := &testRepo{t: t, dir: dir}
	r.git("init", "-q", "-b", "main", dir)
	return r
}

// git runs git in the repository and returns its trimmed output. The
// secret never goes into an argument: files and messages are written to
// disk first.
func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	if args[0] == "init" {
		cmd.Dir = ""
	}
	date := time.Date(2024, 1, 1+r.days, 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *testRepo) write(path, content string) {
	r.t.Helper()
	writeFile(r.t, filepath.Join(r.dir, path), content)
}

// commit commits everything with message and returns the commit's id and
// date.
func (r *testRepo) commit(message string, extra ...string) Commit {
	r.t.Helper()
	msgFile := filepath.Join(r.t.TempDir(), "message")
	writeFile(r.t, msgFile, message)
	r.git("add", "-A")
	r.git(append([]string{"commit", "-q", "-F", msgFile}, extra...)...)
	c := Commit{ID: r.git("rev-parse", "HEAD"), Date: time.Date(2024, 1, 1+r.days, 10, 0, 0, 0, time.UTC)}
	r.days++
	return c
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// scanPaths runs a scan and returns its result, with each hit as String
// prints it, sorted, and everything the scan would print for people and
// machines.
func scanPaths(t *testing.T, s *Scanner, paths ...string) (Result, []string, string) {
	t.Helper()
	res, err := s.Run(context.Background(), paths)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var lines []string
	for _, h := range res.Hits {
		lines = append(lines, h.String())
	}
	slices.Sort(lines)
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("marshal result: %v", err)
	}
	printed := strings.Join(lines, "\n") + "\n" + strings.Join(res.Errors, "\n") + "\n" + string(raw)
	return res, lines, printed
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hits:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A working tree with the secret in plain, URL-encoded and Basic-auth
// forms, across the default read size, in a binary file and in a file name.
// A near miss, a symbolic link out of the tree and a missing path are not
// hits.
func TestScanFiles(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	root := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "elsewhere.env"), canary)

	writeFile(t, filepath.Join(root, "config", "app.env"), "A=1\nB=2\nCLIENT_SECRET="+canary+"\n")
	writeFile(t, filepath.Join(root, "config", "url.txt"), "https://auth.example/token?client_secret="+url.QueryEscape(canary)+"\n")
	writeFile(t, filepath.Join(root, "ci", "curl.sh"), "#!/bin/sh\ncurl -H 'Authorization: Basic "+basicHeader("client-a", canary)+"' https://x\n")
	big := strings.Repeat("z", m.maxLen-1+defaultChunk-10) + "\n" + canary + "\n" // across the first read
	writeFile(t, filepath.Join(root, "big.log"), big)
	writeFile(t, filepath.Join(root, "app.bin"), "\x7fELF\x00\x00"+canary)
	writeFile(t, filepath.Join(root, "near.env"), "CLIENT_SECRET="+nearMiss+"\n")
	writeFile(t, filepath.Join(root, "notes", canary+".txt"), "named after it\n")
	if err := os.Symlink(filepath.Join(outside, "elsewhere.env"), filepath.Join(root, "link.env")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(root, "no-such-file")

	res, lines, printed := scanPaths(t, &Scanner{Matcher: m}, root, missing)
	diffLines(t, lines, []string{
		root + "/config/app.env:3: exact",
		root + "/config/url.txt:1: url",
		root + "/ci/curl.sh:2: base64",
		root + "/big.log:2: exact",
		root + "/app.bin: byte 6 (binary): exact",
		root + "/notes/" + secretRedacted + ".txt (in the name): exact",
	})
	if res.Stats.SkippedSymlinks != 1 {
		t.Errorf("skipped symlinks = %d, want 1", res.Stats.SkippedSymlinks)
	}
	if res.Stats.Files != 7 {
		t.Errorf("files = %d, want 7", res.Stats.Files)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "no-such-file") || !strings.Contains(res.Errors[0], "check the path") {
		t.Errorf("errors = %q, want one for the missing path that says what to check", res.Errors)
	}
	if len(res.Stats.Repositories) != 0 {
		t.Errorf("repositories = %v, want none outside git", res.Stats.Repositories)
	}
	assertNoLeak(t, m, canary, printed)
}

const secretRedacted = "[REDACTED]"

// historyRepo builds a repository whose history holds the secret in many
// places that its working tree no longer shows, and returns the hits a
// scan must report, as String prints them.
func historyRepo(t *testing.T, dir string) (*testRepo, []string) {
	t.Helper()
	r := newRepo(t, dir)
	at := func(c Commit) string { return c.ID[:12] + " (" + c.Date.Format(time.DateOnly) + ")" }

	r.write("README.md", "# app\n")
	r.write("secrets.env", "A=1\nCLIENT_SECRET="+canary+"\n")
	added := r.commit("add configuration")
	r.git("rm", "-q", "secrets.env")
	r.commit("remove the secret")

	r.write("ci/curl.sh", "#!/bin/sh\ncurl -H 'Authorization: Basic "+basicHeader("client-a", canary)+"'\n")
	basic := r.commit("add the smoke test")
	r.git("rm", "-q", "ci/curl.sh")
	r.commit("drop the smoke test")

	message := r.commit("rotate\n\nold value was "+url.QueryEscape(canary)+"\n", "--allow-empty")

	tagMessage := filepath.Join(t.TempDir(), "tag")
	writeFile(t, tagMessage, "release with "+canary+"\n")
	r.git("tag", "-a", "v1", "-F", tagMessage)
	tag := r.git("rev-parse", "v1")

	// Amended away: only the reflog reaches the first version.
	r.write("notes.txt", "secret: "+canary+"\n")
	amended := r.commit("add notes")
	r.write("notes.txt", "secret: see the vault\n")
	r.commit("add notes", "--amend")

	// Stashed: refs/stash reaches it.
	r.write("README.md", "# app\n\ntoken "+canary+"\n")
	r.git("stash", "-q")
	stash := Commit{ID: r.git("rev-parse", "stash@{0}"), Date: time.Date(2024, 1, 1+r.days, 10, 0, 0, 0, time.UTC)}

	repo := r.dir
	return r, []string{
		repo + ": commit " + at(added) + " adds secrets.env:2: exact",
		repo + ": commit " + at(basic) + " adds ci/curl.sh:2: base64",
		repo + ": commit " + at(message) + " (message or author): url",
		repo + ": tag v1 (" + tag[:12] + "): exact",
		repo + ": commit " + at(amended) + " adds notes.txt:1: exact",
		repo + ": commit " + at(stash) + " adds README.md:3: exact",
	}
}

// The history of a repository found while walking a directory: a file
// deleted in a later commit, Base64 in Basic auth, a commit message, a tag,
// an amended commit and a stash.
func TestScanGitHistory(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	root := t.TempDir()
	_, want := historyRepo(t, filepath.Join(root, "app"))

	res, lines, printed := scanPaths(t, &Scanner{Matcher: m}, root)
	diffLines(t, lines, want)
	if len(res.Errors) != 0 {
		t.Errorf("errors: %q", res.Errors)
	}
	if got := res.Stats.Repositories; len(got) != 1 || got[0] != filepath.Join(root, "app") {
		t.Errorf("repositories = %v, want [%s]", got, filepath.Join(root, "app"))
	}
	if res.Stats.Commits < 7 || res.Stats.Blobs < 5 || res.Stats.Tags != 1 {
		t.Errorf("stats = %+v, want at least 7 commits, 5 blobs and 1 tag", res.Stats)
	}
	for _, h := range res.Hits {
		if h.Kind == KindBlob && (h.Object == "" || len(h.Commits) != 1) {
			t.Errorf("hit %s: object %q, commits %v; want the blob and the commit that adds it", h, h.Object, h.Commits)
		}
	}
	assertNoLeak(t, m, canary, printed)
}

// A path inside a repository searches the whole repository's history;
// a bare clone is searched from its objects, not as files.
func TestScanRepositoryFromInside(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	root := t.TempDir()
	r, want := historyRepo(t, filepath.Join(root, "app"))
	r.write("docs/guide.md", "nothing here\n")

	_, lines, _ := scanPaths(t, &Scanner{Matcher: m}, filepath.Join(root, "app", "docs"))
	diffLines(t, lines, want)

	bare := filepath.Join(root, "app.git")
	r.git("clone", "-q", "--bare", r.dir, bare)
	res, lines, _ := scanPaths(t, &Scanner{Matcher: m}, bare)
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "adds secrets.env:2: exact") }) {
		t.Errorf("the bare clone's history lacks the deleted file:\n%s", strings.Join(lines, "\n"))
	}
	if res.Stats.Files > 10 || res.Stats.Repositories[0] != bare {
		t.Errorf("bare clone: %d files searched as files, repositories %v; want only its top-level files and [%s]", res.Stats.Files, res.Stats.Repositories, bare)
	}
}

// A file name that holds the secret in a commit is reported with the
// commit that adds it.
func TestScanGitFileName(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	r := newRepo(t, t.TempDir())
	r.write("keys/"+url.QueryEscape(canary)+".pem", "not the secret\n")
	c := r.commit("add key")
	r.git("rm", "-q", "-r", "keys")
	r.commit("remove key")

	res, lines, printed := scanPaths(t, &Scanner{Matcher: m}, r.dir)
	diffLines(t, lines, []string{fmt.Sprintf("%s: commit %s (%s) adds keys/%s.pem (in the name): url", r.dir, c.ID[:12], c.Date.Format(time.DateOnly), secretRedacted)})
	if len(res.Errors) != 0 {
		t.Errorf("errors: %q", res.Errors)
	}
	assertNoLeak(t, m, canary, printed)
}

// Without git, files are still searched, and a repository is an error
// whose fix is to install git.
func TestScanWithoutGit(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	root := t.TempDir()
	historyRepo(t, filepath.Join(root, "app"))
	writeFile(t, filepath.Join(root, "plain.env"), canary)

	s := &Scanner{Matcher: m, Git: filepath.Join(t.TempDir(), "git")}
	res, lines, _ := scanPaths(t, s, root)
	diffLines(t, lines, []string{root + "/plain.env:1: exact"})
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "install git") || !strings.Contains(res.Errors[0], filepath.Join(root, "app")) {
		t.Errorf("errors = %q, want one that names the repository and says to install git", res.Errors)
	}
	if res.Complete() {
		t.Errorf("Complete() = true for a scan that skipped a repository's history")
	}
}

// Nothing to find: no hits, no errors, and the repository still counted.
func TestScanCleanRepository(t *testing.T) {
	t.Parallel()
	m := newMatcher(t, canary)
	r := newRepo(t, t.TempDir())
	r.write("config.env", "CLIENT_SECRET="+nearMiss+"\n")
	r.commit("add config")

	res, lines, _ := scanPaths(t, &Scanner{Matcher: m}, r.dir)
	if len(lines) != 0 || len(res.Errors) != 0 {
		t.Errorf("hits %q, errors %q; want none", lines, res.Errors)
	}
	if len(res.Stats.Repositories) != 1 || res.Stats.Commits != 1 || res.Stats.Blobs != 1 {
		t.Errorf("stats = %+v, want 1 repository, 1 commit, 1 blob", res.Stats)
	}
}

func TestParseRaw(t *testing.T) {
	t.Parallel()
	zero := strings.Repeat("0", 40)
	a, b, c := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)
	tests := []struct {
		line              string
		oid, status, path string
		ok                bool
	}{
		{":000000 100644 " + zero + " " + a + " A\tdir/file.env", a, "A", "dir/file.env", true},
		{":100644 100644 " + a + " " + b + " M\t\"tab\\there \\303\\251\"", b, "M", "tab\there é", true},
		{"::100644 100644 100644 " + a + " " + b + " " + c + " MM\tmerged.txt", c, "MM", "merged.txt", true},
		{"commit " + a + " 1700000000", "", "", "", false},
		{":100644 " + a + " M\tshort", "", "", "", false},
	}
	for _, tt := range tests {
		oid, status, path, ok := parseRaw(tt.line)
		if oid != tt.oid || status != tt.status || path != tt.path || ok != tt.ok {
			t.Errorf("parseRaw(%q) = %q, %q, %q, %v; want %q, %q, %q, %v", tt.line, oid, status, path, ok, tt.oid, tt.status, tt.path, tt.ok)
		}
	}
}
