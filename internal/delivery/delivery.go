// Package delivery sends an HTTP reaction's requests: one POST per run, retried with backoff
// while the failure may pass, every attempt under the same Idempotency-Key.
package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Request is one run to deliver.
type Request struct {
	URL string
	// Headers returns the run's own headers before each attempt (a Secret's value may change
	// between attempts); an error fails the attempt, and it is retried.
	Headers func(context.Context) (http.Header, error)
	Body    []byte
	// Key is the Idempotency-Key: the same on every attempt.
	Key string
	// Timeout bounds one attempt.
	Timeout time.Duration
	// RetryFor is how long after the first attempt a failed attempt is retried.
	RetryFor time.Duration
}

// Result is what a run came to.
type Result struct {
	// Delivered is true when an attempt was answered 2xx.
	Delivered bool
	// Status is the last answer's HTTP status; 0 when the last attempt got none.
	Status int
	// Err says why the run failed; "" when delivered.
	Err string
	// Attempts counts the attempts made.
	Attempts int
}

// Sender sends runs. Its client pools connections, verifies certificates and follows no
// redirects.
type Sender struct {
	client *http.Client
	// First and Max bound the wait between attempts: First, doubling, at most Max, with up
	// to 10% jitter.
	First, Max time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// maxAnswer is how much of an answer is read (and kept for the log); the rest is discarded.
const maxAnswer = 64 << 10

// NewSender returns a Sender with its own connection pool.
func NewSender(userAgent string) *Sender {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 32
	return &Sender{
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		First: time.Second, Max: time.Minute, UserAgent: userAgent,
	}
}

// Send delivers a run: it attempts until an attempt is answered 2xx, an answer says the
// request will never succeed (a status other than 2xx, 408, 429 and 5xx; a redirect counts as
// such an answer), or the next attempt would start after RetryFor; it waits the longer of its
// backoff and the answer's Retry-After (seconds). It reports whether the result is final:
// when ctx ends first it is not, and the run is still to deliver.
func (s *Sender) Send(ctx context.Context, req Request) (Result, bool) {
	deadline := time.Now().Add(req.RetryFor)
	wait := s.First
	var res Result
	for {
		res.Attempts++
		status, retryAfter, err := s.attempt(ctx, req)
		res.Status = status
		switch {
		case err == nil && status >= 200 && status < 300:
			return Result{Delivered: true, Status: status, Attempts: res.Attempts}, true
		case err != nil:
			res.Err = err.Error()
		default:
			res.Err = "answered " + strconv.Itoa(status) + " " + http.StatusText(status)
		}
		if ctx.Err() != nil {
			return res, false
		}
		if err == nil && !retryable(status) {
			return res, true
		}
		next := jitter(wait)
		if retryAfter > next {
			next = retryAfter
		}
		if time.Now().Add(next).After(deadline) {
			if res.Attempts > 1 || req.RetryFor > 0 {
				res.Err += fmt.Sprintf(" (after %d attempts in %s)", res.Attempts, req.RetryFor)
			}
			return res, true
		}
		select {
		case <-ctx.Done():
			return res, false
		case <-time.After(next):
		}
		wait = min(2*wait, s.Max)
	}
}

// attempt sends the request once and returns the answer's status and its Retry-After.
func (s *Sender) attempt(ctx context.Context, req Request) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return 0, 0, errors.New("the URL is not valid") // the error would quote it
	}
	if req.Headers != nil {
		headers, err := req.Headers(ctx)
		if err != nil {
			return 0, 0, err
		}
		for name, values := range headers {
			httpReq.Header[http.CanonicalHeaderKey(name)] = values
		}
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Idempotency-Key", req.Key)
	httpReq.Header.Set("User-Agent", s.UserAgent)
	resp, err := s.client.Do(httpReq)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return 0, 0, fmt.Errorf("no answer within %s", req.Timeout)
		}
		// The reason without the URL: it is recorded on the BattleResult, and a URL may carry
		// credentials.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return 0, 0, err
	}
	// Read (a bounded part of) the answer, so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), nil
}

// retryable says whether an answer with this status may succeed when tried again.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// retryAfter reads a Retry-After header's seconds; 0 when absent or a date.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Hour)
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}
