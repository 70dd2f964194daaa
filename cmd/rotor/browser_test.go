package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium for a test. Without Chromium the test is
// skipped, except under CI, where scripts/test installs it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is not installed; scripts/test installs it with apt-get install chromium")
		}
		t.Skip("SKIPPING: Chromium is not installed (apt-get install chromium)")
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first action starts the browser, which lives as long as the
	// context of that call, so it runs without a time limit.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// steps runs browser actions with a time limit, so a selector that never
// appears fails the test instead of hanging it.
func steps(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// text returns the text of the first element matching sel.
func text(ctx context.Context, sel string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Text(sel))
}

// screenshot saves the page to ROTOR_ARTIFACTS_DIR (or the test's temporary
// directory) as NAME.png, and its HTML as NAME.html, which scripts/test
// searches for the canary secrets (internal/canary/cmd/canarycheck).
func screenshot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	dir := os.Getenv("ROTOR_ARTIFACTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		html, err := chromedp.OuterHTML(chromedp.CSS("html"))(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return chromedp.Void{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".html"), []byte(html), 0o644)
	}
}

// A new user walks a whole rotation in the browser against `rotor dev`,
// with the simulated Persium panel and without JavaScript-only controls.
func TestBrowserWalkthrough(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	rotor := start(t, []string{"dev", "--addr", "127.0.0.1:0"}, nil)

	err := steps(ctx,
		chromedp.Navigate(rotor.url+"/"),
		chromedp.WaitVisible(`a[href="/credentials/acme-prod"]`),
		screenshot(t, "01-dashboard"),
		chromedp.Click(`a[href="/credentials/acme-prod"]`),
		chromedp.WaitVisible(`#reason`),
		screenshot(t, "02-credential"),
		chromedp.SendKeys(`#reason`, "quarterly rotation"),
		chromedp.SendKeys(`#ticket`, "PER-100"),
		chromedp.Submit(`#reason`),
		chromedp.WaitVisible(`#request-text`),
		screenshot(t, "03-requested"),
	)
	if err != nil {
		t.Fatalf("request a rotation: %v", err)
	}
	if heading, err := text(ctx, `#next-title`); err != nil || heading != "Next: Paste the new secret from Persium" {
		t.Errorf("next action after request = %q (%v)", heading, err)
	}

	// The simulated Persium shows the new secret once; no screenshot of it.
	err = steps(ctx,
		chromedp.Click(`form[action$="/issue"] button`),
		chromedp.WaitVisible(`#issued-secret`),
	)
	if err != nil {
		t.Fatalf("issue a secret at the simulated Persium: %v", err)
	}
	issued, err := text(ctx, `#issued-secret`)
	if err != nil || issued == "" {
		t.Fatalf("read the issued secret: %v", err)
	}
	err = steps(ctx,
		chromedp.Click(`a[href^="/rotations/"]`),
		chromedp.WaitVisible(`#secret`),
		chromedp.SendKeys(`#secret`, issued),
		chromedp.Submit(`#secret`),
		chromedp.WaitVisible(`#notice-issued`),
		screenshot(t, "04-new-issued"),
	)
	if err != nil {
		t.Fatalf("paste the new secret: %v", err)
	}
	if notice, err := text(ctx, `.notice`); err != nil || !strings.Contains(notice, "staged") {
		t.Errorf("notice after pasting the secret = %q (%v)", notice, err)
	}

	err = steps(ctx,
		chromedp.Click(`form[action$="/promote"] button`),
		chromedp.WaitVisible(`#notice-promoted`),
		screenshot(t, "05-dual-active"),
		chromedp.Click(`form[action$="/retire-old"] button`),
		chromedp.WaitVisible(`#notice-persium-retired`),
		chromedp.Click(`input[name="persium_confirmed"]`),
		chromedp.Submit(`input[name="persium_confirmed"]`),
		chromedp.WaitVisible(`h1 .state-old_retired`),
		screenshot(t, "06-retired"),
	)
	if err != nil {
		t.Fatalf("promote and retire: %v", err)
	}
	if state, err := text(ctx, `h1 .state`); err != nil || state != "old_retired" {
		t.Errorf("state after retirement = %q (%v), want old_retired", state, err)
	}

	// Nothing rotor logged contains the secret the operator pasted.
	if issued != "" && strings.Contains(rotor.stderr.String(), issued) {
		t.Errorf("rotor's log contains the pasted secret")
	}
}
