package gcpfake

import (
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// The RPCs of Secret Manager that the fake serves, by whether they change
// anything. Fault.Methods takes them.
var (
	ReadMethods  = []string{"GetSecret", "GetSecretVersion", "AccessSecretVersion", "ListSecretVersions"}
	WriteMethods = []string{"CreateSecret", "UpdateSecret", "AddSecretVersion", "DisableSecretVersion", "EnableSecretVersion", "DestroySecretVersion"}
)

// Fault changes how the server handles the next Count calls of Methods.
// Faults are matched in the order they were injected, and a call uses at
// most one.
type Fault struct {
	// Methods are the RPCs' names, such as "UpdateSecret". Empty matches
	// every method.
	Methods []string

	// Count is how many matching calls the fault affects.
	Count int

	// Before runs before the call is handled, without the server's lock,
	// so it can change the stored state (with SetLabel, for example) the
	// way a concurrent writer would.
	Before func()

	// Code is the status the call fails with, such as codes.Unavailable.
	// codes.OK sends the real response.
	Code codes.Code

	// Applied makes the call take effect before the error and the delay,
	// so the client cannot tell that its write happened: a response lost
	// on the way back. Without it, a call that fails never takes effect.
	Applied bool

	// Delay holds the response back this long, or until the client gives
	// up. A call without Applied takes effect after the delay, if the
	// client still waits.
	Delay time.Duration

	// EchoRequest puts the request, secret payload included, into the
	// error message, as some failing proxies do, so tests can check that
	// a caller never passes such text on.
	EchoRequest bool
}

// crash models a server whose effects stop after a number of calls: the
// calls before succeed, the next one takes effect but its response is
// lost, and every later call fails without effect.
type crash struct {
	left int // calls that still succeed
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

// FailNext makes the next n calls of method fail with code, after taking
// effect when applied is set.
func (s *Server) FailNext(method string, n int, code codes.Code, applied bool) {
	s.Inject(Fault{Methods: []string{method}, Count: n, Code: code, Applied: applied})
}

// PendingFaults returns how many calls the injected faults would still
// affect.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.Count
	}
	return n
}

// CrashAfter lets the next n calls of any method through. Call n+1 takes
// effect, but its caller gets UNAVAILABLE, and every call after that fails
// with UNAVAILABLE and no effect, as if the caller's process died after n
// calls. ClearFaults ends it.
func (s *Server) CrashAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crash = &crash{left: n}
}

// ClearFaults removes every fault not used up yet and ends a CrashAfter.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.crash = nil
}

// takeFault records the call and returns the fault it uses, if any. The
// caller holds mu.
func (s *Server) takeFault(method string) *Fault {
	s.calls = append(s.calls, method)
	if c := s.crash; c != nil {
		switch {
		case c.left > 0:
			c.left--
			return nil
		case c.left == 0:
			c.left--
			return &Fault{Code: codes.Unavailable, Applied: true}
		default:
			return &Fault{Code: codes.Unavailable}
		}
	}
	for i, f := range s.faults {
		if len(f.Methods) > 0 && !slices.Contains(f.Methods, method) {
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

// intercept applies faults around every call.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := path.Base(info.FullMethod)
	s.mu.Lock()
	f := s.takeFault(method)
	s.mu.Unlock()
	if f == nil {
		return handler(ctx, req)
	}

	if f.Before != nil {
		f.Before()
	}
	var resp any
	var err error
	if f.Applied {
		resp, err = handler(ctx, req)
	}
	if f.Delay > 0 {
		timer := time.NewTimer(f.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if f.Code != codes.OK {
		msg := fmt.Sprintf("injected %s for %s", f.Code, method)
		if m, ok := req.(proto.Message); ok && f.EchoRequest {
			msg += ": " + prototext.Format(m)
		}
		return nil, status.Error(f.Code, msg)
	}
	if f.Applied {
		return resp, err
	}
	return handler(ctx, req)
}
