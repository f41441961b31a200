//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/receiver"
	"github.com/battleops/battle-operator/internal/testutil"
)

// TestFullEtcdIsA503NamingIt: an etcd whose space quota is used up refuses every write. The
// receiver answers each battle 503 within Tencent's 2 s, naming etcd's refusal in the answer
// and in a log line, stores nothing, and goes on serving. A control plane of its own, its
// etcd started with a 16 MiB quota and filled with BattleResults of about 700 KB.
func TestFullEtcdIsA503NamingIt(t *testing.T) {
	t.Parallel() // a control plane of its own; over while make dev starts
	env, _, c, err := testutil.StartEnv(testutil.Scheme(), func(env *envtest.Environment) {
		env.ControlPlane.Etcd = &envtest.Etcd{}
		env.ControlPlane.Etcd.Configure().Set("quota-backend-bytes", fmt.Sprint(16<<20))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.StopEnv(env)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "quota"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// Fill etcd until it refuses.
	filled := 0
	for ; filled < 100; filled++ {
		br := &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Namespace: "quota", Name: fmt.Sprintf("br-fill-%d", filled)},
			Spec: livev1alpha1.BattleResultSpec{BattleID: fmt.Sprintf("fill-%d", filled), SDKAppID: "1400000001", Winners: []livev1alpha1.RoomID{},
				EndReason: livev1alpha1.EndReasonNeverStarted, Outcome: livev1alpha1.OutcomeNoContest, RoomCount: 1,
				ExtraFields: `{"Pad":"` + strings.Repeat("x", 700_000) + `"}`,
				Rooms:       []livev1alpha1.BattleRoom{{RoomID: "a", Result: livev1alpha1.RoomResultNoContest, Rank: 1}}}}
		if err := c.Create(ctx, br); err != nil {
			if !strings.Contains(err.Error(), "database space exceeded") {
				t.Fatalf("filling etcd, create %d: %v", filled, err)
			}
			break
		}
	}
	if filled == 100 {
		t.Fatal("etcd took 100 battles of 700 KB under a 16 MiB quota")
	}
	t.Logf("etcd refused writes after %d battles of 700 KB", filled)

	var mu sync.Mutex
	var logs strings.Builder
	h, err := receiver.NewHandler(receiver.Options{
		Path: "/callback", Apps: map[string]string{"1400000001": "quota"}, MaxBodyBytes: 1 << 20, Timeout: 1500 * time.Millisecond,
		Client: c, Reader: c, Recorder: &events.FakeRecorder{},
		Log: funcr.New(func(prefix, args string) { mu.Lock(); defer mu.Unlock(); logs.WriteString(prefix + " " + args + "\n") }, funcr.Options{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Timeout: 2 * time.Second} // Tencent's patience
	for i := range 3 {
		body := fmt.Sprintf(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"after-full-%d","OpType":0,"FromRoomInfo":{"RoomId":"a"}}`, i)
		resp, err := client.Post(testutil.CallbackURL(srv.URL, "1400000001"), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("no answer within 2 s: %v", err)
		}
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(buf[:n]), "database space exceeded") {
			t.Fatalf("answer %d %s, want 503 naming etcd's refusal", resp.StatusCode, buf[:n])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "database space exceeded") {
		t.Errorf("no log line names etcd's refusal:\n%s", logs.String())
	}
}
