package receiver

import (
	"bytes"
	"crypto/rand"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/battleops/battle-operator/internal/testutil"
)

// upstream is a real HTTP server standing for an app's existing callback backend: it keeps
// every request it gets and answers as told.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	got      []upstreamRequest
	answer   func(w http.ResponseWriter, r *http.Request)
	redirect int // requests to /elsewhere
}

type upstreamRequest struct {
	method, path, rawQuery, contentType, forwardedFor string
	body                                              []byte
}

func newUpstream(t *testing.T, tlsServer bool, answer func(w http.ResponseWriter, r *http.Request)) *upstream {
	t.Helper()
	u := &upstream{answer: answer}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		if r.URL.Path == "/elsewhere" {
			u.redirect++
		} else {
			u.got = append(u.got, upstreamRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("X-Forwarded-For"), body})
		}
		u.mu.Unlock()
		u.answer(w, r)
	})
	if tlsServer {
		u.Server = httptest.NewTLSServer(h)
	} else {
		u.Server = httptest.NewServer(h)
	}
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upstreamRequest(nil), u.got...)
}

func forwarderTo(t *testing.T, rawURL string, timeout time.Duration, caFile string) *Forwarder {
	t.Helper()
	f, err := NewForwarder(rawURL, timeout, caFile)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// rawAnswer is an answer as the caller got it, byte for byte.
type rawAnswer struct {
	status      int
	contentType string
	body        []byte
}

// postRaw posts body and returns the answer as it came, redirects not followed.
func postRaw(t *testing.T, rawURL string, header http.Header, body []byte) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	c := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("no answer within Tencent's 2 seconds: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawAnswer{resp.StatusCode, resp.Header.Get("Content-Type"), data}
}

// giftBody is a before-callback the upstream decides on, with a member the receiver knows
// nothing of and bytes that a re-encoding would change.
const giftBody = `{"CallbackCommand":"Live.CallbackBeforeSendGift","RoomId":"room-1",  "GiftId":7,"Count":1e2,"Note":"\u00e9"}`

func TestForwardRelaysWhatTheReceiverDoesNotOwn(t *testing.T) {
	t.Parallel()
	const token = "forward-token"
	upstreamAnswer := []byte(`{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"no gifts in this room","Upstream":true}`)
	u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if strings.Contains(r.URL.RawQuery, "Live.CallbackAfterStartBattle") {
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte("started\n"))
			return
		}
		_, _ = w.Write(upstreamAnswer)
	})
	r := newTestReceiver(t, Options{Tokens: tokensOf(t, token), Forward: forwarderTo(t, u.URL+"/backend?from=battle-operator", DefaultForwardTimeout, "")})
	now := strconv.FormatInt(time.Now().Unix(), 10)
	signed := "&RequestTime=" + now + "&Sign=" + Sign(token, now)
	header := http.Header{"Content-Type": {"application/json"}, "X-Forwarded-For": {"203.0.113.7"}}

	t.Run("A before-callback the upstream refuses reaches the caller as its FAIL, byte for byte.", func(t *testing.T) {
		query := "SdkAppid=" + r.appID + "&CallbackCommand=Live.CallbackBeforeSendGift&ClientIP=10.0.0.1&OptPlatform=RESTAPI" + signed
		got := postRaw(t, r.url+"?"+query, header, []byte(giftBody))
		if got.status != http.StatusOK || !bytes.Equal(got.body, upstreamAnswer) || got.contentType != "application/json; charset=utf-8" {
			t.Fatalf("answer = %d %q %s, want the upstream's 200 %s", got.status, got.contentType, got.body, upstreamAnswer)
		}
		reqs := u.requests()
		if len(reqs) != 1 {
			t.Fatalf("the upstream got %d requests, want 1", len(reqs))
		}
		want := upstreamRequest{http.MethodPost, "/backend", "from=battle-operator&" + query, "application/json", "203.0.113.7, 127.0.0.1", []byte(giftBody)}
		if got := reqs[0]; got.method != want.method || got.path != want.path || got.rawQuery != want.rawQuery ||
			got.contentType != want.contentType || got.forwardedFor != want.forwardedFor || !bytes.Equal(got.body, want.body) {
			t.Errorf("the upstream got %+v (body %s)\nwant %+v (body %s)", got, got.body, want, want.body)
		}
	})
	t.Run("Any status of the upstream is relayed as it is.", func(t *testing.T) {
		got := postRaw(t, r.url+"?SdkAppid="+r.appID+"&CallbackCommand=Live.CallbackAfterStartBattle"+signed, header, testutil.Fixture(t, "start-battle.json"))
		if got.status != http.StatusAccepted || string(got.body) != "started\n" {
			t.Errorf("answer = %d %q, want the upstream's 202 started", got.status, got.body)
		}
	})
	t.Run("A battle end is stored, not forwarded.", func(t *testing.T) {
		before := len(u.requests())
		body := testutil.Fixture(t, "end-battle-draw.json")
		wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID)+signed, body))
		wantStored(t, r.namespace, 1)
		if n := len(u.requests()) - before; n != 0 {
			t.Errorf("the upstream got %d battle ends, want none", n)
		}
	})
	t.Run("What fails the app, Sign or size checks is answered by the receiver, never forwarded.", func(t *testing.T) {
		before := len(u.requests())
		gift := "&CallbackCommand=Live.CallbackBeforeSendGift"
		wantFail(t, r.post(t, "SdkAppid=1"+gift+signed, []byte(giftBody)), http.StatusForbidden, CodeUnknownApp, "not accepted")
		wantFail(t, r.post(t, "SdkAppid="+r.appID+gift+"&RequestTime="+now+"&Sign="+Sign("stolen", now), []byte(giftBody)), http.StatusUnauthorized, CodeBadSignature, "does not match")
		wantFail(t, r.post(t, "SdkAppid="+r.appID+gift+signed, bytes.Repeat([]byte("x"), 1<<20+1)), http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "limit")
		if n := len(u.requests()) - before; n != 0 {
			t.Errorf("the upstream got %d refused callbacks, want none", n)
		}
	})
}

