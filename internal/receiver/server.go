package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Server serves a Handler as a manager runnable. It needs no leader election: every replica
// of the manager receives callbacks.
type Server struct {
	// Addr is the address to listen on, e.g. ":8082".
	Addr string
	// Handler answers the callbacks.
	Handler http.Handler
	// Log is the server's logger.
	Log logr.Logger
	// Warmup, when set, runs once serving has begun, retried until it succeeds; the server
	// reports ready only after it has.
	Warmup func(context.Context) error
	// ShutdownTimeout bounds how long in-flight callbacks may take to finish on shutdown.
	ShutdownTimeout time.Duration
	// CertDir, when set, makes the server serve HTTPS only, with the certificate tls.crt and
	// the key tls.key of that directory; a renewed certificate is picked up without a restart.
	CertDir string
	// EnableHTTP2 offers HTTP/2 to HTTPS clients. It is off unless asked for: HTTP/1.1 is all
	// Tencent needs, and HTTP/2 servers have had denial-of-service flaws (CVE-2023-44487).
	EnableHTTP2 bool

	// listener is set by Listen, or by Start when Listen was not called.
	listener net.Listener
	serving  atomic.Bool
	warm     atomic.Bool
}

// NeedLeaderElection tells the manager to run the receiver on every replica.
func (s *Server) NeedLeaderElection() bool { return false }

// Listen opens the listening socket ahead of Start, so the address is known (":0" in tests).
func (s *Server) Listen() (net.Addr, error) {
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return nil, fmt.Errorf("callback receiver: %w", err)
	}
	s.listener = l
	return l.Addr(), nil
}

// Start serves until ctx ends, then lets in-flight callbacks finish.
func (s *Server) Start(ctx context.Context) error {
	if s.listener == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(s.EnableHTTP2 && s.CertDir != "") // never h2c
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		Protocols:         &protocols,
	}
	listener, scheme := s.listener, "http"
	if s.CertDir != "" {
		cfg, err := s.watchCertificate(ctx)
		if err != nil {
			_ = s.listener.Close()
			return err
		}
		cfg.NextProtos = []string{"http/1.1"}
		if protocols.HTTP2() {
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		listener, scheme = tls.NewListener(s.listener, cfg), "https"
	}
	errs := make(chan error, 1)
	go func() {
		s.Log.Info("Serving Tencent Live callbacks", "address", s.listener.Addr().String(), "scheme", scheme, "http2", protocols.HTTP2())
		s.serving.Store(true)
		errs <- srv.Serve(listener)
	}()

	go s.warmUp(ctx)

	select {
	case err := <-errs:
		s.serving.Store(false)
		return fmt.Errorf("callback receiver: %w", err)
	case <-ctx.Done():
	}
	s.serving.Store(false)
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.Log.Info("Stopping the callback receiver")
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("callback receiver shutdown: %w", err)
	}
	if err := <-errs; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("callback receiver: %w", err)
	}
	return nil
}

// watchCertificate loads tls.crt and tls.key from CertDir and watches them until ctx ends, so
// a renewed certificate (cert-manager, a rotated Secret) serves the next connection.
func (s *Server) watchCertificate(ctx context.Context) (*tls.Config, error) {
	watcher, err := certwatcher.New(filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("callback receiver: loading the certificate from %s: %w", s.CertDir, err)
	}
	go func() {
		if err := watcher.Start(ctx); err != nil {
			s.Log.Error(err, "Watching the certificate failed; a renewed certificate is not picked up", "certDir", s.CertDir)
		}
	}()
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: watcher.GetCertificate}, nil
}

// warmUp runs Warmup until it succeeds or ctx ends.
func (s *Server) warmUp(ctx context.Context) {
	if s.Warmup == nil {
		s.warm.Store(true)
		return
	}
	for {
		start := time.Now()
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.Warmup(attempt)
		cancel()
		if err == nil {
			s.Log.Info("Receiver warmed up", "took", time.Since(start).Round(time.Millisecond).String())
			s.warm.Store(true)
			return
		}
		s.Log.Error(err, "Warming up the receiver failed; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// Ready is a readiness check: it passes while the receiver serves, once warmed up.
func (s *Server) Ready(_ *http.Request) error {
	if !s.serving.Load() {
		return errors.New("the callback receiver is not serving")
	}
	if !s.warm.Load() {
		return errors.New("the callback receiver is warming up: its first write to the API server has not completed")
	}
	return nil
}
