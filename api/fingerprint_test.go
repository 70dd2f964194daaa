package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// The rotation and credential pages show keyed hashes of the versions'
// secrets, which tell old from new and match `rotor fingerprint`, and
// never the secrets.
func TestPagesShowFingerprints(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.requestRotation(t)
	newSecret := f.issue(t)
	if resp := f.post("/api/v1/rotations/"+id+"/issued", secretBody(newSecret, "")); resp.status != http.StatusOK {
		t.Fatalf("issued: %d %s", resp.status, resp.body)
	}

	oldPrint, newPrint := canary.Fingerprint(fingerprintKey), newSecret.Fingerprint(fingerprintKey)
	if oldPrint == newPrint {
		t.Fatalf("old and new secrets have the same fingerprint %s", oldPrint)
	}
	page := f.do("viewer", http.MethodGet, "/rotations/"+id, "", "").body
	versions := page[strings.Index(page, `id="versions"`):]
	versions = versions[:strings.Index(versions, "</table>")]
	for name, want := range map[string]string{"old": oldPrint, "staged": newPrint} {
		if !strings.Contains(versions, "<code>"+want+"</code>") {
			t.Errorf("the versions table lacks the %s fingerprint %s:\n%s", name, want, versions)
		}
	}

	if resp := f.post("/api/v1/rotations/"+id+"/promote", ""); resp.status != http.StatusOK {
		t.Fatalf("promote: %d %s", resp.status, resp.body)
	}
	credential := f.do("viewer", http.MethodGet, "/credentials/cred-a", "", "").body
	if !strings.Contains(credential, `<code id="current-fingerprint">`+newPrint+`</code>`) {
		t.Errorf("the credential page does not show the fingerprint of the promoted secret %s", newPrint)
	}
	if strings.Contains(credential, oldPrint) {
		t.Errorf("the credential page shows the old secret's fingerprint as the one in use")
	}
}
