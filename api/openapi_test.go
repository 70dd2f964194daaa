package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"

	"github.com/rotorhq/rotor/api"
	"github.com/rotorhq/rotor/apitoken"
	"github.com/rotorhq/rotor/persiumsim"
)

// apiPrefix is the document's server URL: its paths are relative to it.
const apiPrefix = "/api/v1"

// handlerWithoutStore returns rotor's routes with every optional surface
// switched on and no database, for the tests that only read the routes and
// the document.
func handlerWithoutStore(t *testing.T) http.Handler {
	t.Helper()
	// The token routes exist only with a TokenManager; without a pool its
	// methods are never called here.
	tokens := apitoken.New(nil, time.Now, nil)
	srv, err := api.New(api.Options{Auth: roleHeader{}, Dev: persiumsim.New(persiumsim.Options{}), Tokens: tokens})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	return srv.Handler()
}

// fetchOpenAPI reads the document from GET /api/v1/openapi.json as a
// viewer and loads it.
func fetchOpenAPI(t *testing.T, h http.Handler) (*openapi3.T, *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, apiPrefix+"/openapi.json", nil)
	req.Header.Set("X-Test-Role", "viewer")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s/openapi.json: %d %s", apiPrefix, rec.Code, rec.Body)
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	return doc, rec
}

// chiParam matches a chi path parameter, with or without a regular
// expression: {id} or {id:[0-9]+}.
var chiParam = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// TestOpenAPICoversRoutes compares the routes the router serves under
// /api/v1 with the document's operations, in both directions.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	h := handlerWithoutStore(t)
	doc, _ := fetchOpenAPI(t, h)

	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("Server.Handler returns %T, not a chi router, so its routes cannot be listed", h)
	}
	served := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if path, ok := strings.CutPrefix(route, apiPrefix); ok && strings.HasPrefix(path, "/") {
			served[method+" "+chiParam.ReplaceAllString(path, "{$1}")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("chi.Walk: %v", err)
	}
	if !served["GET /credentials"] || !served["GET /openapi.json"] {
		t.Fatalf("the walk found no GET /credentials or GET /openapi.json under %s, so it cannot compare anything; routes: %v", apiPrefix, served)
	}

	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}

	var undocumented, unserved []string
	for route := range served {
		if !documented[route] {
			undocumented = append(undocumented, route)
		}
	}
	for route := range documented {
		if !served[route] {
			unserved = append(unserved, route)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unserved)
	if len(undocumented) > 0 {
		t.Errorf("routes under %s without an operation in api/openapi.json (add them to the document):\n  %s",
			apiPrefix, strings.Join(undocumented, "\n  "))
	}
	if len(unserved) > 0 {
		t.Errorf("operations in api/openapi.json that the router does not serve under %s (remove them or add the route):\n  %s",
			apiPrefix, strings.Join(unserved, "\n  "))
	}
}

// TestOpenAPIDocumentValid validates the served document with
// kin-openapi and checks the conventions every operation follows.
func TestOpenAPIDocumentValid(t *testing.T) {
	t.Parallel()
	doc, _ := fetchOpenAPI(t, handlerWithoutStore(t))

	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	if doc.Components == nil || doc.Components.SecuritySchemes["bearerAuth"] == nil || doc.Components.SecuritySchemes["rotor_session"] == nil {
		t.Errorf("the document lacks the security schemes bearerAuth and rotor_session")
	}

	errorRef := "#/components/schemas/Error"
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %q is also used by %s", name, op.OperationID, other)
			}
			ids[op.OperationID] = name
			if op.Summary == "" {
				t.Errorf("%s: no summary", name)
			}
			role, _ := op.Extensions["x-rotor-role"].(string)
			if role != "viewer" && role != "operator" && role != "admin" {
				t.Errorf("%s: x-rotor-role is %q, want viewer, operator or admin", name, role)
			}
			if method == http.MethodPost && role != "operator" && role != "admin" {
				t.Errorf("%s: a state-changing operation with x-rotor-role %q, want operator or admin", name, role)
			}
			for _, status := range []string{"401", "403", "500"} {
				if op.Responses.Value(status) == nil {
					t.Errorf("%s: no %s response", name, status)
				}
			}
			for status, resp := range op.Responses.Map() {
				if status < "400" {
					continue
				}
				media := resp.Value.Content.Get("application/json")
				if media == nil || media.Schema == nil || media.Schema.Ref != errorRef {
					t.Errorf("%s: the %s response is not an application/json %s", name, status, errorRef)
				}
			}
		}
	}
}

