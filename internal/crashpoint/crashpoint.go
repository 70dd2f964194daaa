//go:build crashpoints

package crashpoint

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Enabled is true in binaries built with the crashpoints tag.
const Enabled = true

var selected = sync.OnceValue(func() string { return os.Getenv(EnvVar) })

// Hit blocks the calling goroutine forever when the point named by parts,
// joined with "/", is the one ROTOR_CRASHPOINT selects. It first writes the
// line "crashpoint <name> reached" to standard error, so that a test
// waiting for that line can kill the process there. Any other name returns
// at once. The variable is read on the first call only.
func Hit(parts ...string) {
	want := selected()
	if want == "" {
		return
	}
	name := strings.Join(parts, "/")
	if name != want {
		return
	}
	fmt.Fprintf(os.Stderr, "crashpoint %s reached\n", name)
	// A sleeping goroutine keeps the runtime's deadlock check quiet, which
	// select {} would trip in a process with nothing else to wait for.
	for {
		time.Sleep(time.Hour)
	}
}
