package receiver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/spool"
	"github.com/battleops/battle-operator/internal/testutil"
)

// proxiedClient is a client of the real API server through a proxy the test controls.
func proxiedClient(t *testing.T) (client.Client, *testutil.Proxy) {
	t.Helper()
	u, err := url.Parse(testCfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testutil.NewProxy(t, u.Host)
	cfg := rest.CopyConfig(testCfg)
	cfg.Host, cfg.QPS = "https://"+proxy.Addr, -1
	c, err := client.New(cfg, client.Options{Scheme: testScheme, Mapper: k8sClient.RESTMapper()})
	if err != nil {
		t.Fatal(err)
	}
	return c, proxy
}

// TestSpoolAcknowledgesThroughAnOutage: with a spool, battles that arrive while the API server
// is down or hung are written to disk and answered OK within Tencent's 2 s; when it is back,
// each is stored exactly once, also a battle delivered twice, and the spool empties. A full
// spool answers 503, as without one.
func TestSpoolAcknowledgesThroughAnOutage(t *testing.T) {
	c, proxy := proxiedClient(t)
	dir := t.TempDir()
	sp, err := spool.Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestReceiver(t, Options{Client: c, Reader: c, Spool: sp})
	ctx, cancel := context.WithCancel(context.Background())
	replayed := make(chan error, 1)
	go func() { replayed <- r.handler.Replay(ctx) }()
	t.Cleanup(func() { cancel(); <-replayed })

	body := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"spooled-%d","OpType":0,"EndTime":%d,`+
			`"FromRoomInfo":{"RoomId":"a","Score":%d},"ToRoomList":[{"RoomId":"b","Score":5}]}`, i, 1700000000+i, i))
	}
	q := testutil.EndBattleQuery(r.appID)
	before := counter(battle.CommandEndBattle, resultSpooled)
	for i, mode := range []testutil.ProxyMode{testutil.ProxyDown, testutil.ProxyDown, testutil.ProxyHung, testutil.ProxyHung} {
		proxy.Set(mode)
		wantOK(t, r.post(t, q, body(i))) // post fails the test past Tencent's 2 s
	}
	wantOK(t, r.post(t, q, body(0))) // Tencent's retry of the first: spooled again, stored once
	if got := counter(battle.CommandEndBattle, resultSpooled) - before; got != 5 {
		t.Errorf("spooled answers counted %v, want 5", got)
	}
	if sp.Len() != 5 {
		t.Fatalf("%d battles in the spool, want 5", sp.Len())
	}
	wantStored(t, r.namespace, 0)

	// A full spool: 503, as without one.
	full, err := spool.Open(t.TempDir(), 10)
	if err != nil {
		t.Fatal(err)
	}
	rFull := newTestReceiver(t, Options{Client: c, Reader: c, Spool: full})
	wantFail(t, rFull.post(t, testutil.EndBattleQuery(rFull.appID), body(9)), http.StatusServiceUnavailable, CodeUnavailable, "spool is full")

	proxy.Set(testutil.ProxyUp)
	testutil.Eventually(t, 30*time.Second, "the spool replayed", func(ctx context.Context) error {
		var list livev1alpha1.BattleResultList
		if err := k8sClient.List(ctx, &list, client.InNamespace(r.namespace)); err != nil {
			return err
		}
		if len(list.Items) != 4 || sp.Len() != 0 {
			return fmt.Errorf("%d stored, %d spooled; want 4, 0", len(list.Items), sp.Len())
		}
		return nil
	})
	for i := range 4 {
		if got := getBattle(t, r.namespace, fmt.Sprintf("spooled-%d", i)); got.Spec.Rooms[0].Score != int64(i) {
			t.Errorf("battle %d stored with score %d", i, got.Spec.Rooms[0].Score)
		}
	}
	// Once the API server answers, a new battle is stored directly.
	wantOK(t, r.post(t, q, body(7)))
	wantStored(t, r.namespace, 5)
	if sp.Len() != 0 {
		t.Errorf("%d battles spooled while the API server answers", sp.Len())
	}
}
