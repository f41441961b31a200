package receiver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/battleops/battle-operator/internal/testutil"
)

// startServer runs s until the test ends and returns its address once it is ready.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	addr, stop := runServer(t, s)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	return addr
}

// runServer starts s and returns its address once it is ready, and stop, which stops it and
// returns what its Start returned. Call stop once.
func runServer(t *testing.T, s *Server) (string, func() error) {
	t.Helper()
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- s.Start(ctx) }()
	stop := func() error {
		cancel()
		return <-stopped
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return s.Ready(nil) == nil, nil
	}); err != nil {
		_ = stop()
		t.Fatal("the receiver never became ready")
	}
	return addr.String(), stop
}

// httpsClient trusts roots only and offers HTTP/2, as a modern client (or a proxy) does.
func httpsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
}

// postOver posts a battle-end callback with c and returns the response and its decoded answer.
func postOver(t *testing.T, c *http.Client, rawURL string, body []byte) (*http.Response, Answer, error) {
	t.Helper()
	resp, err := c.Post(rawURL, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, Answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	var a Answer
	if err := json.Unmarshal(data, &a); err != nil {
		a.ErrorInfo = "not JSON: " + string(data)
	}
	return resp, a, nil
}

func TestReceiverServesHTTPSWithTheCertificateOfCertDir(t *testing.T) {
	r := newTestReceiver(t, Options{})
	dir := t.TempDir()
	roots := testutil.WriteCert(t, dir, "first")
	addr := startServer(t, &Server{Addr: "127.0.0.1:0", Handler: r.handler, CertDir: dir, Log: r.handler.opts.Log})
	query := "/callback?" + testutil.EndBattleQuery(r.appID)

	body := testutil.Fixture(t, "end-battle-caller-wins.json")
	resp, answer, err := postOver(t, httpsClient(roots), "https://"+addr+query, body)
	if err != nil {
		t.Fatalf("POST over HTTPS, trusting the certificate of the directory: %v", err)
	}
	if resp.StatusCode != http.StatusOK || answer != (Answer{ActionStatus: "OK", ErrorCode: CodeOK}) {
		t.Fatalf("answer = %d %+v, want 200 OK", resp.StatusCode, answer)
	}
	if resp.TLS == nil {
		t.Fatal("answered without TLS")
	}
	if resp.Proto != "HTTP/1.1" || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Errorf("protocol %s, ALPN %q; want HTTP/1.1 (HTTP/2 is off unless enabled)", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	if br := getBattle(t, r.namespace, battleID(t, body)); br.Spec.Outcome != "Win" {
		t.Errorf("stored outcome %q, want Win", br.Spec.Outcome)
	}

	// Plain HTTP on the HTTPS port is refused before the handler: nothing is stored.
	other := testutil.Fixture(t, "end-battle-draw.json")
	if resp, answer, err := postOver(t, tencentClient, "http://"+addr+query, other); err == nil && (resp.StatusCode != http.StatusBadRequest || answer.ActionStatus != "") {
		t.Errorf("plain HTTP to the HTTPS receiver answered %d %+v, want 400 from the TLS server, not the handler", resp.StatusCode, answer)
	}
	wantStored(t, r.namespace, 1)

	// A client that does not trust the certificate gets no answer.
	if _, _, err := postOver(t, httpsClient(x509.NewCertPool()), "https://"+addr+query, other); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client trusting nothing: %v, want a certificate error", err)
	}

	// A renewed certificate (cert-manager rewrites the Secret, the kubelet the files) serves
	// new connections without a restart.
	renewed := testutil.WriteCert(t, dir, "renewed")
	var lastErr error
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		resp, _, err := postOver(t, httpsClient(renewed), "https://"+addr+query, other)
		lastErr = err
		return err == nil && resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("the renewed certificate is not served after 20s: %v", lastErr)
	}
	wantStored(t, r.namespace, 2)
}

func TestReceiverOffersHTTP2OnlyWhenEnabled(t *testing.T) {
	r := newTestReceiver(t, Options{})
	dir := t.TempDir()
	roots := testutil.WriteCert(t, dir, "h2")
	for _, tc := range []struct {
		enable bool
		proto  string
	}{{false, "HTTP/1.1"}, {true, "HTTP/2.0"}} {
		addr := startServer(t, &Server{Addr: "127.0.0.1:0", Handler: r.handler, CertDir: dir, EnableHTTP2: tc.enable, Log: r.handler.opts.Log})
		resp, answer, err := postOver(t, httpsClient(roots), "https://"+addr+"/callback?"+testutil.EndBattleQuery(r.appID), testutil.Fixture(t, "end-battle-official-example.json"))
		if err != nil {
			t.Fatalf("EnableHTTP2 %v: %v", tc.enable, err)
		}
		if resp.StatusCode != http.StatusOK || answer.ErrorCode != CodeOK {
			t.Errorf("EnableHTTP2 %v: answer %d %+v, want 200 OK", tc.enable, resp.StatusCode, answer)
		}
		if resp.Proto != tc.proto {
			t.Errorf("EnableHTTP2 %v: a client offering h2 got %s, want %s", tc.enable, resp.Proto, tc.proto)
		}
	}
}

func TestReceiverWithoutItsCertificateDoesNotStart(t *testing.T) {
	dir := t.TempDir()
	s := &Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler(), CertDir: dir, Log: managerServer.Log}
	err := s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Start with an empty certificate directory: %v, want an error naming %s", err, dir)
	}
	if s.Ready(nil) == nil {
		t.Error("ready without serving")
	}
}
