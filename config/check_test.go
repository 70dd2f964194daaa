package config

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	valid := filepath.Join(dir, "rotor.yaml")
	writeFile(t, valid, baseYAML)
	oneCredential := filepath.Join(dir, "one.yaml")
	writeFile(t, oneCredential, baseYAML[:strings.Index(baseYAML, "  - id: cred-b")])
	broken := filepath.Join(dir, "broken.yaml")
	writeFile(t, broken, edit(t, baseYAML,
		"token_url: https://auth.persium.example/realms", "token_url: http://auth.persium.example/realms",
		"client_id: client-b", "client_id: client-a",
	))

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // the whole of stdout
		wantStderr string // a text stderr contains; "" for empty stderr
	}{
		{
			name:       "valid file",
			args:       []string{"-config", valid},
			wantCode:   0,
			wantStdout: valid + ": OK, 2 credentials, 2 backends\n",
		},
		{
			name:       "singular counts",
			args:       []string{"-config", oneCredential},
			wantCode:   0,
			wantStdout: oneCredential + ": OK, 1 credential, 2 backends\n",
		},
		{
			name:     "problems one per line",
			args:     []string{"--config=" + broken},
			wantCode: 1,
			wantStdout: broken + `:2: persium.token_url: "http://auth.persium.example/realms/customers/protocol/openid-connect/token" uses http; Persium's token endpoint must be https://` + "\n" +
				broken + `:31: credentials[1].client_id: "client-a" is already the client_id of credentials[0] (line 24); rotate each Persium client through one credential only` + "\n",
			wantStderr: "has 2 problems",
		},
		{
			name:       "missing file",
			args:       []string{"-config", filepath.Join(dir, "absent.yaml")},
			wantCode:   1,
			wantStderr: "read configuration: open " + filepath.Join(dir, "absent.yaml") + ": no such file or directory",
		},
		{
			name:       "missing -config",
			args:       nil,
			wantCode:   2,
			wantStderr: "usage: rotor check [-online] -config FILE (or rotor check FILE)",
		},
		{
			name:       "file as the only argument",
			args:       []string{valid},
			wantCode:   0,
			wantStdout: valid + ": OK, 2 credentials, 2 backends\n",
		},
		{
			name:       "extra argument",
			args:       []string{"-config", valid, "other.yaml"},
			wantCode:   2,
			wantStderr: "usage: rotor check [-online] -config FILE (or rotor check FILE)",
		},
		{
			name:       "unknown flag",
			args:       []string{"-confg", valid},
			wantCode:   2,
			wantStderr: "flag provided but not defined: -confg",
		},
		{
			name:       "help",
			args:       []string{"-h"},
			wantCode:   0,
			wantStderr: "usage: rotor check [-online] -config FILE (or rotor check FILE)",
		},
		{
			name:       "online not available",
			args:       []string{"-config", valid, "--online"},
			wantCode:   2,
			wantStdout: valid + ": OK, 2 credentials, 2 backends\n",
			wantStderr: "-online is not available in this build",
		},
		{
			name:       "online with problems",
			args:       []string{"-online", "-config", broken},
			wantCode:   1,
			wantStderr: "has 2 problems",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := CheckCommand(tc.args, &stdout, &stderr, nil)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stdout %q, stderr %q)", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if tc.wantStdout != "" && stdout.String() != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tc.wantStdout)
			}
			if tc.wantCode == 2 && tc.wantStdout == "" && stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing for a usage error", stdout.String())
			}
			if tc.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}
