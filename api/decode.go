package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// jsonSpace is the white space that JSON allows between tokens.
const jsonSpace = " \t\r\n"

// decodeJSON reads a request body into v: JSON only, within maxBody, valid
// UTF-8, no unknown fields, one value and nothing after it. An empty body
// is allowed when optional, and leaves v as it is. Messages name the field
// at fault but never quote the body, which may contain a secret.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", message: fmt.Sprintf("The request body is larger than %d bytes.", maxBody)}
	}
	if err != nil {
		return badRequest("invalid_body", "rotor could not read the request body.")
	}
	if len(bytes.Trim(body, jsonSpace)) == 0 {
		if optional {
			return nil
		}
		return badRequest("invalid_body", "The request body is empty; send a JSON object.")
	}
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if !utf8.Valid(body) {
		return badRequest("invalid_body", invalidUTF8Problem(body))
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid_body", jsonProblem(err))
	}
	// Decoder.More reports false before a stray } or ], so check the rest
	// of the body itself.
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(body[end:], jsonSpace); len(rest) > 0 {
		return badRequest("invalid_body", fmt.Sprintf("The request body continues after the JSON object, at byte %d; send one object and nothing after it.", len(body)-len(rest)))
	}
	return nil
}

// checkJSONContentType accepts application/json without a charset or with
// charset utf-8, the only encoding JSON may use between systems (RFC 8259
// section 8.1).
func checkJSONContentType(header string) error {
	const send = "Send the body as JSON with the header Content-Type: application/json."
	mediaType, params, err := mime.ParseMediaType(header)
	if err != nil || mediaType != "application/json" {
		return &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", message: send}
	}
	if charset, ok := params["charset"]; ok && !strings.EqualFold(charset, "utf-8") {
		return &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			message: fmt.Sprintf("rotor reads JSON only as UTF-8, not as charset %q. %s", clip(charset), send)}
	}
	return nil
}

// invalidUTF8Problem names the top-level field whose name or value holds
// the body's first byte that is not UTF-8, without quoting the body.
func invalidUTF8Problem(body []byte) string {
	const whole = "The request body is not valid UTF-8 text; send it as UTF-8."
	bad := invalidUTF8Offset(body)

	// encoding/json decodes an invalid byte inside a string as U+FFFD, so
	// the token that ends past the byte's offset is the one that holds it.
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return whole
	}
	depth, field, wantKey := 1, "", true
	for {
		tok, err := dec.Token()
		if err != nil {
			return whole
		}
		past := dec.InputOffset() > int64(bad)
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				depth++
				continue
			}
			depth--
			if depth == 0 {
				return whole
			}
		case string:
			if depth == 1 && wantKey {
				if past {
					return "A field name in the request body is not valid UTF-8 text; send it as UTF-8."
				}
				field, wantKey = t, false
				continue
			}
		}
		if past {
			return fmt.Sprintf("The field %q is not valid UTF-8 text; send it as UTF-8.", clip(field))
		}
		// The value of a top-level field is complete.
		wantKey = depth == 1
	}
}

// invalidUTF8Offset returns the offset of the first byte of b that does
// not start a valid UTF-8 sequence, or len(b).
func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var (
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntax.Offset)
	case errors.As(err, &typeError) && typeError.Field != "":
		return fmt.Sprintf("The field %q must be a JSON %s.", clip(typeError.Field), jsonType(typeError.Type.Kind().String()))
	case errors.As(err, &typeError):
		return "The request body must be a JSON object."
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The request body ends in the middle of a JSON value."
	}
	// encoding/json reports unknown fields only as text, with the name
	// quoted.
	const prefix = "json: unknown field "
	if name, ok := strings.CutPrefix(err.Error(), prefix); ok && name != "" {
		return fmt.Sprintf("The field %s is not part of this request; remove it.", clip(name))
	}
	if errors.Is(err, errSecretNotString) {
		return `The field "secret" must be a JSON string.`
	}
	return "The request body is not a valid JSON object for this request."
}

var errSecretNotString = errors.New("secret must be a JSON string")

func jsonType(kind string) string {
	switch kind {
	case "bool":
		return "boolean"
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	}
	return "number"
}

// rejectUnreadablePath responds 404 to a request whose decoded path
// contains a control character or bytes that are not UTF-8. No page or id contains
// either, and Postgres rejects NUL and invalid UTF-8 in text with an error
// that would otherwise surface as a 500.
func (s *Server) rejectUnreadablePath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !readablePath(r.URL.Path) {
			s.fail(w, r, &httpError{status: http.StatusNotFound, code: "not_found",
				message: "There is no page or endpoint at this address: it contains a control character or bytes that are not UTF-8."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func readablePath(path string) bool {
	if !utf8.ValidString(path) {
		return false
	}
	for _, r := range path {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
