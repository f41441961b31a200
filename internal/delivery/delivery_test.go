package delivery

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is a real HTTP server that answers each attempt with the next of its statuses
// (the last one repeats) and remembers what it received.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	delay    time.Duration
	got      []*http.Request
	bodies   []string
}

func newUpstream(t *testing.T, statuses ...int) *upstream {
	u := &upstream{statuses: statuses}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		n := len(u.got)
		u.got = append(u.got, r)
		u.bodies = append(u.bodies, string(body))
		status := u.statuses[min(n, len(u.statuses)-1)]
		delay := u.delay
		u.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status == http.StatusFound {
			http.Redirect(w, r, "/elsewhere", status)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, strings.Repeat("x", 100<<10)) // longer than what is read
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.got...)
}

func fastSender() *Sender {
	s := NewSender("battle-operator-test")
	s.First, s.Max = 20*time.Millisecond, 80*time.Millisecond
	return s
}

func request(url string) Request {
	return Request{
		URL: url + "/battles", Body: []byte(`{"battle":1}`), Key: "key-1",
		Timeout: time.Second, RetryFor: 5 * time.Second,
		Headers: func(context.Context) (http.Header, error) {
			return http.Header{"Authorization": {"Bearer t0"}, "x-team": {"growth"}}, nil
		},
	}
}

func TestRetriesUntilDeliveredWithOneKey(t *testing.T) {
	u := newUpstream(t, 503, 500, 429, 200)
	res, final := fastSender().Send(context.Background(), request(u.URL))
	if !final || !res.Delivered || res.Status != 200 || res.Attempts != 4 || res.Err != "" {
		t.Fatalf("got %+v final=%v, want delivered at the 4th attempt", res, final)
	}
	got := u.requests()
	if len(got) != 4 {
		t.Fatalf("upstream saw %d attempts, want 4", len(got))
	}
	for i, r := range got {
		if r.Method != http.MethodPost || r.URL.Path != "/battles" {
			t.Errorf("attempt %d: %s %s", i, r.Method, r.URL.Path)
		}
		if k := r.Header.Get("Idempotency-Key"); k != "key-1" {
			t.Errorf("attempt %d: Idempotency-Key %q", i, k)
		}
		if r.Header.Get("Authorization") != "Bearer t0" || r.Header.Get("X-Team") != "growth" ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "battle-operator-test" {
			t.Errorf("attempt %d: headers %v", i, r.Header)
		}
		if u.bodies[i] != `{"battle":1}` {
			t.Errorf("attempt %d: body %q", i, u.bodies[i])
		}
	}
}

func TestFailure(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		delay    time.Duration
		retryFor time.Duration
		status   int
		attempts func(int) bool
		err      string
	}{
		{"A refusal fails at once.", []int{400}, 0, 5 * time.Second, 400, func(n int) bool { return n == 1 }, "answered 400 Bad Request"},
		{"A redirect is not followed and fails at once.", []int{302}, 0, 5 * time.Second, 302, func(n int) bool { return n == 1 }, "answered 302 Found"},
		{"5xx until retryFor is over fails with the last status.", []int{503, 502}, 0, 300 * time.Millisecond, 502, func(n int) bool { return n >= 3 }, "answered 502 Bad Gateway (after"},
		{"No answer within the timeout is retried, then fails.", []int{200}, 2 * time.Second, 300 * time.Millisecond, 0, func(n int) bool { return n >= 2 }, "no answer within 100ms"},
		{"retryFor 0 makes one attempt.", []int{503}, 0, 0, 503, func(n int) bool { return n == 1 }, "answered 503 Service Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, tc.statuses...)
			u.delay = tc.delay
			req := request(u.URL)
			req.RetryFor, req.Timeout = tc.retryFor, 100*time.Millisecond
			if tc.delay == 0 {
				req.Timeout = time.Second
			}
			res, final := fastSender().Send(context.Background(), req)
			if !final || res.Delivered || res.Status != tc.status || !strings.HasPrefix(res.Err, tc.err) || !tc.attempts(res.Attempts) {
				t.Fatalf("got %+v final=%v; want status %d, error %q", res, final, tc.status, tc.err)
			}
			if n := len(u.requests()); n != res.Attempts && tc.delay == 0 {
				t.Fatalf("upstream saw %d attempts, the result says %d", n, res.Attempts)
			}
			for _, r := range u.requests() {
				if r.URL.Path != "/battles" {
					t.Fatalf("a request went to %s", r.URL.Path)
				}
			}
		})
	}
}

func TestUpstreamDownIsRetriedUntilItIsUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens: connections are refused until the server below starts
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })}
	t.Cleanup(func() { _ = srv.Close() })
	go func() {
		time.Sleep(150 * time.Millisecond)
		if l, err := net.Listen("tcp", addr); err == nil {
			_ = srv.Serve(l)
		}
	}()
	res, final := fastSender().Send(context.Background(), request("http://"+addr))
	if !final || !res.Delivered || res.Status != 204 || res.Attempts < 2 {
		t.Fatalf("got %+v final=%v; want delivered after refused connections", res, final)
	}

	// Down for good: the failure says why, without the URL (it may carry credentials).
	req := request("http://user:pa55word@127.0.0.1:1")
	req.RetryFor = 0
	res, _ = fastSender().Send(context.Background(), req)
	if res.Delivered || res.Err == "" || strings.Contains(res.Err, "pa55word") {
		t.Fatalf("got %+v; want a failure that does not name the URL", res)
	}
}

func TestHeadersErrorIsRetried(t *testing.T) {
	u := newUpstream(t, 200)
	req := request(u.URL)
	calls := 0
	req.Headers = func(context.Context) (http.Header, error) {
		calls++
		if calls < 3 {
			return nil, errors.New(`secret "token" not found`)
		}
		return http.Header{"Authorization": {"Bearer late"}}, nil
	}
	res, final := fastSender().Send(context.Background(), req)
	if !final || !res.Delivered || res.Attempts != 3 || len(u.requests()) != 1 {
		t.Fatalf("got %+v final=%v, %d requests; want one request at the 3rd attempt", res, final, len(u.requests()))
	}
	if got := u.requests()[0].Header.Get("Authorization"); got != "Bearer late" {
		t.Fatalf("Authorization %q", got)
	}
}

func TestCanceledIsNotFinal(t *testing.T) {
	u := newUpstream(t, 503)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	req := request(u.URL)
	req.RetryFor = time.Hour
	res, final := fastSender().Send(ctx, req)
	if final || res.Delivered {
		t.Fatalf("got %+v final=%v; a canceled run is not final", res, final)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var times []time.Time
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	res, final := fastSender().Send(context.Background(), request(srv.URL))
	if !final || !res.Delivered || res.Attempts != 2 {
		t.Fatalf("got %+v final=%v", res, final)
	}
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Fatalf("retried %s after a Retry-After of 1 s", gap)
	}
}
