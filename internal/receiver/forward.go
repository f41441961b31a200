package receiver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// MaxUpstreamAnswerBytes bounds the upstream answer the receiver relays; it is read whole
// before any of it is relayed, so a failure midway is answered as a failure, not as half an
// answer.
const MaxUpstreamAnswerBytes = 16 << 20

// DefaultForwardTimeout leaves the receiver time to answer inside Tencent's 2 seconds.
const DefaultForwardTimeout = 1500 * time.Millisecond

// Forwarder sends on the callbacks the receiver does not own (every command but the battle
// end) to an existing callback backend, the upstream, and relays its answer: an app can put
// battle-operator at its one callback URL without its backend going blind, and the upstream
// still decides its before-callbacks (such as Live.CallbackBeforeSendGift).
type Forwarder struct {
	url     *url.URL
	timeout time.Duration
	client  *http.Client
}

// NewForwarder returns a Forwarder to rawURL (http or https). It waits timeout for the whole
// answer. caFile, when set, is a PEM bundle of the certificate authorities an https upstream's
// certificate may chain to, besides the system's. Redirects are not followed: a 3xx is relayed
// as it is.
func NewForwarder(rawURL string, timeout time.Duration, caFile string) (*Forwarder, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--forward-url %q: want an http:// or https:// URL with a host", rawURL)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("--forward-timeout must be positive, got %s", timeout)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--forward-ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--forward-ca-file %s: no PEM certificate in it", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.MaxIdleConnsPerHost = 64 // connections pooled for the callback rate, not 2
	transport.Proxy = nil              // straight to the upstream
	return &Forwarder{url: u, timeout: timeout, client: &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// relayed is an upstream answer, relayed to Tencent as it is.
type relayed struct {
	contentType string
	body        []byte
}

// forward sends the request on with its exact query string (Sign and RequestTime included, so
// the upstream can verify them), its exact body and Content-Type, and X-Forwarded-For, and
// answers with the upstream's status and body. An upstream that fails, or does not answer in
// full within the timeout, is answered with a FAIL (502 or 504), so that Tencent applies its
// own failure rule as if it had called the upstream itself.
func (f *Forwarder) forward(r *http.Request, body []byte, command string) answer {
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	target := *f.url
	target.RawQuery = strings.Trim(f.url.RawQuery+"&"+r.URL.RawQuery, "&")
	req, err := http.NewRequestWithContext(ctx, r.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return f.failed(command, start, http.StatusBadGateway, "error", "forwarding: %v", err)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if client, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := strings.Join(r.Header.Values("X-Forwarded-For"), ", "); prior != "" {
			client = prior + ", " + client
		}
		req.Header.Set("X-Forwarded-For", client)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return f.upstreamError(command, start, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxUpstreamAnswerBytes+1))
	if err != nil {
		return f.upstreamError(command, start, err)
	}
	if len(data) > MaxUpstreamAnswerBytes {
		return f.failed(command, start, http.StatusBadGateway, "error", "the upstream's answer is over %d bytes", MaxUpstreamAnswerBytes)
	}
	forwardedTotal.WithLabelValues(commandLabel(command), fmt.Sprintf("%dxx", resp.StatusCode/100)).Inc()
	forwardDuration.WithLabelValues(commandLabel(command)).Observe(time.Since(start).Seconds())
	return answer{status: resp.StatusCode, code: CodeOK, result: resultForwarded,
		relay: &relayed{contentType: resp.Header.Get("Content-Type"), body: data}}
}

// upstreamError answers an upstream that failed: 504 when it ran out of time, 502 otherwise.
func (f *Forwarder) upstreamError(command string, start time.Time, err error) answer {
	if errors.Is(err, context.DeadlineExceeded) {
		return f.failed(command, start, http.StatusGatewayTimeout, "timeout", "the upstream did not answer within --forward-timeout (%s)", f.timeout)
	}
	// A *url.Error names the URL, query and Sign included: say what failed without it (the
	// reason is logged, and a Sign must not be).
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return f.failed(command, start, http.StatusBadGateway, "error", "the upstream failed: %v", err)
}

func (f *Forwarder) failed(command string, start time.Time, status int, result, format string, args ...any) answer {
	forwardedTotal.WithLabelValues(commandLabel(command), result).Inc()
	forwardDuration.WithLabelValues(commandLabel(command)).Observe(time.Since(start).Seconds())
	code := CodeUpstreamFailed
	if status == http.StatusGatewayTimeout {
		code = CodeUpstreamTimeout
	}
	return fail(status, code, resultUpstreamFailed, format, args...)
}
