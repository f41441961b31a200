package receiver

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestNoTokenOrSignInLogsOrEvents: whatever the receiver logs at any verbosity (refusals,
// stores, duplicates, a failing upstream) and the Events it records carry neither the
// callback token nor a Sign.
func TestNoTokenOrSignInLogsOrEvents(t *testing.T) {
	t.Parallel()
	const token = "t0ken-never-logged"
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apps := map[string]string{"1400000889": "pending"}
	tokens, err := LoadTokens([]string{path}, apps)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/upstream"
	_ = l.Close()
	r := newTestReceiver(t, Options{Apps: apps, Tokens: tokens, Forward: forwarderTo(t, down, DefaultForwardTimeout, "")})
	apps["1400000889"] = r.namespace
	var mu sync.Mutex
	var logs strings.Builder
	r.handler.opts.Log = funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})

	now := strconv.FormatInt(time.Now().Unix(), 10)
	sign := Sign(token, now)
	q := "SdkAppid=1400000889&CallbackCommand=Live.CallbackAfterEndBattle&RequestTime=" + now + "&Sign=" + sign
	body := func(score string) []byte {
		return []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"logged","OpType":0,"FromRoomInfo":{"RoomId":"a","Score":` + score + `}}`)
	}
	wantOK(t, r.post(t, q, body("1")))
	wantOK(t, r.post(t, q, body("1"))) // a repeat
	wantOK(t, r.post(t, q, body("2"))) // a conflicting repeat: a Warning Event
	wantFail(t, r.post(t, strings.Replace(q, sign, sign[:60]+"0000", 1), body("1")), 401, CodeBadSignature, "Sign")
	wantFail(t, r.post(t, strings.Replace(q, "AfterEndBattle", "BeforeSendGift", 1), []byte(`{"CallbackCommand":"Live.CallbackBeforeSendGift"}`)),
		http.StatusBadGateway, CodeUpstreamFailed, "refused")

	mu.Lock()
	text := logs.String()
	mu.Unlock()
	if !strings.Contains(text, "logged") {
		t.Fatalf("nothing was logged:\n%s", text)
	}
	for _, secret := range []string{token, sign, sign[:60]} {
		if strings.Contains(text, secret) {
			t.Errorf("the logs hold %q:\n%s", secret, text)
		}
	}
	var events eventsv1.EventList
	if err := k8sClient.List(context.Background(), &events, client.InNamespace(r.namespace)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if strings.Contains(e.Note, sign) || strings.Contains(e.Note, token) {
			t.Errorf("Event %s holds a secret: %s", e.Name, e.Note)
		}
	}
}
