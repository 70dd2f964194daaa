package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/rotorhq/rotor/secret"
)

// fingerprintKeyEnv names the environment variable that holds the key of
// version fingerprints. With the same key, rotor's pages and
// `rotor fingerprint` compute the same fingerprint for a secret.
const fingerprintKeyEnv = "ROTOR_FINGERPRINT_KEY"

// minFingerprintKeyBytes is the shortest key accepted: 256 bits written as
// 32 or more characters, for example `openssl rand -hex 32`.
const minFingerprintKeyBytes = 32

// fingerprintKey returns the key from the environment. Without one it
// returns a random key for this process, and fingerprints then change
// whenever rotor restarts.
func fingerprintKey(getenv func(string) string, log *slog.Logger) ([]byte, error) {
	v := getenv(fingerprintKeyEnv)
	if v == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make a fingerprint key: %w", err)
		}
		log.Info("fingerprints use a random key until rotor restarts; set " + fingerprintKeyEnv + " to keep them stable")
		return key, nil
	}
	if len(v) < minFingerprintKeyBytes {
		return nil, fmt.Errorf("%s is %d bytes long; use at least %d, for example the output of openssl rand -hex 32", fingerprintKeyEnv, len(v), minFingerprintKeyBytes)
	}
	return []byte(v), nil
}

// runFingerprint prints the fingerprint of a secret read from standard
// input, so that an operator can tell which secret a consumer holds
// without showing it: compare the result with the fingerprints on rotor's
// pages. The secret is never echoed.
func runFingerprint(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "rotor fingerprint: takes no arguments; pipe the secret into it, for example: vault kv get -field=client_secret secret/persium/payments-eu | rotor fingerprint")
		return 2
	}
	if getenv(fingerprintKeyEnv) == "" {
		fmt.Fprintf(stderr, "rotor fingerprint: %s is not set; set it to the key rotor serve uses, or the fingerprint will not match rotor's pages\n", fingerprintKeyEnv)
		return 2
	}
	key, err := fingerprintKey(getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(stderr, "rotor fingerprint: %v\n", err)
		return 2
	}
	value, err := readSecretLine(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "rotor fingerprint: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, value.Fingerprint(key))
	return 0
}

// maxSecretLine bounds the secret read from standard input.
const maxSecretLine = 64 << 10

// readSecretLine reads the first line of r without its line ending.
func readSecretLine(r io.Reader) (secret.Value, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxSecretLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return secret.Value{}, errors.New("read the secret from standard input: the first line is longer than 64 KiB or unreadable")
		}
		return secret.Value{}, errors.New("standard input is empty; pipe the secret into rotor fingerprint")
	}
	line := strings.TrimRight(sc.Text(), "\r")
	if line == "" {
		return secret.Value{}, errors.New("the first line of standard input is empty; pipe the secret itself into rotor fingerprint")
	}
	return secret.New(line), nil
}
