package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/rotorhq/rotor/secret"
)

// ssoBrowser is one person's browser: its own cookies, JavaScript off, and
// a screenshot of every page it visits.
type ssoBrowser struct {
	t      *testing.T
	ctx    context.Context
	person string
	shots  *ssoShots
}

// ssoShots numbers the screenshots of a test in the order they are taken,
// so the folder reads as the walk-through, and keeps each page's HTML.
type ssoShots struct {
	dir string

	mu    sync.Mutex
	n     int
	pages []string // the HTML of every page, for the leak search
}

func newSSOShots(t *testing.T) *ssoShots {
	t.Helper()
	dir := t.TempDir()
	if root := os.Getenv("ROTOR_ARTIFACTS_DIR"); root != "" {
		dir = filepath.Join(root, "sso")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create the screenshot folder: %v", err)
	}
	return &ssoShots{dir: dir}
}

// ssoBrowserFor opens a tab in a browser context of its own, with its own
// cookies, and switches JavaScript off in it.
func ssoBrowserFor(t *testing.T, parent context.Context, person string, shots *ssoShots) *ssoBrowser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &ssoBrowser{t: t, ctx: ctx, person: person, shots: shots}

	// The first action opens the tab, which lives as long as the context
	// of that call, so it runs without the time limit of steps.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	if err != nil {
		t.Fatalf("%s: open a tab with JavaScript off: %v", person, err)
	}

	// A page script that would set the title must not run.
	b.do("open a page with a script", chromedp.Navigate(`data:text/html,<title>before</title><script>document.title="script ran"</script>`))
	if title := b.text("the title", chromedp.Title()); title != "before" {
		t.Fatalf("%s's browser runs page scripts: the title is %q", person, title)
	}
	return b
}

// do runs browser actions with a time limit and stops the test at the first
// failure, naming the step.
func (b *ssoBrowser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := steps(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.person, step, err)
	}
}

// text runs an action that returns a string.
func (b *ssoBrowser) text(what string, a chromedp.Action[string]) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: read %s: %v", b.person, what, err)
	}
	return v
}

// attribute returns the value of the attribute name of the first element
// that matches the CSS selector sel.
func (b *ssoBrowser) attribute(sel, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil || !v.Exists {
		b.t.Fatalf("%s: read the attribute %s of %s: %v", b.person, name, sel, err)
	}
	return v.Value
}

// count returns how many elements match the CSS selector sel, at once.
func (b *ssoBrowser) count(sel string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		b.t.Fatalf("%s: query %s: %v", b.person, sel, err)
	}
	return len(nodes)
}

// page checks the page the browser is on, once visible is visible: its
// form fields each have a label, and a screenshot goes to the artefacts
// as NN-person-name.png. Its HTML is kept for the leak search.
func (b *ssoBrowser) page(name, visible string) {
	b.t.Helper()
	b.do("wait for "+name, chromedp.WaitVisible(visible))
	b.checkLabels(name)
	html := b.text("the HTML of "+name, chromedp.OuterHTML(chromedp.CSS("html")))

	b.shots.mu.Lock()
	b.shots.n++
	b.shots.pages = append(b.shots.pages, html)
	file := filepath.Join(b.shots.dir, fmt.Sprintf("%02d-%s-%s.png", b.shots.n, b.person, name))
	b.shots.mu.Unlock()
	png := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		img, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(file, img, 0o644)
	}
	b.do("screenshot of "+name, png)
}

// unlabelled lists, for each form field of the page that a person fills
// in, the field's HTML when no label names it: no <label for>, no
// enclosing <label>, no aria-label and no aria-labelledby. DevTools runs
// it, not the page, so it works with the page's scripts switched off.
const unlabelled = `Array.from(document.querySelectorAll("input, select, textarea"))
	.filter(e => !["hidden", "submit", "button", "reset", "image"].includes(e.type))
	.filter(e => (!e.labels || e.labels.length === 0) && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby"))
	.map(e => e.outerHTML)`

func (b *ssoBrowser) checkLabels(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	fields, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](unlabelled))
	if err != nil {
		b.t.Fatalf("%s: list the unlabelled fields of %s: %v", b.person, name, err)
	}
	for _, f := range fields {
		b.t.Errorf("%s: the page %s has a form field without a label: %s", b.person, name, f)
	}
}

// signIn signs the person in through the provider's user form, from
// path, and waits for visible on the page the sign-in returns to.
func (b *ssoBrowser) signIn(s *ssoServer, subject, path, name, visible string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(s.url+path))
	b.page("provider-user-form", "#ssotest-form")
	b.do("pick "+subject, chromedp.Click("#user-"+subject))
	b.page(name, visible)
}

