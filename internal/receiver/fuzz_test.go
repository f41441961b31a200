package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/testutil"
)

// fuzzReceiver is the receiver FuzzHandler sends to: a real API server behind it, a token,
// and a small body limit.
var (
	fuzzOnce     sync.Once
	fuzzHandler  *Handler
	fuzzApp      = "1400000777"
	fuzzNS       string
	fuzzToken    = "fuzz-token"
	fuzzSignedAt = "1700000000"
)

// wantCodes are the answers the handler may give, by HTTP status.
var wantCodes = map[int][]int{
	http.StatusOK:                    {CodeOK},
	http.StatusBadRequest:            {CodeInvalidJSON, CodeBadCommand, CodeInvalidField},
	http.StatusUnauthorized:          {CodeBadSignature},
	http.StatusForbidden:             {CodeUnknownApp},
	http.StatusNotFound:              {CodeNotFound},
	http.StatusMethodNotAllowed:      {CodeMethodNotAllowed},
	http.StatusRequestEntityTooLarge: {CodeBodyTooLarge},
	http.StatusServiceUnavailable:    {CodeUnavailable},
}

// FuzzHandler sends arbitrary methods, paths, queries and bodies through the whole handler,
// in front of a real API server. Whatever comes in: the answer is one of the documented
// ones, as Tencent's JSON; a battle answered OK is stored, under its BattleId's name, with
// the BattleId exactly as sent.
func FuzzHandler(f *testing.F) {
	signed := "&RequestTime=" + fuzzSignedAt + "&Sign=" + Sign(fuzzToken, fuzzSignedAt)
	q := "SdkAppid=" + fuzzApp + "&CallbackCommand=Live.CallbackAfterEndBattle" + signed
	for _, name := range testutil.Fixtures(f) {
		f.Add("POST", "/callback", q, testutil.Fixture(f, name))
	}
	f.Add("POST", "/callback", "SdkAppid="+fuzzApp+"&CallbackCommand=Live.CallbackBeforeSendGift"+signed, []byte(`{"CallbackCommand":"Live.CallbackBeforeSendGift","GiftId":13}`))
	f.Add("GET", "/callback", q, []byte{})
	f.Add("POST", "/callback/", "SdkAppid="+fuzzApp+"&SdkAppid=1", []byte(`{}`))
	f.Add("POST", "/callback", q, []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"\ud800","OpType":0,"FromRoomInfo":{"RoomId":"r"}}`))
	f.Add("POST", "/callback", strings.Replace(q, "Sign=", "Sign=0", 1), []byte(`{}`))
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		fuzzOnce.Do(func() {
			// Not t.TempDir: it would go with this first input's t. The tokens are read once
			// here (their reloader is not started), so the file is not needed after.
			dir, err := os.MkdirTemp("", "fuzz-token-")
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = os.RemoveAll(dir) }()
			path := filepath.Join(dir, "token")
			if err := os.WriteFile(path, []byte(fuzzToken+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			apps := map[string]string{fuzzApp: "placeholder"}
			tokens, err := LoadTokens([]string{path}, apps)
			if err != nil {
				t.Fatal(err)
			}
			r := newTestReceiver(t, Options{Apps: apps, Tokens: tokens, MaxBodyBytes: 64 << 10,
				Now: func() time.Time { return time.Unix(1700000000, 0) }})
			fuzzNS = r.namespace
			r.handler.opts.Apps[fuzzApp] = fuzzNS
			fuzzHandler = r.handler
		})
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Method, req.URL.Path, req.URL.RawQuery, req.RequestURI = method, path, query, ""
		rec := httptest.NewRecorder()
		fuzzHandler.ServeHTTP(rec, req)

		var a Answer
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatalf("%d: the answer is not Tencent's JSON: %q", rec.Code, rec.Body.String())
		}
		codes, ok := wantCodes[rec.Code]
		if !ok {
			t.Fatalf("status %d is not a documented answer (%+v)", rec.Code, a)
		}
		found := false
		for _, c := range codes {
			found = found || c == a.ErrorCode
		}
		if !found || (rec.Code == http.StatusOK) != (a.ActionStatus == "OK") {
			t.Fatalf("status %d with %+v", rec.Code, a)
		}
		if rec.Code != http.StatusOK {
			return
		}
		// An OK battle end is stored, exactly.
		parsed, err := battle.Parse(body)
		if err != nil {
			return // not a battle end: ignored or forwarded
		}
		if cmd, _ := parsed.Command(); cmd != battle.CommandEndBattle {
			return
		}
		e, err := parsed.EndBattle()
		if err != nil {
			t.Fatalf("a battle end answered OK does not decode: %v", err)
		}
		var br livev1alpha1.BattleResult
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: fuzzNS, Name: battle.Name(e.BattleID)}, &br); err != nil {
			t.Fatalf("a battle answered OK is not stored: %v", err)
		}
		if br.Spec.BattleID != e.BattleID {
			t.Fatalf("stored BattleId %q, sent %q", br.Spec.BattleID, e.BattleID)
		}
	})
}
