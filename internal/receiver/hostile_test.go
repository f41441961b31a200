package receiver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostileReceiver is a receiver as the manager serves it (Server: its timeouts and limits),
// with callback authentication on and a clock fixed at hostileNow.
func hostileReceiver(t *testing.T) (*testReceiver, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("hostile-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apps := map[string]string{"1400000888": "pending"}
	tokens, err := LoadTokens([]string{path}, apps)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestReceiver(t, Options{Apps: apps, Tokens: tokens, Now: func() time.Time { return time.Unix(hostileNow, 0) }})
	apps["1400000888"] = r.namespace
	r.appID = "1400000888"
	addr := startServer(t, &Server{Addr: "127.0.0.1:0", Handler: r.handler, Log: r.handler.opts.Log})
	return r, addr
}

const hostileNow = 1700000000

// wireAnswer is what came back for one raw request.
type wireAnswer struct {
	status int
	answer *Answer // nil when the body is not Tencent's JSON (Go's own plain-text answers)
	closed bool    // the server closed the connection after it
}

// exchange writes raw to a new connection and reads one response.
func exchange(t *testing.T, addr, raw string) wireAnswer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		// The server may answer before reading it all. A body shorter than its Content-Length
		// ends there: the client is done sending.
		if _, err := io.WriteString(c, raw); err == nil && shortBody(raw) {
			_ = c.(*net.TCPConn).CloseWrite()
		}
	}()
	br := bufio.NewReader(c)
	method := raw[:strings.IndexByte(raw, ' ')]
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	out := wireAnswer{status: resp.StatusCode, closed: resp.Close}
	var a Answer
	if json.Unmarshal(body, &a) == nil && a.ActionStatus != "" {
		out.answer = &a
	}
	return out
}

// shortBody says whether a request's text holds less body than its Content-Length says.
func shortBody(raw string) bool {
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Length") {
			n, err := strconv.Atoi(strings.TrimSpace(value))
			return err == nil && n > len(body)
		}
	}
	return false
}