// A rotation of a credential under the four-eyes rule, walked in Chromium
// with JavaScript off: alice signs in through the identity provider's
// form, requests, pastes, promotes and is refused the retirement until
// bob approves in a browser of his own. She then reports a compromise.
// vera, a viewer, finds no forms to act, and a forged form gets a 403.
// Every page is a screenshot in ROTOR_ARTIFACTS_DIR/sso.
func TestSSOBrowserWalkthrough(t *testing.T) {
	t.Parallel()
	root := browser(t)
	s := startSSO(t)
	shots := newSSOShots(t)

	alice := ssoBrowserFor(t, root, "alice", shots)
	alice.signIn(s, "alice", "/", "dashboard", `a[href="/credentials/cred-a"]`)
	if who := alice.text("who is signed in", chromedp.Text(".who")); !strings.Contains(who, "alice@example.com (operator)") {
		t.Errorf("the dashboard says %q, want alice@example.com (operator)", who)
	}

	// Request the rotation from the credential's page.
	alice.do("open cred-a", chromedp.Click(`a[href="/credentials/cred-a"]`))
	alice.page("credential", "#reason")
	alice.do("request a rotation",
		chromedp.SendKeys("#reason", "quarterly rotation"),
		chromedp.SendKeys("#ticket", "PER-200"),
		chromedp.Click(`form[action="/credentials/cred-a/rotations"] button[type="submit"]`),
	)
	alice.page("requested", "#request-text")
	location := alice.text("the rotation's address", chromedp.Location())
	rotationPath := location[len(s.url):]
	if i := strings.IndexByte(rotationPath, '?'); i >= 0 {
		rotationPath = rotationPath[:i]
	}
	if !strings.HasPrefix(rotationPath, "/rotations/") {
		t.Fatalf("after the request the browser is at %s, want a rotation page", location)
	}

	// Persium issues a new secret, which alice pastes. No screenshot shows
	// it, because the field is a password field.
	issued, err := s.sim.Issue("client-a")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	alice.do("paste the new secret",
		chromedp.SendKeys("#secret", issued.Reveal()),
		chromedp.Click(`form[action$="/issued"] button[type="submit"]`),
	)
	alice.page("new-issued", "#notice-issued")
	alice.do("promote", chromedp.Click(`form[action$="/promote"] button[type="submit"]`))
	alice.page("dual-active", "#notice-promoted")
	if n := alice.count(`form[action$="/approve"]`); n != 0 {
		t.Errorf("the rotation page offers alice, who requested it, %d approval forms", n)
	}

	// Persium retires the old secret. alice may not retire it before a
	// second operator approved.
	if err := s.sim.RetireOld("client-a"); err != nil {
		t.Fatalf("RetireOld: %v", err)
	}
	retire := []chromedp.Action[chromedp.Void]{
		chromedp.Click(`input[name="persium_confirmed"]`),
		chromedp.SendKeys("#retire-reason", "consumers restarted"),
		chromedp.Click(`form[action$="/retire"] button[type="submit"]`),
	}
	alice.do("retire before the approval", retire...)
	alice.page("retire-refused", ".panel.error")
	if msg := alice.text("the refusal", chromedp.Text(".panel.error")); !strings.Contains(msg, "four-eyes") || !strings.Contains(msg, "alice@example.com") {
		t.Errorf("the refusal says %q, want the four-eyes rule and the requester alice@example.com", msg)
	}

	// bob signs in in his own browser, straight to the rotation, and
	// approves.
	bob := ssoBrowserFor(t, root, "bob", shots)
	bob.signIn(s, "bob", rotationPath, "rotation-to-approve", `#four-eyes-retire form button[type="submit"]`)
	bob.do("approve",
		chromedp.SendKeys("#approve-retire-reason", "checked the consumers"),
		chromedp.Click(`#four-eyes-retire form button[type="submit"]`),
	)
	bob.page("approved", "#notice-approved")

	alice.do("reload the rotation", chromedp.Navigate(s.url+rotationPath))
	alice.page("approved-by-bob", "#four-eyes-retire")
	if msg := alice.text("the approval", chromedp.Text("#four-eyes-retire")); !strings.Contains(msg, "approved by bob@example.com") {
		t.Errorf("the rotation page says %q, want the approval by bob@example.com", msg)
	}
	alice.do("retire", retire...)
	alice.page("retired", "h1 .state-old_retired")
	timeline := alice.text("the timeline", chromedp.Text(".timeline"))
	for _, want := range []string{"approved", "bob@example.com", "retire", "alice@example.com"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the timeline lacks %q:\n%s", want, timeline)
		}
	}

	// alice reports a compromise from the dashboard's form, which opens
	// in a <details> element without JavaScript.
	alice.do("open the dashboard", chromedp.Navigate(s.url+"/"))
	alice.do("open the report form", chromedp.Click("#report summary"))
	alice.page("report-form", "#credential")
	alice.do("report a compromise",
		chromedp.SendKeys("#credential", "cred-a"),
		chromedp.SendKeys("#reference", "INC-900"),
		chromedp.SendKeys("#details", "pasted into a public chat"),
		chromedp.Click(`#report button[type="submit"]`),
	)
	alice.page("incident", "#incident-status")
	if status := alice.text("the incident's status", chromedp.Text("#incident-status")); status != "open" {
		t.Errorf("the incident's status is %q, want open", status)
	}
	if tl := alice.text("the incident's timeline", chromedp.Text("#timeline")); !strings.Contains(tl, "alice@example.com") {
		t.Errorf("the incident's timeline does not name alice@example.com:\n%s", tl)
	}

	// vera, a viewer, sees no form to act anywhere she looks.
	vera := ssoBrowserFor(t, root, "vera", shots)
	vera.signIn(s, "vera", "/", "dashboard", `a[href="/credentials/cred-a"]`)
	if n := vera.count("#report"); n != 0 {
		t.Errorf("the dashboard offers vera the compromise form")
	}
	vera.do("open cred-a", chromedp.Navigate(s.url+"/credentials/cred-a"))
	vera.page("credential", "h1")
	incidentPath := strings.TrimPrefix(alice.text("the incident's address", chromedp.Location()), s.url)
	if i := strings.IndexByte(incidentPath, '?'); i >= 0 {
		incidentPath = incidentPath[:i]
	}
	vera.do("open the incident", chromedp.Navigate(s.url+incidentPath))
	vera.page("incident", "#incident-status")
	emergency := vera.attribute("#rotation-title a", "href")
	vera.do("open the emergency rotation", chromedp.Navigate(s.url+emergency))
	vera.page("emergency-rotation", "h1 .state")
	for _, path := range []string{"/credentials/cred-a", incidentPath, emergency} {
		vera.do("open "+path, chromedp.Navigate(s.url+path))
		vera.do("wait for "+path, chromedp.WaitVisible("h1"))
		if n := vera.count(`main form[method="post"]`); n != 0 {
			t.Errorf("%s offers vera %d forms to act", path, n)
		}
	}

	// A form vera makes herself, on rotor's own page, is refused: the
	// sign-out form, pointed at the rotation request.
	vera.do("forge a form",
		chromedp.Navigate(s.url+"/credentials/cred-a"),
		chromedp.WaitVisible(`form[action="/auth/logout"]`),
		chromedp.SetAttributeValue(`form[action="/auth/logout"]`, "action", "/credentials/cred-a/rotations"),
		chromedp.Click(`form[action="/credentials/cred-a/rotations"] button`),
	)
	vera.page("forged-post-refused", ".panel.error")
	if h := vera.text("the heading", chromedp.Text("main h1")); h != "Forbidden" {
		t.Errorf("the forged form's response is headed %q, want Forbidden", h)
	}
	if msg := vera.text("the message", chromedp.Text(".panel.error")); !strings.Contains(msg, "operator role") {
		t.Errorf("the refusal says %q, want it to name the operator role", msg)
	}

	// Signing out ends the session, so the next page is the provider's
	// sign-in form again.
	vera.do("sign out",
		chromedp.Navigate(s.url+"/"),
		chromedp.Click(`form[action="/auth/logout"] button`),
	)
	vera.page("signed-out", "#signin-message")
	vera.do("open the dashboard again", chromedp.Navigate(s.url+"/"))
	vera.page("provider-user-form-again", "#ssotest-form")

	// The pasted secret shows in no page and no log line.
	s.rotor.stop()
	shots.mu.Lock()
	pages := strings.Join(shots.pages, "\n")
	shots.mu.Unlock()
	if !strings.Contains(pages, "alice@example.com") {
		t.Fatalf("the kept pages do not name alice; the search would miss a leak")
	}
	for _, v := range []secret.Value{canary, issued} {
		for form, leak := range leakForms("client-a", v) {
			if strings.Contains(pages, leak) || strings.Contains(s.rotor.stderr.String(), leak) {
				t.Errorf("a Persium secret (%s form) appears in a page or in rotor's log", form)
			}
		}
	}
}
