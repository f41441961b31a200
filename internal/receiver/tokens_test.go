package receiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/battleops/battle-operator/internal/testutil"
)

// writeFile writes content to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceFile swaps dir/name for content in one rename, as the kubelet swaps a mounted
// Secret: a reader sees the old file or the new one, never a part.
func replaceFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := writeFile(t, dir, "."+name+".tmp", content)
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// tokensOf loads tokens from a file for every app, one per line.
func tokensOf(t *testing.T, tokens ...string) *Tokens {
	t.Helper()
	got, err := LoadTokens([]string{writeFile(t, t.TempDir(), "token", strings.Join(tokens, "\n")+"\n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestLoadTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	all := writeFile(t, dir, "all", "  old-token  \n\nnew-token\nold-token\n")
	own := writeFile(t, dir, "own", "own-token")
	apps := map[string]string{"1400000001": "a", "1400000002": "b"}
	cases := []struct {
		name    string
		entries []string
		apps    map[string]string
		want    map[string][]string // app → tokens
		wantErr string
	}{
		{name: "No file: authentication is off.", entries: nil, apps: apps},
		{name: "One file for every app: one token per line, blanks and repeats ignored.",
			entries: []string{all}, apps: apps, want: map[string][]string{"1400000001": {"old-token", "new-token"}, "1400000002": {"old-token", "new-token"}}},
		{name: "An app's own file replaces the file of every app for it.",
			entries: []string{all, "1400000002=" + own}, apps: apps, want: map[string][]string{"1400000001": {"old-token", "new-token"}, "1400000002": {"own-token"}}},
		{name: "Every app may have its own file.",
			entries: []string{"1400000001=" + all, "1400000002=" + own}, apps: apps, want: map[string][]string{"1400000001": {"old-token", "new-token"}, "1400000002": {"own-token"}}},
		{name: "A 128-character token is accepted.",
			entries: []string{writeFile(t, dir, "max", strings.Repeat("t", 128))}, apps: apps, want: map[string][]string{"1400000001": {strings.Repeat("t", 128)}}},
		{name: "An app without tokens is refused when others have some.",
			entries: []string{"1400000001=" + own}, apps: apps, wantErr: "SDKAppID 1400000002 has no token file"},
		{name: "A file for an app that is not accepted is refused.",
			entries: []string{all, "1400000009=" + own}, apps: apps, wantErr: "not one of --sdk-app-id"},
		{name: "Two files for the same app are refused.",
			entries: []string{all, all}, apps: apps, wantErr: "every app has two files"},
		{name: "A missing file is refused.",
			entries: []string{filepath.Join(dir, "missing")}, apps: apps, wantErr: "no such file"},
		{name: "An empty file is refused.",
			entries: []string{writeFile(t, dir, "empty", "\n \n")}, apps: apps, wantErr: "no token in the file"},
		{name: "A token over 128 characters is refused.",
			entries: []string{writeFile(t, dir, "long", "ok\n"+strings.Repeat("t", 129))}, apps: apps, wantErr: "1 to 128"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tokens, err := LoadTokens(tc.entries, tc.apps)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadTokens = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if tokens != nil {
					t.Fatalf("LoadTokens = %v, want nil: authentication off", tokens)
				}
				return
			}
			for app, want := range tc.want {
				if diff := cmp.Diff(want, tokens.For(app)); diff != "" {
					t.Errorf("tokens of %s (-want +got):\n%s", app, diff)
				}
			}
		})
	}
}

// TestAppsSignWithTheirOwnTokens: a Sign made with another app's token is refused.
func TestAppsSignWithTheirOwnTokens(t *testing.T) {
	t.Parallel()
	r := newTestReceiver(t, Options{})
	dir := t.TempDir()
	tokens, err := LoadTokens([]string{writeFile(t, dir, "all", "shared-token"), r.appID + "=" + writeFile(t, dir, "own", "own-token")},
		map[string]string{r.appID: r.namespace, "1400000999": "other"})
	if err != nil {
		t.Fatal(err)
	}
	r.handler.opts.Tokens = tokens
	body := testutil.Fixture(t, "start-battle.json")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	query := func(token string) string {
		return fmt.Sprintf("SdkAppid=%s&CallbackCommand=Live.CallbackAfterStartBattle&RequestTime=%s&Sign=%s", r.appID, now, Sign(token, now))
	}
	wantOK(t, r.post(t, query("own-token"), body))
	wantFail(t, r.post(t, query("shared-token"), body), http.StatusUnauthorized, CodeBadSignature, "does not match")
}

// TestTokenRotationUnderLoad: callbacks keep coming, signed first with the old token, then with
// the new one, while the token file goes from the old token, to both, to the new one, each time
// swapped in one rename as a mounted Secret is. No callback signed with a token the file holds
// is refused, and the old token is refused once it is gone.
func TestTokenRotationUnderLoad(t *testing.T) {
	r := newTestReceiver(t, Options{})
	dir := t.TempDir()
	path := writeFile(t, dir, "token", "old-token\n")
	tokens, err := LoadTokens([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens.Reload, tokens.Log = 20*time.Millisecond, logr.Discard()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = tokens.Start(ctx) }()
	r.handler.opts.Tokens = tokens

	body := testutil.Fixture(t, "start-battle.json")
	var using atomic.Value // the token the senders sign with
	using.Store("old-token")
	var sent, refused atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var senders sync.WaitGroup
	for range 4 {
		senders.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				token := using.Load().(string)
				now := strconv.FormatInt(time.Now().Unix(), 10)
				q := fmt.Sprintf("SdkAppid=%s&CallbackCommand=Live.CallbackAfterStartBattle&RequestTime=%s&Sign=%s", r.appID, now, Sign(token, now))
				// Not r.post: it fails the test from this goroutine.
				status := -1 // no answer
				if resp, err := tencentClient.Post(r.url+"?"+q, "application/json", bytes.NewReader(body)); err == nil {
					status = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				sent.Add(1)
				if status != http.StatusOK {
					refused.Add(1)
					failures.Store(token, status)
				}
			}
		})
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, what, func(context.Context) error {
			if !ok() {
				return fmt.Errorf("not yet: %v", tokens.For(r.appID))
			}
			return nil
		})
	}
	has := func(token string) bool {
		for _, have := range tokens.For(r.appID) {
			if have == token {
				return true
			}
		}
		return false
	}
	// Each phase lasts at least 10 more callbacks.
	tenMore := func(phase string) {
		t.Helper()
		target := sent.Load() + 10
		testutil.Eventually(t, 10*time.Second, "10 callbacks "+phase, func(context.Context) error {
			if n := sent.Load(); n < target {
				return fmt.Errorf("%d sent, want %d", n, target)
			}
			return nil
		})
	}
	tenMore("with the old token alone")
	replaceFile(t, dir, "token", "old-token\nnew-token\n")
	waitFor("the new token to be loaded", func() bool { return has("new-token") })
	using.Store("new-token") // Tencent's console moves to the new token
	tenMore("with the new token, both loaded")
	replaceFile(t, dir, "token", "new-token\n")
	waitFor("the old token to be gone", func() bool { return !has("old-token") })
	tenMore("with the new token alone")
	close(stop)
	senders.Wait()
	if refused.Load() != 0 {
		failed := map[string]int{}
		failures.Range(func(k, v any) bool { failed[k.(string)] = v.(int); return true })
		t.Fatalf("%d of %d callbacks signed with a token the file held were refused: %v", refused.Load(), sent.Load(), failed)
	}
	t.Logf("%d callbacks during the rotation, none refused", sent.Load())

	now := strconv.FormatInt(time.Now().Unix(), 10)
	wantFail(t, r.post(t, fmt.Sprintf("SdkAppid=%s&CallbackCommand=Live.CallbackAfterStartBattle&RequestTime=%s&Sign=%s", r.appID, now, Sign("old-token", now)), body),
		http.StatusUnauthorized, CodeBadSignature, "does not match")
}

