package vaultfake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// reply is a handler's result: a status and, unless the status is 204, a
// JSON body.
type reply struct {
	status int
	body   any
}

func noContent() reply { return reply{status: http.StatusNoContent} }

// errorReply is Vault's error body, {"errors":[...]}.
func errorReply(status int, messages ...string) reply {
	if messages == nil {
		messages = []string{}
	}
	return reply{status: status, body: map[string]any{"errors": messages}}
}

// dataReply wraps data in Vault's response envelope.
func dataReply(status int, data any) reply {
	return reply{status: status, body: map[string]any{
		"request_id":     requestID(),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           nil,
	}}
}

var (
	permissionDenied = errorReply(http.StatusForbidden, "permission denied")
	notFound         = errorReply(http.StatusNotFound)
	unsupported      = errorReply(http.StatusMethodNotAllowed, "1 error occurred:\n\t* unsupported operation\n\n")
)

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// call is one parsed request.
type call struct {
	op    string // read, list, write, patch, delete
	path  string // after /v1/
	query map[string][]string
	body  map[string]any // nil when the request had none
	raw   []byte
	ctype string
	token string // the X-Vault-Token header
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		write(w, errorReply(http.StatusNotFound))
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		write(w, errorReply(http.StatusBadRequest, "failed to read request body"))
		return
	}
	c := call{
		path:  strings.TrimPrefix(r.URL.Path, "/v1/"),
		query: r.URL.Query(),
		raw:   raw,
		ctype: r.Header.Get("Content-Type"),
		token: r.Header.Get("X-Vault-Token"),
	}
	switch {
	case r.Method == "LIST" || (r.Method == http.MethodGet && r.URL.Query().Get("list") == "true"):
		c.op = "list"
	case r.Method == http.MethodGet:
		c.op = "read"
	case r.Method == http.MethodPut || r.Method == http.MethodPost:
		c.op = "write"
	case r.Method == http.MethodPatch:
		c.op = "patch"
	case r.Method == http.MethodDelete:
		c.op = "delete"
	default:
		write(w, unsupported)
		return
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&c.body); err != nil {
			write(w, errorReply(http.StatusBadRequest, "failed to parse JSON input: "+err.Error()))
			return
		}
	}

	s.mu.Lock()
	valid := s.tokenValid(c.token, c.path)
	method := r.Method
	if c.op == "list" {
		method = "LIST"
	}
	s.requests = append(s.requests, Request{Method: method, Path: c.path})
	fault := s.takeFault(method, c.path)
	s.mu.Unlock()

	if !valid {
		write(w, permissionDenied)
		return
	}
	if fault == nil {
		write(w, s.handleLocked(c))
		return
	}
	s.serveFault(w, r, c, fault)
}

// handleLocked runs one request under the server's lock.
func (s *Server) handleLocked(c call) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handle(c)
}

func (s *Server) handle(c call) reply {
	if rest, ok := strings.CutPrefix(c.path, "sys/"); ok {
		return s.handleSys(c, rest)
	}
	if rest, ok := strings.CutPrefix(c.path, "auth/"); ok {
		return s.handleAuth(c, rest)
	}
	m, rel := s.mountFor(c.path)
	if m == nil {
		return errorReply(http.StatusNotFound, "no handler for route \""+c.path+"\". route entry not found.")
	}
	if m.version == 1 {
		return s.handleKV1(m, c, rel)
	}
	return s.handleKV2(m, c, rel)
}

// mountFor finds the mount with the longest path that contains p, and the
// path relative to it.
func (s *Server) mountFor(p string) (*mount, string) {
	var best *mount
	for name, m := range s.mounts {
		if (p == name || strings.HasPrefix(p, name+"/")) && (best == nil || len(name) > len(best.path)) {
			best = m
		}
	}
	if best == nil {
		return nil, ""
	}
	return best, strings.TrimPrefix(strings.TrimPrefix(p, best.path), "/")
}

func (s *Server) handleSys(c call, rest string) reply {
	switch {
	case rest == "mounts" && c.op == "read":
		mounts := map[string]any{}
		for name, m := range s.mounts {
			mounts[name+"/"] = m.describe()
		}
		// Vault repeats the mounts at the top level for old clients.
		r := dataReply(http.StatusOK, mounts)
		for k, v := range mounts {
			r.body.(map[string]any)[k] = v
		}
		return r
	case strings.HasPrefix(rest, "internal/ui/mounts/") && c.op == "read":
		p := strings.TrimPrefix(rest, "internal/ui/mounts/")
		m, _ := s.mountFor(strings.TrimSuffix(p, "/"))
		if m == nil {
			return errorReply(http.StatusForbidden, "preflight capability check returned 403, please ensure client's policies grant access to path \""+strings.TrimSuffix(p, "/")+"/\"")
		}
		return dataReply(http.StatusOK, m.describe())
	}
	return errorReply(http.StatusNotFound, "unsupported path")
}

func write(w http.ResponseWriter, r reply) {
	if r.status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(r.status)
	_ = json.NewEncoder(w).Encode(r.body)
}

// serveFault responds to a request that a Fault matched.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, c call, f *Fault) {
	if f.Before != nil {
		f.Before()
	}
	var response reply
	if f.Applied {
		response = s.handleLocked(c)
	}
	if f.Delay > 0 {
		timer := time.NewTimer(f.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
	}
	if f.Status == 0 {
		if !f.Applied {
			response = s.handleLocked(c)
		}
		write(w, response)
		return
	}

	message := "1 error occurred:\n\t* internal error\n\n"
	if f.EchoBody {
		message = "1 error occurred:\n\t* internal error while handling " + string(c.raw) + "\n\n"
	}
	write(w, errorReply(f.Status, message))
}
