// Command rotor orchestrates the rotation of Persium client secrets.
//
//	rotor dev      everything in one process, in memory, with a simulated Persium
//	rotor serve    the service, on Postgres and the configured secrets managers
//	rotor migrate  apply the database migrations
//	rotor check    validate a configuration file without starting
//	rotor scan     search files and git history for a leaked secret, without printing it
//	rotor fingerprint  print the keyed hash of a secret read from standard input
//	rotor healthcheck  exit 0 when a running rotor's /readyz returns 200
//	rotor version  print the version
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time zones for server.time_zone, even in images without them

	"github.com/rotorhq/rotor/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

const usage = `usage: rotor <command> [flags]

commands:
  dev          run rotor in memory with a simulated Persium, for trying it out
  serve        run rotor on Postgres with the configured secrets managers
  migrate      apply the database migrations and exit
  check        validate a configuration file without starting
  scan         search files and git history for a credential's old secret, without printing it
  fingerprint  print the fingerprint of a secret piped in, to compare with rotor's pages
  healthcheck  exit 0 when a running rotor's /readyz returns 200
  version      print rotor's version

Run "rotor <command> -h" for the flags of a command.
`

// run is rotor's whole program, with its environment passed in so tests
// can boot it. It returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stdout, stderr, getenv)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr, getenv)
	case "check":
		return config.CheckCommand(rest, stdout, stderr, checkOnline(ctx, getenv))
	case "scan":
		return runScan(ctx, rest, stdout, stderr, getenv)
	case "fingerprint":
		return runFingerprint(ctx, rest, os.Stdin, stdout, stderr, getenv)
	case "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "rotor", version)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "rotor: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// newLogger returns rotor's structured JSON logger.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
