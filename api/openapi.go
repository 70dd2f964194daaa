package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
)

// openAPIDocument is the OpenAPI 3.0 description of every route under
// /api/v1. TestOpenAPICoversRoutes fails when a route and an operation do
// not match, and TestOpenAPIConformance checks real bodies against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag is a strong validator of openAPIDocument, so a client can
// revalidate its copy with If-None-Match after a new rotor is deployed.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// openAPICacheControl lets a client reuse the document for five minutes.
// It is private because the route needs a signed-in principal.
const openAPICacheControl = "private, max-age=300"

// openAPI serves the embedded document to any principal with the viewer
// role. Its Cache-Control replaces the no-store of securityHeaders, because
// the document changes only with the binary.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := require(r, RoleViewer); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Cache-Control", openAPICacheControl)
	h.Set("ETag", openAPIETag)
	if etagListed(r.Header.Get("If-None-Match"), openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
	return nil
}

// etagListed reports whether an If-None-Match header matches etag. The
// comparison is weak, as for every If-None-Match, so W/"x" matches "x".
func etagListed(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}
