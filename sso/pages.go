package sso

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"

	"github.com/rotorhq/rotor/web"
)

// pageData is what web/templates/signin.html shows. The page stands alone
// rather than extending the UI's layout, because nobody is signed in on
// it.
type pageData struct {
	Title      string
	Problem    bool // the page reports a failure
	Paragraphs []string

	// Roles, Claim, TokenGroups and NoGroups explain a refusal for lack of
	// a role: which groups grant which role, and what the groups claim of
	// the sign-in carried.
	Roles       []roleGroups
	Claim       string
	TokenGroups []string
	NoGroups    bool

	Action    *link // the next step, such as signing in again
	Secondary *link
}

type roleGroups struct {
	Role   string
	Groups []string
}

type link struct {
	Href string
	Text string
}

func parsePage() (*template.Template, error) {
	t, err := template.ParseFS(web.Templates, "templates/signin.html")
	if err != nil {
		return nil, fmt.Errorf("parse sign-in page: %w", err)
	}
	return t, nil
}

// render executes the sign-in page into a buffer, and writes the status
// and headers only once that succeeded.
func (s *SignIn) render(w http.ResponseWriter, r *http.Request, status int, data pageData) {
	var buf bytes.Buffer
	if err := s.page.ExecuteTemplate(&buf, "signin.html", data); err != nil {
		s.log.ErrorContext(r.Context(), "render sign-in page", "error", err)
		http.Error(w, "rotor could not render this page; see rotor's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
