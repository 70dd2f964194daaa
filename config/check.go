package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

const checkUsage = "usage: rotor check [-online] -config FILE (or rotor check FILE)"

// CheckCommand runs "rotor check": it validates the configuration file
// without starting rotor. args are the arguments after "check". It prints
// every problem to stdout, one per line as "file:line: key: message", and
// returns 1, or prints a one-line summary and returns 0. It returns 1 as
// well when the file cannot be read, and 2 for a usage error or -online.
//
// runOnline, when not nil, runs the -online checks on the valid configuration
// and returns the exit code. rotor's command passes the function that
// reaches each backend, because this package imports none of them.
func CheckCommand(args []string, stdout, stderr io.Writer, runOnline func(cfg *Config, stdout, stderr io.Writer) int) int {
	fs := flag.NewFlagSet("rotor check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, checkUsage)
		fs.PrintDefaults()
	}
	path := fs.String("config", "", "path of the YAML configuration file to check")
	online := fs.Bool("online", false, "also reach each configured secret in its backend and report what would break a rotation")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	} else if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, checkUsage)
		return 2
	}

	cfg, err := Load(*path)
	var problems *ProblemsError
	switch {
	case errors.As(err, &problems):
		for _, p := range problems.Problems {
			fmt.Fprintln(stdout, p.String())
		}
		fmt.Fprintf(stderr, "rotor check: %s has %s\n", *path, plural(len(problems.Problems), "problem"))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "rotor check: %v\n", err)
		return 1
	}

	fmt.Fprintf(stdout, "%s: OK, %s, %s\n", *path, plural(len(cfg.Credentials), "credential"), plural(len(cfg.Backends), "backend"))

	if *online {
		if runOnline == nil {
			fmt.Fprintln(stderr, "rotor check: -online is not available in this build; only the file was checked")
			return 2
		}
		return runOnline(cfg, stdout, stderr)
	}
	return 0
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
