package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration. Its message states what
// is wrong and how to fix it. It never quotes the value of a secret-looking
// key or the user name and password of a URL.
type Problem struct {
	File    string // the file name given to Parse or Load; empty for a Config built in code
	Key     string // the key's path, such as "credentials[1].store.backend"
	Line    int    // 1-based line in File; 0 when unknown
	Message string
}

// String formats the problem as "rotor.yaml:12: credentials[1].store.backend:
// message", leaving out the parts that are empty.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ProblemsError is the error Load and Parse return for a configuration with
// problems. It holds every problem found, ordered by line, up to a limit
// that Parse documents.
type ProblemsError struct {
	Problems []Problem
}

// Error returns the problems one per line.
func (e *ProblemsError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
