//go:build crashpoints

package crashpoint

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// With the tag, Hit returns for any name but the selected one, and at the
// selected one writes its line and blocks. The blocking half runs in a
// child process, because a blocked goroutine cannot be stopped.
func TestHitBlocksAtSelectedPoint(t *testing.T) {
	if name := os.Getenv("CRASHPOINT_TEST_CHILD"); name != "" {
		Hit("stage", "after-intent")
		Hit(strings.Split(name, "/")...)
		os.Exit(0) // not reached when name is selected
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHitBlocksAtSelectedPoint$")
	cmd.Env = append(os.Environ(), "CRASHPOINT_TEST_CHILD=promote/after-backend", EnvVar+"=promote/after-backend")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("stderr pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if want := "crashpoint promote/after-backend reached"; !ok || line != want {
			t.Fatalf("first line of stderr = %q, want %q", line, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child wrote no line within 10s")
	}

	exited := make(chan error, 1)
	go func() {
		for range lines {
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		t.Fatalf("the child went on past the selected point and exited (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	<-exited
}
