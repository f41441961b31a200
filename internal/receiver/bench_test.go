package receiver

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/battleops/battle-operator/internal/testutil"
)

// BenchmarkStoreBattle measures callbacks answered per second end to end: HTTP into the
// receiver, a BattleResult created in the real API server, the answer back. Each iteration is
// a new battle. Run with `make bench`; -cpu sets how many callbacks are in flight at once.
func BenchmarkStoreBattle(b *testing.B) {
	r := newTestReceiver(b, Options{})
	var n atomic.Int64
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	url := r.url + "?" + testutil.EndBattleQuery(r.appID)
	b.ReportAllocs()
	b.SetParallelism(8)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Appendf(nil, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"bench/%d+=","Duration":300000,"CreateTime":1763800000,"StartTime":1763800003,"EndTime":1763800303,"OpType":0,"FromRoomInfo":{"RoomId":"room_%d","Score":%d,"Owner_Account":144115245442327522},"ToRoomList":[{"RoomId":"room_%d","Score":980,"Owner_Account":"host_bob"}],"EventTime":1763800303412}`, i, i%50, i%2000, 50+i%50)
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("HTTP %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "battles/s")
}
