package ssotest

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// pkceValue matches a code verifier or an S256 challenge: 43 to 128
// characters of the unreserved set (RFC 7636, section 4.1).
var pkceValue = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// authParams are the authorization request parameters that the user form
// carries through to its POST.
var authParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "login_hint"}

// authorize is the authorization endpoint (OpenID Connect Core 1.0,
// section 3.1.2). GET takes the request; POST takes the form the user
// submitted, with the same parameters and the chosen user.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "The authorization endpoint accepts GET and POST.", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		errorPage(w, "The authorization request is malformed: "+err.Error())
		return
	}
	f := r.Form

	// Until the client and redirect URI are known to be registered, an
	// error is shown here: redirecting to an unchecked URI would make the
	// provider an open redirector (RFC 6749, section 4.1.2.1).
	if f.Get("client_id") != p.ClientID {
		errorPage(w, "Unknown client_id "+strconv.Quote(f.Get("client_id"))+".")
		return
	}
	redirectURI := f.Get("redirect_uri")
	p.mu.Lock()
	registered := slices.Contains(p.redirectURIs, redirectURI)
	p.mu.Unlock()
	if !registered {
		errorPage(w, "The redirect_uri "+strconv.Quote(redirectURI)+" is not registered for client "+p.ClientID+".")
		return
	}

	back := func(v url.Values) {
		if s := f.Get("state"); s != "" {
			v.Set("state", s)
		}
		status := http.StatusFound
		if r.Method == http.MethodPost {
			status = http.StatusSeeOther
		}
		http.Redirect(w, r, withQuery(redirectURI, v), status)
	}
	fail := func(code, description string) {
		back(url.Values{"error": {code}, "error_description": {description}})
	}

	if f.Get("response_type") != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	scopes := strings.Fields(f.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		fail("invalid_scope", "the scope must include openid")
		return
	}
	challenge, method := f.Get("code_challenge"), f.Get("code_challenge_method")
	switch {
	case challenge == "" && p.opts.RequirePKCE:
		fail("invalid_request", "code challenge required")
		return
	case challenge == "" && method != "":
		fail("invalid_request", "code_challenge_method without code_challenge")
		return
	case challenge != "":
		if method == "" {
			method = "plain" // RFC 7636, section 4.3
		}
		if method != "S256" && method != "plain" {
			fail("invalid_request", "transform algorithm not supported")
			return
		}
		if !pkceValue.MatchString(challenge) {
			fail("invalid_request", "code_challenge must be 43 to 128 unreserved characters")
			return
		}
	}
	if r.Method == http.MethodPost && f.Get("deny") != "" {
		fail("access_denied", "the user denied the request")
		return
	}

	subject := ""
	switch {
	case r.Method == http.MethodPost:
		subject = r.PostForm.Get("user")
	case f.Get("login_hint") != "":
		subject = f.Get("login_hint")
	default:
		p.mu.Lock()
		subject = p.autoUser
		p.mu.Unlock()
	}
	p.mu.Lock()
	user, known := p.user(subject)
	users := slices.Clone(p.users)
	p.mu.Unlock()
	if !known {
		if f.Get("prompt") == "none" {
			fail("login_required", "no user is signed in at the test provider")
			return
		}
		p.userForm(w, f, users)
		return
	}

	code := randomToken()
	now := p.opts.Now()
	g := &grant{
		clientID: p.ClientID, redirectURI: redirectURI, scopes: scopes, nonce: f.Get("nonce"),
		challenge: challenge, method: method, user: user, authTime: now, expires: now.Add(p.opts.CodeTTL),
	}
	p.mu.Lock()
	p.codes[code] = g
	p.issued.Codes = append(p.issued.Codes, code)
	p.mu.Unlock()
	back(url.Values{"code": {code}})
}

var userForm = template.Must(template.New("authorize").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in to the test identity provider</title></head>
<body>
<h1>Sign in to the test identity provider</h1>
<form method="post" action="/authorize" id="ssotest-form">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}{{range .Users}}<p><button type="submit" name="user" value="{{.Subject}}" id="user-{{.Subject}}">Sign in as {{.Subject}}</button> {{.Email}} groups: {{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{else}}none{{end}}</p>
{{else}}<p>No test users are configured.</p>
{{end}}<p><button type="submit" name="deny" value="1" id="deny">Deny</button></p>
</form>
</body>
</html>
`))

// userForm shows the users to pick from. The form posts every request
// parameter back, because the provider keeps no state between the two.
func (p *Provider) userForm(w http.ResponseWriter, f url.Values, users []User) {
	type hidden struct{ Name, Value string }
	data := struct {
		Hidden []hidden
		Users  []User
	}{Users: users}
	for _, name := range authParams {
		if f.Has(name) {
			data.Hidden = append(data.Hidden, hidden{name, f.Get(name)})
		}
	}
	var buf bytes.Buffer
	if err := userForm.Execute(&buf, data); err != nil {
		http.Error(w, "render the user form: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

var errorTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization error</title></head>
<body><h1>Authorization error</h1><p id="ssotest-error">{{.}}</p></body></html>
`))

// errorPage shows an error to the user instead of redirecting it to the
// client.
func errorPage(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = errorTemplate.Execute(w, msg)
}

// withQuery adds v to the query of uri, keeping the query it has.
func withQuery(uri string, v url.Values) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}
