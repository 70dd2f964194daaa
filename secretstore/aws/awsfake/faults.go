package awsfake

import (
	"math"
	"net/http"
	"time"
)

// Operation classes a Fault can match besides a single operation name.
const (
	// ReadOps matches GetSecretValue, DescribeSecret and ListSecretVersionIds.
	ReadOps = "read"
	// WriteOps matches CreateSecret, PutSecretValue and
	// UpdateSecretVersionStage.
	WriteOps = "write"
)

// Error codes of the faults. Their HTTP status follows the API reference's
// Common Errors page.
const (
	CodeAccessDenied  = "AccessDeniedException" // 400
	CodeThrottling    = "ThrottlingException"   // 400
	CodeInternalError = "InternalServiceError"  // 500
)

// Fault changes how the server responds to matching requests. Faults are
// matched in the order they were injected, and a request uses at most one.
// A request with the wrong access key gets UnrecognizedClientException and
// uses no fault.
type Fault struct {
	// Op is the operation name ("PutSecretValue"), ReadOps, WriteOps, or
	// empty for every operation.
	Op string

	// Skip lets this many matching requests through unchanged before the
	// fault starts, so a test can stop a step after its first calls.
	Skip int

	// Count is how many matching requests the fault affects after Skip.
	Count int

	// Code is the error type sent as __type and X-Amzn-ErrorType. Empty
	// means InternalServiceError.
	Code string

	// Status is the HTTP status. Zero means 500 for InternalServiceError and
	// 400 for every other code.
	Status int

	// Applied makes the request take effect before the error is sent, so
	// the client cannot tell that its write happened: the response is lost.
	Applied bool

	// CloseConnection closes the connection instead of responding, as when a
	// proxy or the network drops the response.
	CloseConnection bool

	// EchoInput puts the request body, secret values included, into the
	// error message, as some failing services and proxies do, so tests can
	// check that clients never pass such text on.
	EchoInput bool

	// Before runs when the request arrives, before Delay and before the
	// request is handled, without the server's lock.
	Before func()

	// Delay holds the request back this long before it takes effect, or
	// until the client gives up, and then the request never takes effect.
	// A fault with Delay and no Code, Status, Applied or CloseConnection
	// sends the real response after the delay, so a test can keep a
	// request in flight, for example while the client's process is
	// stopped.
	Delay time.Duration
}

// Inject adds a fault. See Fault for what it does.
func (s *Server) Inject(f Fault) {
	if f.Count <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Deny responds to every following request for op (an operation name,
// ReadOps, WriteOps or empty for all) with AccessDeniedException, as when
// rotor's IAM policy lacks the permission.
func (s *Server) Deny(op string) {
	s.Inject(Fault{Op: op, Count: math.MaxInt, Code: CodeAccessDenied})
}

// Throttle responds to the next n requests for op with ThrottlingException,
// before they take effect.
func (s *Server) Throttle(op string, n int) {
	s.Inject(Fault{Op: op, Count: n, Code: CodeThrottling})
}

// Fail responds to the next n requests for op with a 500
// InternalServiceError, before they take effect.
func (s *Server) Fail(op string, n int) {
	s.Inject(Fault{Op: op, Count: n})
}

// LoseResponse applies the next n requests for op and then responds to them
// with a 500 InternalServiceError, so the client sees a failure for a
// request that took effect.
func (s *Server) LoseResponse(op string, n int) {
	s.Inject(Fault{Op: op, Count: n, Applied: true})
}

// ClearFaults removes every fault not used up yet.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// PendingFaults returns how many requests the injected faults would still
// affect, not counting faults injected by Deny, which never run out.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		if f.Count != math.MaxInt {
			n += f.Count
		}
	}
	return n
}

// takeFault returns the first fault that matches op and uses it once. The
// caller holds mu.
func (s *Server) takeFault(op string) *Fault {
	for i, f := range s.faults {
		if !f.matches(op) {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			return nil
		}
		if f.Count != math.MaxInt {
			f.Count--
		}
		if f.Count == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f
	}
	return nil
}

func (f *Fault) matches(op string) bool {
	switch f.Op {
	case "":
		return true
	case ReadOps:
		return !operations[op].write
	case WriteOps:
		return operations[op].write
	}
	return f.Op == op
}

// respondFault sends the fault's error, or closes the connection.
func (s *Server) respondFault(w http.ResponseWriter, f *Fault, body []byte) {
	if f.CloseConnection {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	e := &apiError{status: f.Status, code: f.Code}
	if e.code == "" {
		e.code = CodeInternalError
	}
	if e.status == 0 {
		e.status = http.StatusBadRequest
		if e.code == CodeInternalError {
			e.status = http.StatusInternalServerError
		}
	}
	switch e.code {
	case CodeAccessDenied:
		e.message = "User: arn:aws:iam::" + AccountID + ":user/rotor is not authorized to perform this operation on the secret"
	case CodeThrottling:
		e.message = "Rate exceeded"
	default:
		e.message = "An error occurred on the server side."
	}
	if f.EchoInput {
		e.message += ": " + string(body)
	}
	writeError(w, e)
}
