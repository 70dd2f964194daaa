package persiumsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// certificateLifetime is how long a TLSServer's certificate is valid. The
// key lives only in memory and is replaced on every start.
const certificateLifetime = 365 * 24 * time.Hour

// TLSServer serves a handler over HTTPS on a loopback port with a freshly
// generated self-signed certificate, which only CertPool trusts.
type TLSServer struct {
	// URL is https://127.0.0.1:PORT, without a trailing slash.
	URL string
	// CertPool trusts the server's certificate and nothing else.
	CertPool *x509.CertPool

	server    *http.Server
	served    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewTLS starts serving h on 127.0.0.1 at a free port over TLS 1.2 or
// later. The certificate is valid for 127.0.0.1, ::1 and localhost. The
// logger receives the HTTP server's own errors, such as failed TLS
// handshakes; nil discards them. Call Close to stop.
func NewTLS(h http.Handler, logger *slog.Logger) (*TLSServer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	cert, err := selfSignedCertificate(time.Now())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on a loopback port for the simulated token endpoint: %w", err)
	}

	server := &http.Server{
		Handler:           h,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	s := &TLSServer{
		URL:      "https://" + listener.Addr().String(),
		CertPool: pool,
		server:   server,
		served:   make(chan struct{}),
	}

	go func() {
		defer close(s.served)
		// Certificates come from TLSConfig, so no files are named.
		if err := server.ServeTLS(listener, "", ""); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("simulated token endpoint stopped serving", "url", s.URL, "error", err)
		}
	}()
	return s, nil
}

// Close stops the server at once, closing open connections, and waits
// until it has stopped. Later calls return the first call's result.
func (s *TLSServer) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.server.Close()
		<-s.served
	})
	return s.closeErr
}

// selfSignedCertificate returns an ECDSA P-256 certificate for the
// loopback addresses, valid from a minute before now for
// certificateLifetime.
func selfSignedCertificate(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key for the simulated token endpoint: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate certificate serial number: %w", err)
	}

	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "persiumsim", Organization: []string{"rotor simulated Persium"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certificateLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