// TestOpenAPIHandler checks the headers of the document and its
// revalidation.
func TestOpenAPIHandler(t *testing.T) {
	t.Parallel()
	h := handlerWithoutStore(t)
	_, rec := fetchOpenAPI(t, h)

	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := rec.Header().Get("Cache-Control"); !strings.Contains(got, "max-age=") || strings.Contains(got, "no-store") {
		t.Errorf("Cache-Control = %q, want a max-age without no-store", got)
	}
	etag := rec.Header().Get("ETag")
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 3 {
		t.Fatalf("ETag = %q, want a quoted strong validator", etag)
	}

	for name, c := range map[string]struct {
		ifNoneMatch string
		status      int
	}{
		"same ETag":      {etag, http.StatusNotModified},
		"weak same ETag": {`"other", W/` + etag, http.StatusNotModified},
		"any":            {"*", http.StatusNotModified},
		"other ETag":     {`"other"`, http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, apiPrefix+"/openapi.json", nil)
		req.Header.Set("X-Test-Role", "viewer")
		req.Header.Set("If-None-Match", c.ifNoneMatch)
		got := httptest.NewRecorder()
		h.ServeHTTP(got, req)
		if got.Code != c.status {
			t.Errorf("If-None-Match %s: %d, want %d", name, got.Code, c.status)
		}
		if c.status == http.StatusNotModified && got.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: a 304 with a %d-byte body", name, got.Body.Len())
		}
	}

	req := httptest.NewRequest(http.MethodGet, apiPrefix+"/openapi.json", nil)
	anonymous := httptest.NewRecorder()
	h.ServeHTTP(anonymous, req)
	if anonymous.Code != http.StatusUnauthorized {
		t.Errorf("unauthenticated request: %d, want 401", anonymous.Code)
	}
}

// contract sends requests through a real server and checks each request
// and response against the document.
type contract struct {
	t      *testing.T
	f      *fixture
	router routers.Router
}

// validationOptions leave values out of schema errors, so a failure never
// prints a request body, which may hold a secret.
func validationOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus:   true,
		AuthenticationFunc:      authenticateForContract,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
}

// authenticateForContract checks that a request carries the credential a
// security scheme names. The test server authenticates by X-Test-Role, so
// requests carry a bearer token as well, as API clients do.
func authenticateForContract(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case "bearerAuth":
		if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && token != "" {
			return nil
		}
		return errors.New("no bearer token in the Authorization header")
	case "rotor_session":
		if _, err := r.Cookie("rotor_session"); err == nil {
			return nil
		}
		return errors.New("no rotor_session cookie")
	}
	return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
}

// exchange is one request as the server saw it, and its response.
type exchange struct {
	method, path, contentType, body, role string
	resp                                  response
}

func (e exchange) String() string { return e.method + " " + e.path }

// send sends a request as role ("" for none) with a bearer token when
// role is set. A non-empty body goes as contentType.
func (c *contract) send(role, method, path, contentType, body string) exchange {
	c.t.Helper()
	var header []string
	if role != "" {
		header = []string{"Authorization", "Bearer " + role + "-token"}
	}
	resp := c.f.do(role, method, path, contentType, body, header...)
	return exchange{method: method, path: path, contentType: contentType, body: body, role: role, resp: resp}
}

// validate checks e's request against the document, and its response
// against the operation that the request's method and path select.
func (c *contract) validate(e exchange) (requestErr, responseErr error) {
	c.t.Helper()
	req := httptest.NewRequest(e.method, e.path, strings.NewReader(e.body))
	if e.contentType != "" {
		req.Header.Set("Content-Type", e.contentType)
	}
	if e.role != "" {
		req.Header.Set("Authorization", "Bearer "+e.role+"-token")
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s: no operation in the document: %v", e, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: validationOptions()}
	ctx := context.Background()
	requestErr = openapi3filter.ValidateRequest(ctx, in)

	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: e.resp.status, Header: e.resp.header,
		Body: io.NopCloser(bytes.NewReader([]byte(e.resp.body))), Options: validationOptions()}
	return requestErr, openapi3filter.ValidateResponse(ctx, out)
}

