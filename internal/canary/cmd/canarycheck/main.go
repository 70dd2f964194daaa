// Command canarycheck searches the files under each directory it is given
// for the canary secrets of rotor's tests (package canary). A test artefact,
// such as a page saved by a browser test, must not carry one out of the
// test run. It prints each file that contains a canary and the form, never
// the value. It exits 1 when it found one, and 2 on a usage or read error.
// A directory that does not exist has nothing to search.
//
//	go run ./internal/canary/cmd/canarycheck artifacts
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rotorhq/rotor/internal/canary"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(dirs []string, stdout, stderr io.Writer) int {
	if len(dirs) == 0 {
		fmt.Fprintln(stderr, "usage: canarycheck DIR...")
		return 2
	}
	var files, hits int
	seen := map[string]bool{} // absolute paths, for directories given twice or nested
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			abs, err := filepath.Abs(path)
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() || seen[abs] {
				return nil
			}
			seen[abs] = true
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if form, found := canary.Find(string(b)); found {
				hits++
				fmt.Fprintf(stdout, "%s: contains the canary secret (%s form)\n", path, form)
			}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) && !exists(dir) {
			continue
		}
		if err != nil {
			fmt.Fprintf(stderr, "canarycheck: search %s: %v\n", dir, err)
			return 2
		}
	}
	if hits > 0 {
		fmt.Fprintf(stderr, "canarycheck: %d of %d files contain a canary secret; a test wrote a secret into an artefact\n", hits, files)
		return 1
	}
	fmt.Fprintf(stdout, "canarycheck: no canary secret in %d files\n", files)
	return 0
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
