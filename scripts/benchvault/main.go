// Command benchvault runs the fake Vault of secretstore/vault/vaultfake as
// a process, with one client secret at secret/persium/bench, so that
// scripts/bench can start a real `rotor serve` and measure it. It prints
// the address and then the root token, one per line, and serves until it is
// interrupted. It is a benchmark harness: the fake keeps everything in
// memory and listens on 127.0.0.1 only.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rotorhq/rotor/secretstore/vault/vaultfake"
)

func main() {
	fake := vaultfake.Start()
	defer fake.Close()
	if _, err := fake.Put(vaultfake.DefaultMount, "persium/bench", map[string]any{"client_secret": "bench-not-a-real-secret"}); err != nil {
		fmt.Fprintf(os.Stderr, "benchvault: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(fake.URL())
	fmt.Println(fake.Token())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
}