// call sends a request the document allows, checks both sides and the
// status, and returns the response.
func (c *contract) call(role, method, path, body string, status int) response {
	c.t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	e := c.send(role, method, path, contentType, body)
	reqErr, respErr := c.validate(e)
	if reqErr != nil {
		c.t.Errorf("%s: the document rejects the request: %v", e, reqErr)
	}
	if respErr != nil {
		c.t.Errorf("%s: the %d response does not match the document: %v\n%s", e, e.resp.status, respErr, e.resp.body)
	}
	if e.resp.status != status {
		c.t.Errorf("%s: %d %s, want %d", e, e.resp.status, e.resp.body, status)
	}
	return e.resp
}

// reject sends a request the document forbids and checks that the server
// rejects it too, with status and a documented error body.
func (c *contract) reject(role, method, path, contentType, body string, status int) {
	c.t.Helper()
	e := c.send(role, method, path, contentType, body)
	reqErr, respErr := c.validate(e)
	if reqErr == nil {
		c.t.Errorf("%s with %.60q: the document allows the request, but the server responds with %d", e, body, e.resp.status)
	}
	if respErr != nil {
		c.t.Errorf("%s: the %d response does not match the document: %v\n%s", e, e.resp.status, respErr, e.resp.body)
	}
	if e.resp.status != status {
		c.t.Errorf("%s: %d %s, want %d", e, e.resp.status, e.resp.body, status)
	}
}

// TestOpenAPIConformance walks a rotation and an incident through the real
// server and checks every request and response against the document, so
// the document cannot drift from the bodies rotor sends.
func TestOpenAPIConformance(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw := f.do("viewer", http.MethodGet, apiPrefix+"/openapi.json", "", "")
	doc, err := openapi3.NewLoader().LoadFromData([]byte(raw.body))
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("legacy.NewRouter: %v", err)
	}
	c := &contract{t: t, f: f, router: router}
	const v, o = "viewer", "operator"
	get, post := http.MethodGet, http.MethodPost

	c.call(v, get, apiPrefix+"/openapi.json", "", http.StatusOK)
	c.call(v, get, apiPrefix+"/credentials", "", http.StatusOK)
	c.call(v, get, apiPrefix+"/credentials?limit=1", "", http.StatusOK)
	c.call(v, get, apiPrefix+"/credentials?cursor=not-issued-by-rotor", "", http.StatusBadRequest)
	c.call(v, get, apiPrefix+"/credentials/cred-a", "", http.StatusOK)
	c.call(v, get, apiPrefix+"/credentials/nope", "", http.StatusNotFound)

	created := c.call(o, post, apiPrefix+"/credentials/cred-a/rotations", `{"kind":"manual","reason":"quarterly","ticket":"PER-7"}`, http.StatusCreated)
	id, _ := created.json(t)["id"].(string)
	if id == "" {
		t.Fatalf("the new rotation has no id: %s", created.body)
	}
	rot := apiPrefix + "/rotations/" + id
	c.call(o, post, apiPrefix+"/credentials/cred-a/rotations", `{}`, http.StatusConflict)
	c.call(o, post, rot+"/issued", `{"secret":"not-what-persium-issued"}`, http.StatusUnprocessableEntity)
	c.call(o, post, rot+"/issued", secretBody(f.issue(t), ""), http.StatusOK)
	c.call(o, post, rot+"/promote", "", http.StatusOK)
	c.call(o, post, rot+"/rollback", `{"reason":"a consumer failed"}`, http.StatusOK)
	c.call(o, post, rot+"/promote", `{"reason":"the consumer is fixed"}`, http.StatusOK)
	c.call(o, post, rot+"/retire", `{"persium_confirmed":true}`, http.StatusConflict)
	c.call(o, post, rot+"/cancel", `{"reason":"too late for this"}`, http.StatusConflict)
	c.call(o, post, rot+"/resume", `{}`, http.StatusConflict)
	c.call(o, post, rot+"/force-revoked", "", http.StatusConflict)
	c.call(v, get, rot, "", http.StatusOK)
	c.call(v, get, rot+"/events", "", http.StatusOK)
	c.call(v, get, apiPrefix+"/rotations/00000000-0000-0000-0000-000000000000/events", "", http.StatusNotFound)

	reported := c.call(o, post, apiPrefix+"/credentials/cred-a/incidents",
		`{"what":"public_commit","detected_at":"2026-03-01T09:10:00+01:00","reference":"INC-7","details":"pushed to a fork"}`, http.StatusCreated)
	incidentID, _ := reported.json(t)["id"].(string)
	if incidentID == "" {
		t.Fatalf("the new incident has no id: %s", reported.body)
	}
	inc := apiPrefix + "/incidents/" + incidentID
	c.call(v, get, inc, "", http.StatusOK)
	c.call(o, post, inc+"/checklist", `{"title":"CI caches"}`, http.StatusCreated)
	c.call(o, post, inc+"/checklist", `{"title":"ci caches"}`, http.StatusConflict)
	c.call(o, post, inc+"/checklist/1/done", `{"note":"log archive searched: clean"}`, http.StatusOK)
	c.call(o, post, inc+"/checklist/9/done", `{"note":"n"}`, http.StatusNotFound)
	c.call(o, post, inc+"/persium-request", "", http.StatusOK)

	// Requests the document forbids, which the server rejects as well.
	c.reject("", get, apiPrefix+"/credentials", "", "", http.StatusUnauthorized)
	c.reject(v, get, apiPrefix+"/credentials?limit=0", "", "", http.StatusBadRequest)
	c.reject(o, post, inc+"/persium-request", "application/json", `{"to":"someone"}`, http.StatusBadRequest)
	c.reject(o, post, rot+"/promote", "application/json", `{"reason":"r","extra":1}`, http.StatusBadRequest)
	c.reject(o, post, rot+"/cancel", "application/json", `{"reason":42}`, http.StatusBadRequest)
	c.reject(o, post, rot+"/cancel", "application/json", `{}`, http.StatusBadRequest)
	c.reject(o, post, rot+"/retire", "application/json", `{"persium_confirmed":false}`, http.StatusBadRequest)
	c.reject(o, post, rot+"/resume", "text/plain", `reason=r`, http.StatusUnsupportedMediaType)
	c.reject(o, post, rot+"/resume", "application/json", `{"reason":"`+strings.Repeat("a", 70<<10)+`"}`, http.StatusRequestEntityTooLarge)
	c.reject(o, post, apiPrefix+"/credentials/cred-a/incidents", "application/json", `{"what":"other"}`, http.StatusBadRequest)
	c.reject(o, post, inc+"/checklist/2/done", "application/json", `{"note":""}`, http.StatusBadRequest)
	c.reject(o, post, inc+"/checklist/0/done", "application/json", `{"note":"n"}`, http.StatusNotFound)
}

