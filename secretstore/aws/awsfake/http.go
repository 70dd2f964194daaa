package awsfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

const (
	targetPrefix = "secretsmanager."
	contentType  = "application/x-amz-json-1.1"
)

// The operations the fake serves, and which of them change state.
var operations = map[string]struct {
	write  bool
	handle func(s *Server, body []byte) (any, *apiError)
}{
	"CreateSecret":             {true, (*Server).createSecret},
	"PutSecretValue":           {true, (*Server).putSecretValue},
	"UpdateSecretVersionStage": {true, (*Server).updateSecretVersionStage},
	"GetSecretValue":           {false, (*Server).getSecretValue},
	"DescribeSecret":           {false, (*Server).describeSecret},
	"ListSecretVersionIds":     {false, (*Server).listSecretVersionIds},
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if r.Method != http.MethodPost || !ok {
		writeError(w, &apiError{400, "UnknownOperationException", "the fake serves only POST requests with X-Amz-Target secretsmanager.<Operation>"})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, &apiError{400, "SerializationException", "the request body could not be read"})
		return
	}
	if e := checkCredentials(r); e != nil {
		s.record(op)
		writeError(w, e)
		return
	}

	s.mu.Lock()
	s.requests = append(s.requests, op)
	fault := s.takeFault(op)
	s.mu.Unlock()

	if fault != nil && (fault.Before != nil || fault.Delay > 0) {
		if !s.hold(r, fault) {
			return
		}
		if fault.Code == "" && fault.Status == 0 && !fault.Applied && !fault.CloseConnection {
			fault = nil
		}
	}
	if fault != nil && !fault.Applied {
		s.respondFault(w, fault, body)
		return
	}
	out, apiErr := s.dispatch(op, body)
	if fault != nil {
		s.respondFault(w, fault, body)
		return
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// hold runs the fault's Before and waits out its Delay. It returns false
// when the client gave up first, and the request must not take effect.
func (s *Server) hold(r *http.Request, f *Fault) bool {
	if f.Before != nil {
		f.Before()
	}
	if f.Delay <= 0 {
		return true
	}
	timer := time.NewTimer(f.Delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) record(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, op)
}

// dispatch runs one operation under the lock.
func (s *Server) dispatch(op string, body []byte) (any, *apiError) {
	operation, ok := operations[op]
	if !ok {
		return nil, &apiError{400, "UnknownOperationException", "the fake does not serve " + op}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return operation.handle(s, body)
}

// checkCredentials accepts a request signed with AccessKeyID. It reads the
// access key from the SigV4 Authorization header and does not verify the
// signature.
func checkCredentials(r *http.Request) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &apiError{403, "MissingAuthenticationTokenException", "Missing Authentication Token"}
	}
	_, rest, ok := strings.Cut(auth, "Credential=")
	key, _, _ := strings.Cut(rest, "/")
	if !ok || key != AccessKeyID {
		// AWS does not quote the key; the fake does, so tests can check that
		// clients never pass the message on.
		return &apiError{400, "UnrecognizedClientException", "The security token included in the request is invalid: " + key}
	}
	return nil
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.code)
	writeJSON(w, e.status, map[string]string{"__type": e.code, "message": e.message})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	raw, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		raw = []byte(`{"__type":"InternalServiceError","message":"the fake could not encode its response"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", newVersionID())
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// decode reads a request body into in. An empty body is an empty object.
func decode(body []byte, in any) *apiError {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, in); err != nil {
		return &apiError{400, "SerializationException", "the request body is not the JSON the operation expects"}
	}
	return nil
}
