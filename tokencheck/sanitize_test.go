package tokencheck

import (
	"strings"
	"testing"

	"github.com/rotorhq/rotor/secret"
)

func TestScrubberRemovesEveryForm(t *testing.T) {
	t.Parallel()
	const raw = "a+b/c=d:e%f g<h>\u00e9\U0001F511"
	sc := newScrubber("client a", secret.New(raw))
	tests := []struct {
		name string
		echo string
	}{
		{"as it is", raw},
		{"form-encoded", "a%2Bb%2Fc%3Dd%3Ae%25f+g%3Ch%3E%C3%A9%F0%9F%94%91"},
		{"form-encoded with lower-case hex", "a%2bb%2fc%3dd%3ae%25f+g%3ch%3e%c3%a9%f0%9f%94%91"},
		{"path-encoded", "a+b%2Fc=d:e%25f%20g%3Ch%3E%C3%A9%F0%9F%94%91"},
		{"Basic credentials", basicCredentials("client a", raw)},
		{"Basic credentials without padding", strings.TrimRight(basicCredentials("client a", raw), "=")},
		{"JSON with HTML escapes", `a+b/c=d:e%f g\u003ch\u003e` + "\u00e9\U0001F511"},
		{"JSON without HTML escapes", "a+b/c=d:e%f g<h>\u00e9\U0001F511"},
		{"JSON with escaped slashes", `a+b\/c=d:e%f g\u003ch\u003e` + "\u00e9\U0001F511"},
		{"ASCII-only JSON, lower-case hex", `a+b/c=d:e%f g<h>\u00e9\ud83d\udd11`},
		{"ASCII-only JSON, upper-case hex", `a+b/c=d:e%f g<h>\u00E9\uD83D\uDD11`},
		{"HTML-escaped", "a+b/c=d:e%f g&lt;h&gt;\u00e9\U0001F511"},
	}
	for _, tt := range tests {
		got := sc.scrub("before " + tt.echo + " after")
		if want := "before " + secret.Redacted + " after"; got != want {
			t.Errorf("%s: scrub(%q) = %q; want %q", tt.name, tt.echo, got, want)
		}
	}
}

func TestSanitizeLineRejoinsSplitEcho(t *testing.T) {
	t.Parallel()
	sc := newScrubber("client-a", secret.New("with  two\tspaces"))

	got := sanitizeLine("echo: with\r\n two\n\nspaces!", sc, 100)

	if want := "echo: " + secret.Redacted + "!"; got != want {
		t.Errorf("sanitizeLine = %q; want %q", got, want)
	}
}

func TestTruncateRunes(t *testing.T) {
	t.Parallel()
	if got, want := truncateRunes("\u00e9\u00e9\u00e9\u00e9", 2), "\u00e9\u00e9…"; got != want {
		t.Errorf("truncateRunes = %q; want %q", got, want)
	}
	if got, want := truncateRunes("short", 10), "short"; got != want {
		t.Errorf("truncateRunes = %q; want %q", got, want)
	}
}