// TestOpenAPIRoles sends every documented operation without a principal
// and as a viewer, and checks the status against the operation's
// x-rotor-role and the response against the document.
func TestOpenAPIRoles(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw := f.do("viewer", http.MethodGet, apiPrefix+"/openapi.json", "", "")
	doc, err := openapi3.NewLoader().LoadFromData([]byte(raw.body))
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("legacy.NewRouter: %v", err)
	}
	c := &contract{t: t, f: f, router: router}
	fill := strings.NewReplacer("{id}", "00000000-0000-0000-0000-000000000000", "{item}", "1")

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			role, _ := op.Extensions["x-rotor-role"].(string)
			url := apiPrefix + fill.Replace(path)
			body, contentType := "", ""
			if method == http.MethodPost {
				body, contentType = `{}`, "application/json"
			}

			// The role is checked before the body, so a body the operation
			// rejects is fine here; only the responses are compared.
			anonymous := c.send("", method, url, contentType, body)
			if anonymous.resp.status != http.StatusUnauthorized || anonymous.resp.errorCode(t) != "unauthenticated" {
				t.Errorf("%s without a principal: %d %s, want 401 unauthenticated", anonymous, anonymous.resp.status, anonymous.resp.body)
			}
			viewer := c.send("viewer", method, url, contentType, body)
			forbidden := viewer.resp.status == http.StatusForbidden
			if role != "viewer" && (!forbidden || viewer.resp.errorCode(t) != "forbidden") {
				t.Errorf("%s as a viewer: %d %s, want 403 forbidden for x-rotor-role %s", viewer, viewer.resp.status, viewer.resp.body, role)
			}
			if role == "viewer" && (forbidden || viewer.resp.status == http.StatusUnauthorized) {
				t.Errorf("%s as a viewer: %d %s, but x-rotor-role is viewer", viewer, viewer.resp.status, viewer.resp.body)
			}
			for _, e := range []exchange{anonymous, viewer} {
				if _, respErr := c.validate(e); respErr != nil {
					t.Errorf("%s as %q: the %d response does not match the document: %v\n%s", e, e.role, e.resp.status, respErr, e.resp.body)
				}
			}
		}
	}
}
