package vaultfake

import (
	"net/http"
	"strings"
	"time"
)

// Fault changes how the server responds to the next Count requests that
// match Method and Path. Faults are matched in the order they were
// injected, and a request uses at most one. The token is checked as usual,
// so a request with a bad token gets 403 but still uses up the fault.
type Fault struct {
	// Count is how many matching requests the fault affects.
	Count int

	// Method matches the request method: GET, PUT, POST, PATCH, DELETE, or
	// LIST for list requests in either form. Empty matches every method;
	// "write" matches every method except GET and LIST.
	Method string

	// Path matches requests whose path after /v1/ starts with it, such as
	// "secret/data/app". Empty matches every path.
	Path string

	// Before runs before the request is handled, without the server's
	// lock, so it can change the stored state (with Put, for example) the
	// way a concurrent writer would.
	Before func()

	// Status replaces the response with Vault's error body and this status,
	// such as 500. Zero sends the real response.
	Status int

	// Applied makes the request take effect before the delay and the
	// response, so a client that gets an error or gives up waiting cannot
	// tell that its write happened. Without it, a request that gets its
	// real response takes effect after the delay if the client still
	// waits, and a request that gets an error status never takes effect.
	Applied bool

	// Delay holds the response back this long, or until the client gives up.
	Delay time.Duration

	// EchoBody puts the request body into the error message, as some
	// failing servers and proxies do, so tests can check that the backend
	// never passes such text on.
	EchoBody bool
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

// FailNext responds to the next n requests with a 500. With applied the
// requests take effect first, so the client sees an error for a write that
// happened.
func (s *Server) FailNext(n int, applied bool) {
	s.Inject(Fault{Count: n, Status: http.StatusInternalServerError, Applied: applied})
}

// FailNextWrite responds to the next n requests that change something under
// path (after /v1/) with a 500, after applying them if applied is set.
func (s *Server) FailNextWrite(n int, path string, applied bool) {
	s.Inject(Fault{Count: n, Method: "write", Path: path, Status: http.StatusInternalServerError, Applied: applied})
}

// ClearFaults removes every fault not used up yet.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the first fault that matches and uses it once. The
// caller holds mu.
func (s *Server) takeFault(method, path string) *Fault {
	for i, f := range s.faults {
		if !f.matches(method, path) {
			continue
		}
		f.Count--
		if f.Count == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f
	}
	return nil
}

func (f *Fault) matches(method, path string) bool {
	switch f.Method {
	case "":
	case "write":
		if method == http.MethodGet || method == "LIST" {
			return false
		}
	default:
		if !strings.EqualFold(f.Method, method) {
			return false
		}
	}
	return strings.HasPrefix(path, f.Path)
}
