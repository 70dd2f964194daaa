package scan

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// scanPath searches one path given to Run, and queues the repository that
// contains it. A symbolic link named as the path itself is followed, as the
// user chose it; links met during the walk are not.
func (r *run) scanPath(path string) {
	info, err := os.Stat(path)
	if err != nil {
		r.fail("%v: not searched; check the path and its permissions", err)
		return
	}

	dir := path
	if !info.IsDir() {
		dir = filepath.Dir(path)
	}
	inGitDir := false
	if repo, found, err := r.findRepository(dir); err != nil {
		r.fail("%v", err)
	} else if found {
		r.queue(repo)
		inGitDir = repo.inGitDir
	}

	switch {
	case info.Mode().IsRegular():
		r.scanFile(path)
	case info.IsDir() && inGitDir:
		// A git directory or a bare repository: its history is searched
		// from the objects, and only its top-level files as files.
		r.scanGitDirFiles(path)
	case info.IsDir():
		r.walk(path)
	default:
		r.fail("%s is a %s, not a regular file or a directory: not searched", path, info.Mode().Type())
	}
}

// walk searches a directory tree. It does not follow symbolic links, so
// the scan never leaves the tree and never loops. A link's target is
// searched when it lies inside the tree. walk does not enter .git
// directories. It queues their repository instead, and searches only the
// top-level files in them (config, COMMIT_EDITMSG and the like).
func (r *run) walk(root string) {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if ctxErr := r.ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			r.fail("%v: not searched; check its permissions", err)
			return nil
		}
		// A name hit is reported once, on the entry whose name completes
		// the secret: a secret with a slash spans directories.
		if form, ok := r.Matcher.find(path); ok && !r.Matcher.Contains(filepath.Dir(path)) {
			r.hit(Hit{Kind: KindName, Form: form, Path: r.Matcher.Redact(path)})
		}

		if d.Name() == ".git" {
			repo, found, err := r.findRepository(filepath.Dir(path))
			switch {
			case err != nil:
				r.fail("%v", err)
			case found:
				r.queue(repo)
			}
			if d.IsDir() {
				r.scanGitDirFiles(path)
				return filepath.SkipDir
			}
		}

		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			r.res.Stats.SkippedSymlinks++
		case d.Type().IsRegular():
			r.scanFile(path)
		default:
			r.res.Stats.SkippedSpecial++
		}
		return nil
	})
	if err != nil && !errors.Is(err, r.ctx.Err()) {
		r.fail("walk %s: %v", root, err)
	}
}

// scanGitDirFiles searches the regular files directly in a git directory.
// Its object store is searched through git instead, where compressed
// objects can be read.
func (r *run) scanGitDirFiles(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.fail("%v: not searched; check its permissions", err)
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			r.scanFile(filepath.Join(dir, e.Name()))
		}
	}
}

// scanFile searches one regular file, streaming it in chunks.
func (r *run) scanFile(path string) {
	f, err := os.Open(path)
	if err != nil {
		r.fail("%v: not searched; check its permissions", err)
		return
	}
	defer f.Close()

	matches, info, err := r.Matcher.search(f)
	r.res.Stats.Files++
	r.res.Stats.Bytes += info.size
	safePath := r.Matcher.Redact(path)
	for _, m := range matches {
		h := Hit{Kind: KindFile, Form: m.form, Path: safePath, Offset: m.offset, Binary: info.binary}
		if !info.binary {
			h.Line = m.line
		}
		r.hit(h)
	}
	if err != nil {
		r.fail("read %s after %d bytes: %v: the rest was not searched", safePath, info.size, err)
	}
}
