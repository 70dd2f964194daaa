package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/rotorhq/rotor/rotation"
)

// Page sizes of the credential list, in the JSON API and on the dashboard.
const (
	defaultPageSize = 100
	maxPageSize     = 500
)

// credentialPage reads the query parameters "limit" and "cursor" of a
// credential list: the page size, defaultPageSize when absent, and the
// position to continue after, the zero cursor when absent. A value out of
// range, or a cursor rotor did not issue, is a 400 that names the value.
func credentialPage(r *http.Request) (rotation.CredentialCursor, int, error) {
	q := r.URL.Query()

	limit := defaultPageSize
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxPageSize {
			return rotation.CredentialCursor{}, 0, badRequest("invalid_limit", fmt.Sprintf(
				"The limit %q is not a whole number from 1 to %d. Leave it out for pages of %d.", clip(v[0]), maxPageSize, defaultPageSize))
		}
		limit = n
	}

	after, err := rotation.ParseCredentialCursor(q.Get("cursor"))
	if err != nil {
		return rotation.CredentialCursor{}, 0, badRequest("invalid_cursor", fmt.Sprintf(
			"The cursor %q is not one that rotor issued. Pass next_cursor from the previous page unchanged, or leave the cursor out to start at the first page.", clip(q.Get("cursor"))))
	}
	return after, limit, nil
}
