//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/testutil"
)

// BenchmarkBytesPerBattle measures what a stored BattleResult costs etcd and the API server,
// for battles of 2, 3 and 10 rooms: ETCD_BATTLES (5000) battles of each size, shaped as the
// receiver stores them, are created in a namespace of their own. It divides by their number
// the growth of etcd's in-use database size (etcd_mvcc_db_total_size_in_use_in_bytes, which a
// compaction and a defragmentation would leave: creates leave no old revisions) and the growth
// of the API server's live heap (go_memstats_heap_alloc_bytes right after a collection it is
// asked for through /debug/pprof/heap?gc=1: its watch cache holds every stored object). It
// prints a table; it fails only when the control plane cannot run.
func BenchmarkBytesPerBattle(b *testing.B) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		b.Skip("KUBEBUILDER_ASSETS is not set: run `make bench`, or set it to the folder hack/build-controlplane.sh prints")
	}
	if b.N > 1 {
		b.Skip("runs once (-benchtime 1x)")
	}
	n := 5000
	if v := os.Getenv("ETCD_BATTLES"); v != "" {
		var err error
		// etcd allocates its database in pages and keeps a free list: with a few hundred
		// battles the growth is noise (969 B per 2-room battle with 300, 2,000 B with 5,000).
		if n, err = strconv.Atoi(v); err != nil || n < 2000 {
			b.Fatalf("ETCD_BATTLES=%q: want a number of at least 2000", v)
		}
	}
	env, cfg, c, err := testutil.StartEnv(testutil.Scheme())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { testutil.StopEnv(env) })
	metricsURL := env.ControlPlane.Etcd.URL.String() + "/metrics"
	inUse := func() int64 {
		sums, err := testutil.ScrapeSums(metricsURL)
		if err != nil {
			b.Fatalf("etcd metrics: %v", err)
		}
		return int64(sums["etcd_mvcc_db_total_size_in_use_in_bytes"])
	}

	liveHeap := func() int64 {
		ctx := context.Background()
		if _, err := apiserverGet(ctx, cfg, "/debug/pprof/heap?gc=1"); err != nil {
			b.Fatalf("API server heap profile: %v", err)
		}
		families, err := apiserverMetrics(ctx, cfg, "/metrics")
		if err != nil {
			b.Fatalf("API server metrics: %v", err)
		}
		heap := families["go_memstats_heap_alloc_bytes"].GetMetric()
		if len(heap) != 1 {
			b.Fatalf("API server metrics: %d go_memstats_heap_alloc_bytes, want 1", len(heap))
		}
		return int64(heap[0].GetGauge().GetValue())
	}

	var s strings.Builder
	fmt.Fprintf(&s, "\n### bytes per stored BattleResult (%d of each size; %s)\n\n", n, machine())
	fmt.Fprintf(&s, "| rooms per battle | JSON as stored (one battle) | etcd in use, growth per battle | API server live heap, growth per battle |\n|---:|---:|---:|---:|\n")
	for _, rooms := range []int{2, 3, 10} {
		ctx := context.Background()
		ns := fmt.Sprintf("etcd-%d-rooms", rooms)
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second) // let the namespace's own writes settle
		before, heapBefore := inUse(), liveHeap()
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					br, err := roomsObject(ns, i, rooms)
					if err == nil {
						err = c.Create(ctx, br)
					}
					if err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d of %d creates failed", failed.Load(), n)
		}
		time.Sleep(2 * time.Second)
		after, heapAfter := inUse(), liveHeap()
		one, err := roomsObject(ns, 0, rooms)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(one), one); err != nil {
			b.Fatal(err)
		}
		raw, err := json.Marshal(one) // as etcd holds a custom resource: JSON, managedFields included
		if err != nil {
			b.Fatal(err)
		}
		stored := len(raw)
		perBattle := float64(after-before) / float64(n)
		heapPerBattle := float64(heapAfter-heapBefore) / float64(n)
		fmt.Fprintf(&s, "| %d | %d B | %.0f B | %.0f B |\n", rooms, stored, perBattle, heapPerBattle)
		b.ReportMetric(perBattle, fmt.Sprintf("etcd-B/battle-%drooms", rooms))
		b.ReportMetric(heapPerBattle, fmt.Sprintf("apiserver-heap-B/battle-%drooms", rooms))
	}
	_, _ = fmt.Fprintln(os.Stdout, s.String())
}

// roomsObject is battle i of the given number of rooms, as the receiver stores it.
func roomsObject(ns string, i, rooms int) (*livev1alpha1.BattleResult, error) {
	room := func(k int) string {
		return fmt.Sprintf(`{"RoomId":"room-%04d","Score":%d,"Owner_Account":%d}`, (i*7+k)%2000, (i*37+k*53)%1000, 144115245442327522+int64(k))
	}
	var to []string
	for k := 1; k < rooms; k++ {
		to = append(to, room(k))
	}
	end := int64(histEpoch + i)
	body := fmt.Appendf(nil, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"etcd/%d/%d","Duration":300000,"CreateTime":%d,"StartTime":%d,"EndTime":%d,"OpType":0,"FromRoomInfo":%s,"ToRoomList":[%s],"EventTime":%d}`,
		rooms, i, end-310, end-300, end, room(0), strings.Join(to, ","), end*1000+7)
	return storedAs(ns, body)
}