// TestBrokenTokenFileKeepsTheLastGoodTokens: a token file that becomes empty, unreadable or
// invalid keeps the tokens read before; each failed read is counted; a good file again is
// picked up.
func TestBrokenTokenFileKeepsTheLastGoodTokens(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "token", "good-token\n")
	tokens, err := LoadTokens([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens.Log = logr.Discard()
	errorsBefore := promtest.ToFloat64(tokenReloadErrors.WithLabelValues(allApps))
	for _, broken := range []func(){
		func() { replaceFile(t, dir, "token", "\n") },
		func() { replaceFile(t, dir, "token", strings.Repeat("t", 200)) },
		func() {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		},
	} {
		broken()
		tokens.reload()
		if diff := cmp.Diff([]string{"good-token"}, tokens.For("1400000001")); diff != "" {
			t.Fatalf("tokens after the file broke (-want +got):\n%s", diff)
		}
	}
	if got := promtest.ToFloat64(tokenReloadErrors.WithLabelValues(allApps)) - errorsBefore; got != 3 {
		t.Errorf("reload errors counted %v, want 3", got)
	}
	replaceFile(t, dir, "token", "next-token\n")
	tokens.reload()
	if diff := cmp.Diff([]string{"next-token"}, tokens.For("1400000001")); diff != "" {
		t.Errorf("tokens once the file is good again (-want +got):\n%s", diff)
	}
	if got := promtest.ToFloat64(tokensLoaded.WithLabelValues(allApps)); got != 1 {
		t.Errorf("battleops_callback_tokens{app=*} = %v, want 1", got)
	}
}