func TestForwardFailuresAreFAILInTime(t *testing.T) {
	query := func(r *testReceiver) string {
		return r.url + "?SdkAppid=" + r.appID + "&CallbackCommand=Live.CallbackBeforeSendGift"
	}
	t.Run("An upstream that does not answer in time gets Tencent a 504 FAIL.", func(t *testing.T) {
		release := make(chan struct{})
		u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		r := newTestReceiver(t, Options{Forward: forwarderTo(t, u.URL, 300*time.Millisecond, "")})
		began := time.Now()
		got := send(t, http.MethodPost, query(r), strings.NewReader(giftBody))
		if got.status != http.StatusGatewayTimeout || got.answer.ActionStatus != "FAIL" || got.answer.ErrorCode != CodeUpstreamTimeout {
			t.Errorf("answer = %d %+v, want 504 FAIL %d", got.status, got.answer, CodeUpstreamTimeout)
		}
		if took := time.Since(began); took > 1500*time.Millisecond {
			t.Errorf("answered after %s, want about the 300ms timeout", took)
		}
	})
	t.Run("An upstream that is down gets Tencent a 502 FAIL.", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + l.Addr().String()
		_ = l.Close()
		r := newTestReceiver(t, Options{Forward: forwarderTo(t, down, DefaultForwardTimeout, "")})
		got := send(t, http.MethodPost, query(r)+"&RequestTime=1700000000&Sign=5ecret5ign", strings.NewReader(giftBody))
		if got.status != http.StatusBadGateway || got.answer.ActionStatus != "FAIL" || got.answer.ErrorCode != CodeUpstreamFailed {
			t.Errorf("answer = %d %+v, want 502 FAIL %d", got.status, got.answer, CodeUpstreamFailed)
		}
		// The reason is logged with the answer: it names no URL, so no Sign.
		if strings.Contains(got.answer.ErrorInfo, "5ecret5ign") || !strings.Contains(got.answer.ErrorInfo, "refused") {
			t.Errorf("ErrorInfo = %q, want the reason without the query", got.answer.ErrorInfo)
		}
	})
	t.Run("A 5 MiB answer is relayed whole.", func(t *testing.T) {
		big := make([]byte, 5<<20)
		if _, err := rand.Read(big); err != nil {
			t.Fatal(err)
		}
		u := newUpstream(t, false, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(big)
		})
		r := newTestReceiver(t, Options{Forward: forwarderTo(t, u.URL, DefaultForwardTimeout, "")})
		got := postRaw(t, query(r), http.Header{"Content-Type": {"application/json"}}, []byte(giftBody))
		if got.status != http.StatusOK || got.contentType != "application/octet-stream" || !bytes.Equal(got.body, big) {
			t.Errorf("answer = %d %q, %d bytes (equal: %v), want the upstream's 5 MiB", got.status, got.contentType, len(got.body), bytes.Equal(got.body, big))
		}
	})
	t.Run("A redirect is relayed, not followed.", func(t *testing.T) {
		u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/elsewhere" {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			}
		})
		r := newTestReceiver(t, Options{Forward: forwarderTo(t, u.URL, DefaultForwardTimeout, "")})
		got := postRaw(t, query(r), http.Header{"Content-Type": {"application/json"}}, []byte(giftBody))
		u.mu.Lock()
		followed := u.redirect
		u.mu.Unlock()
		if got.status != http.StatusFound || followed != 0 {
			t.Errorf("answer %d, /elsewhere called %d times; want the 302 relayed and nothing followed", got.status, followed)
		}
	})
	t.Run("An https upstream is verified: its private CA given, it is reached; not given, 502.", func(t *testing.T) {
		u := newUpstream(t, true, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`))
		})
		caFile := writeFile(t, t.TempDir(), "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.Certificate().Raw})))
		trusted := newTestReceiver(t, Options{Forward: forwarderTo(t, u.URL, DefaultForwardTimeout, caFile)})
		wantOK(t, send(t, http.MethodPost, query(trusted), strings.NewReader(giftBody)))
		untrusted := newTestReceiver(t, Options{Forward: forwarderTo(t, u.URL, DefaultForwardTimeout, "")})
		got := send(t, http.MethodPost, query(untrusted), strings.NewReader(giftBody))
		if got.status != http.StatusBadGateway || !strings.Contains(got.answer.ErrorInfo, "certificate") {
			t.Errorf("answer = %d %+v, want 502 for an unknown authority", got.status, got.answer)
		}
	})
}

func TestNewForwarderRefusesBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url     string
		timeout time.Duration
		ca      string
		want    string
	}{
		{"ftp://backend", time.Second, "", "want an http:// or https:// URL"},
		{"/relative", time.Second, "", "want an http:// or https:// URL"},
		{"http://backend", 0, "", "must be positive"},
		{"https://backend", time.Second, "/missing/ca.pem", "no such file"},
		{"https://backend", time.Second, writeFile(t, t.TempDir(), "ca.pem", "not a certificate"), "no PEM certificate"},
	} {
		if _, err := NewForwarder(tc.url, tc.timeout, tc.ca); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewForwarder(%q, %s, %q) = %v, want an error with %q", tc.url, tc.timeout, tc.ca, err, tc.want)
		}
	}
}