// request is an HTTP/1.1 request's text, with Content-Length, and the headers given.
func request(method, target, body string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: receiver\r\n", method, target)
	hasType := false
	for _, h := range headers {
		b.WriteString(h + "\r\n")
		hasType = hasType || strings.HasPrefix(strings.ToLower(h), "content-type:")
	}
	if !hasType {
		b.WriteString("Content-Type: application/json\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	return b.String()
}

// TestHostileInput sends what an attacker, a broken proxy or a wrong configuration sends, over
// real HTTP to the receiver as the manager serves it. Each request gets its documented answer
// (README, Answers: a JSON FAIL with the status of the first check it fails; the few that
// Go's HTTP server answers itself in plain text are marked), only the battles meant to be
// stored are, and the server keeps serving.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	r, addr := hostileReceiver(t)
	now := strconv.Itoa(hostileNow)
	sig := "&RequestTime=" + now + "&Sign=" + Sign("hostile-token", now)
	base := "SdkAppid=" + r.appID + "&CallbackCommand=Live.CallbackAfterEndBattle"
	q := "/callback?" + base + sig
	battleBody := func(id, members string) string {
		if members != "" {
			members = "," + members
		}
		return `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"` + id + `","OpType":0,"FromRoomInfo":{"RoomId":"a","Score":1}` + members + `}`
	}
	withRoom := func(room string) string {
		return `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b","OpType":0,"FromRoomInfo":` + room + `}`
	}
	rooms := func(n int) string {
		var to []string
		for i := 1; i < n; i++ {
			to = append(to, fmt.Sprintf(`{"RoomId":"r%d"}`, i))
		}
		return `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"many","OpType":0,"FromRoomInfo":{"RoomId":"r0"},"ToRoomList":[` + strings.Join(to, ",") + `]}`
	}
	signedAt := func(at string) string {
		return "/callback?" + base + "&RequestTime=" + at + "&Sign=" + Sign("hostile-token", at)
	}
	huge := strings.Repeat("x", 1<<20)
	const plain = -1 // Go's own plain-text answer, no JSON
	cases := []struct {
		name   string
		raw    string
		status int
		code   int
		stored string // the BattleId stored by an OK answer
	}{
		// The body.
		{"truncated JSON", request("POST", q, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b"`), 400, CodeInvalidJSON, ""},
		{"not JSON at all", request("POST", q, `BattleId=b&OpType=0`), 400, CodeInvalidJSON, ""},
		{"invalid UTF-8", request("POST", q, "{\"CallbackCommand\":\"Live.CallbackAfterEndBattle\",\"BattleId\":\"b\xff\"}"), 400, CodeInvalidJSON, ""},
		{"an empty body", request("POST", q, ``), 400, CodeInvalidJSON, ""},
		{"a JSON array", request("POST", q, `[{"BattleId":"b"}]`), 400, CodeInvalidJSON, ""},
		{"JSON null", request("POST", q, `null`), 400, CodeInvalidJSON, ""},
		{"a second object after the body", request("POST", q, battleBody("b", "")+`{}`), 400, CodeInvalidJSON, ""},
		{"a raw control character in a string", request("POST", q, battleBody("b\x01", "")), 400, CodeInvalidJSON, ""},
		{"an escaped control character in BattleId is kept exactly", request("POST", q, battleBody(`ctl\u0001`, "")), 200, CodeOK, "ctl\x01"},
		{"BattleId twice", request("POST", q, battleBody("b", `"BattleId":"c"`)), 400, CodeInvalidField, ""},
		{"RoomId twice in one room", request("POST", q, withRoom(`{"RoomId":"a","RoomId":"b"}`)), 400, CodeInvalidField, ""},
		{"an unknown member twice is kept as received", request("POST", q, battleBody("dup-unknown", `"X":1,"X":2`)), 200, CodeOK, "dup-unknown"},
		{"a BattleId that is a number", request("POST", q, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":7,"OpType":0,"FromRoomInfo":{"RoomId":"a"}}`), 400, CodeInvalidField, ""},
		{"an OpType that is a string", request("POST", q, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b","OpType":"0","FromRoomInfo":{"RoomId":"a"}}`), 400, CodeInvalidField, ""},
		{"a fractional OpType", request("POST", q, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b","OpType":0.5,"FromRoomInfo":{"RoomId":"a"}}`), 400, CodeInvalidField, ""},
		{"an OpType with an exponent", request("POST", q, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b","OpType":1e0,"FromRoomInfo":{"RoomId":"a"}}`), 400, CodeInvalidField, ""},
		{"a fractional Score", request("POST", q, withRoom(`{"RoomId":"a","Score":1.5}`)), 400, CodeInvalidField, ""},
		{"a Score with an exponent", request("POST", q, withRoom(`{"RoomId":"a","Score":2E3}`)), 400, CodeInvalidField, ""},
		{"a Score beyond int64", request("POST", q, withRoom(`{"RoomId":"a","Score":9223372036854775808}`)), 400, CodeInvalidField, ""},
		{"a Score below int64", request("POST", q, withRoom(`{"RoomId":"a","Score":-9223372036854775809}`)), 400, CodeInvalidField, ""},
		{"a Duration that is a string", request("POST", q, battleBody("b", `"Duration":"300"`)), 400, CodeInvalidField, ""},
		{"an EndTime that is a bool", request("POST", q, battleBody("b", `"EndTime":true`)), 400, CodeInvalidField, ""},
		{"an EventTime that is an object", request("POST", q, battleBody("b", `"EventTime":{}`)), 400, CodeInvalidField, ""},
		{"a FromRoomInfo that is an array", request("POST", q, withRoom(`[{"RoomId":"a"}]`)), 400, CodeInvalidField, ""},
		{"a ToRoomList that is an object", request("POST", q, battleBody("b", `"ToRoomList":{"RoomId":"c"}`)), 400, CodeInvalidField, ""},
		{"a RoomId that is a number", request("POST", q, withRoom(`{"RoomId":7}`)), 400, CodeInvalidField, ""},
		{"an Owner_Account that is a bool", request("POST", q, withRoom(`{"RoomId":"a","Owner_Account":false}`)), 400, CodeInvalidField, ""},
		{"an Owner_Account that is an object", request("POST", q, withRoom(`{"RoomId":"a","Owner_Account":{}}`)), 400, CodeInvalidField, ""},
		{"a number Owner_Account beyond int64 keeps every digit", request("POST", q, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"big-owner","OpType":0,"FromRoomInfo":{"RoomId":"a","Owner_Account":123456789012345678901234567890}}`), 200, CodeOK, "big-owner"},
		{"0 rooms", request("POST", q, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b","OpType":0,"ToRoomList":[]}`), 400, CodeInvalidField, ""},
		{"101 rooms", request("POST", q, rooms(101)), 400, CodeInvalidField, ""},
		{"10,000 rooms", request("POST", q, rooms(10_000)), 400, CodeInvalidField, ""},
		{"a RoomId of 257 bytes", request("POST", q, withRoom(`{"RoomId":"`+strings.Repeat("r", 257)+`"}`)), 400, CodeInvalidField, ""},
		{"a RoomId of 1 MiB (over the body limit)", request("POST", q, withRoom(`{"RoomId":"`+huge+`"}`)), 413, CodeBodyTooLarge, ""},
		{"a BattleId of 257 bytes", request("POST", q, battleBody(strings.Repeat("b", 257), "")), 400, CodeInvalidField, ""},
		{"a BattleId escaping half a surrogate pair", request("POST", q, battleBody(`b\ud800`, "")), 400, CodeInvalidField, ""},
		{"a body over the limit, with its length", request("POST", q, battleBody("b", `"Pad":"`+huge+`"`)), 413, CodeBodyTooLarge, ""},
		{"a body over the limit, chunked", "POST " + q + " HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(huge)+10, huge+"0123456789"), 413, CodeBodyTooLarge, ""},
		{"a body shorter than its Content-Length", "POST " + q + " HTTP/1.1\r\nHost: r\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n{}", 400, CodeInvalidJSON, ""},

		// Content-Type is not checked: Tencent's documentation sends application/json.
		{"a wrong Content-Type", request("POST", q, battleBody("text-plain", ""), "Content-Type: text/plain"), 200, CodeOK, "text-plain"},

		// Methods and paths.
		{"GET", request("GET", q, ``), 405, CodeMethodNotAllowed, ""},
		{"PUT", request("PUT", q, battleBody("b", "")), 405, CodeMethodNotAllowed, ""},
		{"DELETE", request("DELETE", q, ``), 405, CodeMethodNotAllowed, ""},
		{"PATCH", request("PATCH", q, battleBody("b", "")), 405, CodeMethodNotAllowed, ""},
		{"OPTIONS", request("OPTIONS", q, ``), 405, CodeMethodNotAllowed, ""},
		{"HEAD (no body in the answer)", request("HEAD", q, ``), 405, plain, ""},
		{"another path", request("POST", strings.Replace(q, "/callback", "/callbacks", 1), battleBody("b", "")), 404, CodeNotFound, ""},
		{"a trailing slash", request("POST", strings.Replace(q, "/callback", "/callback/", 1), battleBody("b", "")), 404, CodeNotFound, ""},
		{"another case", request("POST", strings.Replace(q, "/callback", "/Callback", 1), battleBody("b", "")), 404, CodeNotFound, ""},
		{"a dot-dot path", request("POST", strings.Replace(q, "/callback", "/x/../callback", 1), battleBody("b", "")), 404, CodeNotFound, ""},
		{"a double slash", request("POST", strings.Replace(q, "/callback", "//callback", 1), battleBody("b", "")), 404, CodeNotFound, ""},

		// SdkAppid.
		{"no SdkAppid", request("POST", "/callback?CallbackCommand=Live.CallbackAfterEndBattle"+sig, battleBody("b", "")), 403, CodeUnknownApp, ""},
		{"another app's SdkAppid", request("POST", strings.Replace(q, r.appID, "1400000999", 1), battleBody("b", "")), 403, CodeUnknownApp, ""},
		{"two different SdkAppids", request("POST", q+"&SdkAppid=1400000999", battleBody("b", "")), 403, CodeUnknownApp, ""},
		{"the same SdkAppid twice", request("POST", q+"&SdkAppid="+r.appID, battleBody("same-app-twice", "")), 200, CodeOK, "same-app-twice"},
		{"an SdkAppid that is not a number", request("POST", strings.Replace(q, r.appID, "abc%00", 1), battleBody("b", "")), 403, CodeUnknownApp, ""},
		{"SdkAppId spelled in another case", request("POST", strings.Replace(q, "SdkAppid", "SDKAPPID", 1), battleBody("case-of-sdkappid", "")), 200, CodeOK, "case-of-sdkappid"},

		// Sign and RequestTime.
		{"no Sign", request("POST", "/callback?"+base+"&RequestTime="+now, battleBody("b", "")), 401, CodeBadSignature, ""},
		{"no RequestTime", request("POST", "/callback?"+base+"&Sign="+Sign("hostile-token", now), battleBody("b", "")), 401, CodeBadSignature, ""},
		{"a wrong Sign", request("POST", "/callback?"+base+"&RequestTime="+now+"&Sign="+Sign("other-token", now), battleBody("b", "")), 401, CodeBadSignature, ""},
		{"a Sign that is not hex", request("POST", "/callback?"+base+"&RequestTime="+now+"&Sign=zz", battleBody("b", "")), 401, CodeBadSignature, ""},
		{"a Sign in uppercase hex is the same Sign", request("POST", "/callback?"+base+"&RequestTime="+now+"&Sign="+strings.ToUpper(Sign("hostile-token", now)), battleBody("upper-sign", "")), 200, CodeOK, "upper-sign"},
		{"a RequestTime 61 s before the clock", request("POST", signedAt(strconv.Itoa(hostileNow-61)), battleBody("b", "")), 401, CodeBadSignature, ""},
		{"a RequestTime 61 s after the clock", request("POST", signedAt(strconv.Itoa(hostileNow+61)), battleBody("b", "")), 401, CodeBadSignature, ""},
		{"a RequestTime of 20 digits", request("POST", signedAt("99999999999999999999"), battleBody("b", "")), 401, CodeBadSignature, ""},
		{"a RequestTime in milliseconds", request("POST", signedAt(now+"000"), battleBody("b", "")), 401, CodeBadSignature, ""},

		// Commands.
		{"query and body commands disagree", request("POST", strings.Replace(q, "AfterEndBattle", "AfterStartBattle", 1), battleBody("b", "")), 400, CodeBadCommand, ""},
		{"no command in the body", request("POST", q, `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"a"}}`), 400, CodeBadCommand, ""},
		{"no command in the query", request("POST", "/callback?SdkAppid="+r.appID+sig, battleBody("b", "")), 400, CodeBadCommand, ""},

		// HTTP itself.
		{"a query of 1 MiB (Go answers 431 itself)", request("POST", q+"&pad="+huge, battleBody("b", "")), 431, plain, ""},
		{"a header of 100 KiB (Go answers 431 itself)", request("POST", q, battleBody("b", ""), "X-Pad: "+strings.Repeat("h", 100<<10)), 431, plain, ""},
		{"HTTP/1.0", "POST " + q + " HTTP/1.0\r\nContent-Length: " + strconv.Itoa(len(battleBody("http10", ""))) + "\r\n\r\n" + battleBody("http10", ""), 200, CodeOK, "http10"},
		{"Content-Length and Transfer-Encoding together: read as chunked, the connection closed after", "POST " + q + " HTTP/1.1\r\nHost: r\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(battleBody("cl-te", "")), battleBody("cl-te", "")), 200, CodeOK, "cl-te"},
		{"two different Content-Lengths (Go answers 400 itself)", "POST " + q + " HTTP/1.1\r\nHost: r\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, plain, ""},
		{"a Transfer-Encoding other than chunked (Go answers 501 itself)", "POST " + q + " HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: gzip\r\n\r\n{}", 501, plain, ""},
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	stored := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, addr, tc.raw)
			if got.status != tc.status {
				t.Fatalf("status %d (%+v), want %d", got.status, got.answer, tc.status)
			}
			switch {
			case tc.code == plain:
			case got.answer == nil:
				t.Fatalf("status %d without Tencent's JSON answer", got.status)
			case got.answer.ErrorCode != tc.code || (got.answer.ActionStatus == "OK") != (tc.code == CodeOK):
				t.Fatalf("answer %+v, want code %d", got.answer, tc.code)
			}
			if strings.Contains(tc.raw, "Transfer-Encoding: chunked") && !got.closed {
				t.Errorf("a chunked request's connection stays open")
			}
			if tc.stored != "" {
				stored[tc.stored] = true
				if b := getBattle(t, r.namespace, tc.stored); b.Spec.BattleID != tc.stored {
					t.Fatalf("stored BattleId %q", b.Spec.BattleID)
				}
			}
		})
	}
	// Nothing else was stored, and the server still serves.
	wantStored(t, r.namespace, len(stored))
	if got := exchange(t, addr, request("POST", q, battleBody("after-all", ""))); got.status != 200 {
		t.Fatalf("after the hostile input: %d %+v", got.status, got.answer)
	}
	t.Logf("%d hostile requests, each answered as documented; %d battles stored as meant", len(cases), len(stored))
}

// TestSlowAndIdleClientsDoNotStarveOthers: hundreds of idle connections and a client that
// sends its headers a byte at a time do not keep others from being served; the slow client
// is cut off by the header timeout.
func TestSlowAndIdleClientsDoNotStarveOthers(t *testing.T) {
	r, addr := hostileReceiver(t)
	now := strconv.Itoa(hostileNow)
	q := "/callback?SdkAppid=" + r.appID + "&CallbackCommand=Live.CallbackAfterEndBattle&RequestTime=" + now + "&Sign=" + Sign("hostile-token", now)
	var idle []net.Conn
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	t.Cleanup(func() {
		for _, c := range idle {
			_ = c.Close()
		}
	})
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = slow.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cut := make(chan time.Duration, 1)
	go func() {
		began := time.Now()
		for _, b := range []byte("POST " + q + " HTTP/1.1\r\nHost: r\r\nX-Slow: " + strings.Repeat("s", 100)) {
			if ctx.Err() != nil {
				return
			}
			if _, err := slow.Write([]byte{b}); err != nil {
				cut <- time.Since(began)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// Meanwhile others are served.
	body := `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"served","OpType":0,"FromRoomInfo":{"RoomId":"a"}}`
	if got := exchange(t, addr, request("POST", q, body)); got.status != 200 {
		t.Fatalf("with 300 idle connections and a slow client: %d %+v", got.status, got.answer)
	}
	// The slow client is cut off by the header timeout (5 s), long before it is done.
	select {
	case took := <-cut:
		t.Logf("the slow client was cut off after %v", took.Round(100*time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the slow client was not cut off in 15 s")
	}
}
