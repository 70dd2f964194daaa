package config

import (
	"strings"
	"testing"
	"time"
)

func TestIncidentsRemindEvery(t *testing.T) {
	t.Parallel()

	t.Run("default when absent", func(t *testing.T) {
		t.Parallel()
		if got := mustParse(t, baseYAML).Incidents.RemindEvery; got != DefaultIncidentRemindEvery {
			t.Errorf("RemindEvery = %s, want %s", got, DefaultIncidentRemindEvery)
		}
	})

	t.Run("set in the file", func(t *testing.T) {
		t.Parallel()
		if got := mustParse(t, baseYAML+"incidents:\n  remind_every: 2h\n").Incidents.RemindEvery; got != 2*time.Hour {
			t.Errorf("RemindEvery = %s, want 2h", got)
		}
	})

	t.Run("default in code", func(t *testing.T) {
		t.Parallel()
		var cfg Config
		cfg.SetDefaults()
		if got := cfg.Incidents.RemindEvery; got != DefaultIncidentRemindEvery {
			t.Errorf("RemindEvery after SetDefaults = %s, want %s", got, DefaultIncidentRemindEvery)
		}
	})

	t.Run("rejects less than 15m", func(t *testing.T) {
		t.Parallel()
		problems := parseProblems(t, baseYAML+"incidents:\n  remind_every: 5m\n")
		if len(problems) != 1 {
			t.Fatalf("got %d problems, want 1:\n%s", len(problems), (&ProblemsError{Problems: problems}).Error())
		}
		if p := problems[0]; p.Key != "incidents.remind_every" || !strings.Contains(p.Message, "shorter than 15m") {
			t.Errorf("problem = %s, want incidents.remind_every shorter than 15m", p)
		}
	})

	t.Run("rejects an unknown key", func(t *testing.T) {
		t.Parallel()
		problems := parseProblems(t, baseYAML+"incidents:\n  remind_evry: 2h\n")
		if len(problems) != 1 || problems[0].Key != "incidents.remind_evry" {
			t.Errorf("problems = %v, want one for incidents.remind_evry", problems)
		}
	})
}

func TestIncidentsPersiumMail(t *testing.T) {
	t.Parallel()
	withMail := func(settings string) string {
		return edit(t, baseYAML, "credentials:\n", channelsBlock) + "incidents:\n" + settings
	}

	t.Run("accepted with an smtp channel", func(t *testing.T) {
		t.Parallel()
		in := mustParse(t, withMail("  persium_support_email: support@persium.example\n  persium_channel: oncall-mail\n")).Incidents
		if in.PersiumSupportEmail != "support@persium.example" || in.PersiumChannel != "oncall-mail" {
			t.Errorf("Incidents = %+v, want the address and oncall-mail", in)
		}
	})

	cases := map[string]struct {
		settings, key, message string
	}{
		"address without channel": {"  persium_support_email: support@persium.example\n", "incidents.persium_channel", "is required with incidents.persium_support_email"},
		"channel without address": {"  persium_channel: oncall-mail\n", "incidents.persium_support_email", "is required with incidents.persium_channel"},
		"invalid address":         {"  persium_support_email: persium support\n  persium_channel: oncall-mail\n", "incidents.persium_support_email", `"persium support" is not an e-mail address`},
		"unknown channel":         {"  persium_support_email: support@persium.example\n  persium_channel: pager\n", "incidents.persium_channel", `"pager" is not a configured channel`},
		"not an smtp channel":     {"  persium_support_email: support@persium.example\n  persium_channel: team-slack\n", "incidents.persium_channel", "is of type slack"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			problems := parseProblems(t, withMail(c.settings))
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(problems), (&ProblemsError{Problems: problems}).Error())
			}
			if p := problems[0]; p.Key != c.key || !strings.Contains(p.Message, c.message) {
				t.Errorf("problem = %s, want %s: %s", p, c.key, c.message)
			}
		})
	}
}
