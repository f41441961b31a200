package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/testutil"
)

// send delivers one battle-end body through the receiver and requires the OK answer.
func (a *testApp) send(t testing.TB, body []byte) {
	t.Helper()
	// A 503 (the API server did not store the battle within the callback's budget: the
	// package's tests run many at once on two CPUs) is delivered again, as Tencent does.
	for attempt := 1; ; attempt++ {
		resp, err := http.Post(a.url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < 5 {
			t.Logf("callback answered 503, delivering it again: %s", answer)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(answer, []byte(`"ActionStatus":"OK"`)) {
			t.Fatalf("callback answered %d %s", resp.StatusCode, answer)
		}
		return
	}
}

// stats is what a person reads off a room's RoomStats.
type stats struct {
	Battles, Completed, Wins, Losses, Draws int64
	Abandoned, NeverStarted, Unknown        int64
	TotalScore                              int64
	HighestScore                            string // "" when absent
	WinRate                                 string
	CurrentWinStreak, LongestWinStreak      int64
	LastBattleID, LastResult, OwnerAccount  string
	LastScore                               int64
}

func viewOf(s livev1alpha1.RoomStatsStatus) stats {
	v := stats{
		Battles: s.Battles, Completed: s.Completed, Wins: s.Wins, Losses: s.Losses, Draws: s.Draws,
		Abandoned: s.Abandoned, NeverStarted: s.NeverStarted, Unknown: s.Unknown, TotalScore: s.TotalScore,
		WinRate: s.WinRate, CurrentWinStreak: s.CurrentWinStreak, LongestWinStreak: s.LongestWinStreak,
		OwnerAccount: s.OwnerAccount,
	}
	if s.HighestScore != nil {
		v.HighestScore = fmt.Sprint(*s.HighestScore)
	}
	if s.LastBattle.BattleResult != "" {
		v.LastBattleID, v.LastResult, v.LastScore = s.LastBattle.BattleID, string(s.LastBattle.Result), s.LastBattle.Score
	}
	return v
}

// waitForStats polls until the namespace's RoomStats are exactly want (by room ID), each under
// its derived name and Ready, and fails with the difference otherwise.
func waitForStats(t *testing.T, app *testApp, want map[string]stats) map[string]livev1alpha1.RoomStats {
	t.Helper()
	var got map[string]stats
	var objects map[string]livev1alpha1.RoomStats
	var problem string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		var list livev1alpha1.RoomStatsList
		if err := k8sClient.List(ctx, &list, client.InNamespace(app.namespace)); err != nil {
			return false, err
		}
		got, objects, problem = map[string]stats{}, map[string]livev1alpha1.RoomStats{}, ""
		for _, rs := range list.Items {
			room := string(rs.Spec.RoomID)
			if want := battle.RoomStatsName(app.id, rs.Spec.RoomID); rs.Name != want || rs.Spec.SDKAppID != app.id {
				problem = fmt.Sprintf("RoomStats %s is for app %s room %q: want the name %s", rs.Name, rs.Spec.SDKAppID, room, want)
			}
			if !meta.IsStatusConditionTrue(rs.Status.Conditions, livev1alpha1.ConditionReady) || rs.Status.ObservedGeneration != rs.Generation {
				problem = fmt.Sprintf("RoomStats %s is not Ready for generation %d", rs.Name, rs.Generation)
			}
			got[room], objects[room] = viewOf(rs.Status), rs
		}
		return problem == "" && cmp.Equal(want, got), nil
	})
	if err != nil {
		t.Fatalf("RoomStats did not converge: %s\n(-want +got):\n%s", problem, cmp.Diff(want, got))
	}
	return objects
}

// The numbers a person computes by hand from the six battle-end fixtures.
var fixtureStats = map[string]stats{
	"pk-3": {Battles: 1, Completed: 1, Draws: 1, HighestScore: "0", WinRate: "0%",
		LastBattleID: "4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=", LastResult: "Draw", OwnerAccount: "144115245353757792"},
	"pk-5": {Battles: 1, Completed: 1, Draws: 1, HighestScore: "0", WinRate: "0%",
		LastBattleID: "4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=", LastResult: "Draw", OwnerAccount: "144115245442327522"},
	// caller-wins (Win 1520), four-rooms (Loss 300), draw (Draw 777), never-started.
	"live_room_1001": {Battles: 3, Completed: 3, Wins: 1, Losses: 1, Draws: 1, NeverStarted: 1, TotalScore: 2597, HighestScore: "1520",
		WinRate: "33.3%", LongestWinStreak: 1, LastBattleID: "bmV2ZXItc3RhcnRlZC1leGFtcGxlLTAwMDAwMDAwMDE=", LastResult: "NoContest", OwnerAccount: "host_alice"},
	// caller-wins (Loss 980), four-rooms (Win 4100), draw (Draw 777), all-hosts-exited (120).
	"live_room_2002": {Battles: 4, Completed: 3, Wins: 1, Losses: 1, Draws: 1, Abandoned: 1, TotalScore: 5977, HighestScore: "4100",
		WinRate: "33.3%", LongestWinStreak: 1, LastBattleID: "YWxsLWhvc3RzLWV4aXRlZC1leGFtcGxlLTAwMDAwMDE=", LastResult: "NoContest", LastScore: 120, OwnerAccount: "host_bob"},
	// four-rooms (Loss 2750), all-hosts-exited (45).
	"live_room_3003": {Battles: 2, Completed: 1, Losses: 1, Abandoned: 1, TotalScore: 2795, HighestScore: "2750", WinRate: "0%",
		LastBattleID: "YWxsLWhvc3RzLWV4aXRlZC1leGFtcGxlLTAwMDAwMDE=", LastResult: "NoContest", LastScore: 45, OwnerAccount: "144115245353757792"},
	// four-rooms (Loss 0), never-started.
	"live_room_4004": {Battles: 1, Completed: 1, Losses: 1, NeverStarted: 1, HighestScore: "0", WinRate: "0%",
		LastBattleID: "bmV2ZXItc3RhcnRlZC1leGFtcGxlLTAwMDAwMDAwMDE=", LastResult: "NoContest", OwnerAccount: "host_dana"},
}

var endBattleFixtures = []string{
	"end-battle-official-example.json", "end-battle-caller-wins.json", "end-battle-draw.json",
	"end-battle-four-rooms.json", "end-battle-all-hosts-exited.json", "end-battle-never-started.json",
}

func TestFixturesGiveTheHandComputedStats(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	app := newTestApp(t)
	// Newest first, and each twice: neither order nor duplicates may change a number.
	for i := len(endBattleFixtures) - 1; i >= 0; i-- {
		app.send(t, testutil.Fixture(t, endBattleFixtures[i]))
		app.send(t, testutil.Fixture(t, endBattleFixtures[i]))
	}
	objects := waitForStats(t, app, fixtureStats)
	if s := objects["live_room_2002"]; s.Spec.RoomID != "live_room_2002" || s.Spec.SDKAppID != app.id {
		t.Errorf("spec = %+v, want the room's identity", s.Spec)
	}
	// Zero counts are stored as 0, so `kubectl get roomstats` shows 0 rather than a blank.
	raw := &unstructured.Unstructured{}
	raw.SetGroupVersionKind(livev1alpha1.GroupVersion.WithKind("RoomStats"))
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(ptr.To(objects["pk-3"])), raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"wins", "losses", "currentWinStreak", "abandoned"} {
		if v, found, err := unstructured.NestedInt64(raw.Object, "status", field); err != nil || !found || v != 0 {
			t.Errorf("status.%s of pk-3 = %v (found %v, %v), want a stored 0", field, v, found, err)
		}
	}
	// The controller owns the status as one atomic value: one field set of `{"f:status":{}}`.
	var statusOwners []string
	for _, mf := range raw.GetManagedFields() {
		if mf.Subresource == "status" && mf.FieldsV1 != nil {
			statusOwners = append(statusOwners, mf.FieldsV1.GetRawString())
		}
	}
	if !slices.Equal(statusOwners, []string{`{"f:status":{}}`}) {
		t.Errorf("status field sets = %q, want one, {\"f:status\":{}}", statusOwners)
	}
	var selected livev1alpha1.RoomStatsList
	if err := k8sClient.List(context.Background(), &selected, client.InNamespace(app.namespace),
		client.MatchingFields{"spec.roomId": "live_room_2002", "spec.sdkAppId": app.id}); err != nil {
		t.Fatal(err)
	}
	if len(selected.Items) != 1 || selected.Items[0].Spec.RoomID != "live_room_2002" {
		t.Errorf("field selector on spec.roomId found %d RoomStats, want the one of live_room_2002", len(selected.Items))
	}
}

// TestDeletedBattlesAndRoomStats: a room keeps its RoomStats when its BattleResults go, its
// numbers then count what remains; a RoomStats deleted by hand comes back.
func TestDeletedBattlesAndRoomStats(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	app := newTestApp(t)
	for _, f := range endBattleFixtures {
		app.send(t, testutil.Fixture(t, f))
	}
	objects := waitForStats(t, app, fixtureStats)

	if err := k8sClient.Delete(context.Background(), &livev1alpha1.RoomStats{ObjectMeta: metav1.ObjectMeta{Namespace: app.namespace, Name: objects["live_room_1001"].Name}}); err != nil {
		t.Fatal(err)
	}
	var official livev1alpha1.BattleResult
	key := client.ObjectKey{Namespace: app.namespace, Name: battle.Name("4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=")}
	if err := k8sClient.Get(context.Background(), key, &official); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Delete(context.Background(), &official); err != nil {
		t.Fatal(err)
	}
	want := map[string]stats{}
	for room, s := range fixtureStats {
		want[room] = s
	}
	want["pk-3"] = stats{OwnerAccount: ""}
	want["pk-5"] = stats{OwnerAccount: ""}
	objects = waitForStats(t, app, want)
	if objects["pk-3"].Status.LastBattle.BattleResult != "" {
		t.Errorf("pk-3 keeps a last battle that was deleted")
	}
}

// A room of the random test: IDs that differ only in case or in illegal characters.
var randomRooms = []string{
	"room-a", "Room-A", "room_a", "room.a", "room a", "ROOM_A", "r", "R", "1", "01",
	"live_room_1001", "Live_Room_1001", "房间1", "房间2", "a/b+c=", "___",
	strings.Repeat("long", 60), strings.Repeat("Long", 60), "x-", "-x",
}

type randomBattle struct {
	id       string
	opType   int
	endTime  int64
	rooms    []string
	scores   []int64
	accounts []string
}

func (b randomBattle) body() []byte {
	room := func(i int) string {
		acc, _ := json.Marshal(b.accounts[i])
		if b.accounts[i] != "" && b.accounts[i][0] >= '0' && b.accounts[i][0] <= '9' {
			acc = []byte(b.accounts[i]) // a bare number, as Tencent's example sends
		}
		id, _ := json.Marshal(b.rooms[i])
		return fmt.Sprintf(`{"RoomId":%s,"Score":%d,"Owner_Account":%s}`, id, b.scores[i], acc)
	}
	var to []string
	for i := 1; i < len(b.rooms); i++ {
		to = append(to, room(i))
	}
	id, _ := json.Marshal(b.id)
	return fmt.Appendf(nil, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":%s,"Duration":60000,"CreateTime":%d,"StartTime":%d,"EndTime":%d,"OpType":%d,"FromRoomInfo":%s,"ToRoomList":[%s],"EventTime":%d}`,
		id, b.endTime-70, b.endTime-60, b.endTime, b.opType, room(0), strings.Join(to, ","), b.endTime*1000+7)
}

func newRandomBattle(rng *rand.Rand, i int) randomBattle {
	n := 2 + rng.IntN(3)
	perm := rng.Perm(len(randomRooms))[:n]
	b := randomBattle{
		id:      fmt.Sprintf("rnd/%d+%d=", i, rng.IntN(1000)),
		endTime: 1763800000 + int64(rng.IntN(40)), // frequent ties: the BattleId decides
	}
	switch p := rng.IntN(100); {
	case p < 70:
		b.opType = 0
	case p < 85:
		b.opType = 1
	case p < 95:
		b.opType = 2
	default:
		b.opType = 3 + rng.IntN(5)
	}
	for _, r := range perm {
		b.rooms = append(b.rooms, randomRooms[r])
		b.scores = append(b.scores, int64(rng.IntN(6)-2)) // small range: many draws, some negative
		if rng.IntN(2) == 0 {
			b.accounts = append(b.accounts, fmt.Sprint(144115245442327522+rng.IntN(5)))
		} else {
			b.accounts = append(b.accounts, fmt.Sprintf("host_%d", rng.IntN(5)))
		}
	}
	return b
}

// bruteForce computes every room's numbers from the battles directly, written independently
// of the operator's code.
func bruteForce(battles []randomBattle) map[string]stats {
	sorted := append([]randomBattle(nil), battles...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].endTime != sorted[j].endTime {
			return sorted[i].endTime < sorted[j].endTime
		}
		return sorted[i].id < sorted[j].id
	})
	out := map[string]stats{}
	highest := map[string]int64{}
	for _, b := range sorted {
		top, atTop := b.scores[0], 0
		for _, s := range b.scores {
			top = max(top, s)
		}
		for _, s := range b.scores {
			if s == top {
				atTop++
			}
		}
		for i, room := range b.rooms {
			s := out[room]
			result := "NoContest"
			played := b.opType == 0 || b.opType == 1
			switch b.opType {
			case 0:
				s.Completed++
				switch {
				case b.scores[i] == top && atTop == 1:
					result = "Win"
					s.Wins++
					s.CurrentWinStreak++
					s.LongestWinStreak = max(s.LongestWinStreak, s.CurrentWinStreak)
				case b.scores[i] == top:
					result = "Draw"
					s.Draws++
					s.CurrentWinStreak = 0
				default:
					result = "Loss"
					s.Losses++
					s.CurrentWinStreak = 0
				}
			case 1:
				s.Abandoned++
			case 2:
				s.NeverStarted++
			default:
				s.Unknown++
			}
			if played {
				s.Battles++
				s.TotalScore += b.scores[i]
				if h, seen := highest[room]; !seen || b.scores[i] > h {
					highest[room] = b.scores[i]
				}
				s.HighestScore = fmt.Sprint(highest[room])
			}
			s.LastBattleID, s.LastResult, s.LastScore, s.OwnerAccount = b.id, result, b.scores[i], b.accounts[i]
			if s.Completed > 0 {
				// Percent with one decimal, half rounded up.
				s.WinRate = fmt.Sprintf("%.1f%%", math.Floor(float64(s.Wins)*1000/float64(s.Completed)+0.5)/10)
				s.WinRate = strings.Replace(s.WinRate, ".0%", "%", 1)
			}
			out[room] = s
		}
	}
	return out
}

// sendAll delivers bodies through the receiver from 8 concurrent senders.
func sendAll(t *testing.T, app *testApp, bodies [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	work := make(chan []byte)
	for range 8 {
		wg.Go(func() {
			for b := range work {
				app.send(t, b)
			}
		})
	}
	for _, b := range bodies {
		work <- b
	}
	close(work)
	wg.Wait()
}

func TestRandomBattlesMatchABruteForceCount(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	app := newTestApp(t)

	// Round one: 250 battles in random order, a fifth of them delivered twice.
	var battles []randomBattle
	var bodies [][]byte
	for i := range 250 {
		b := newRandomBattle(rng, i)
		battles = append(battles, b)
		bodies = append(bodies, b.body())
		if rng.IntN(5) == 0 {
			bodies = append(bodies, b.body())
		}
	}
	rng.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
	sendAll(t, app, bodies)
	waitForStats(t, app, bruteForce(battles))

	// Round two: delete a tenth of the BattleResults while 60 more battles (and repeats of old
	// ones) arrive.
	rng.Shuffle(len(battles), func(i, j int) { battles[i], battles[j] = battles[j], battles[i] })
	deleted, kept := battles[:25], battles[25:]
	bodies = nil
	for i := 250; i < 310; i++ {
		b := newRandomBattle(rng, i)
		kept = append(kept, b)
		bodies = append(bodies, b.body())
	}
	for _, b := range kept[:30] {
		bodies = append(bodies, b.body())
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, b := range deleted {
			br := &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Namespace: app.namespace, Name: battle.Name(b.id)}}
			if err := k8sClient.Delete(context.Background(), br); err != nil {
				t.Errorf("deleting %s: %v", b.id, err)
			}
		}
	})
	sendAll(t, app, bodies)
	wg.Wait()

	waitForStats(t, app, bruteForceAfterDeletes(kept, deleted))
}

// bruteForceAfterDeletes is bruteForce of the battles kept, where the rooms of the battles
// deleted by hand that are left without battles keep their RoomStats, counting nothing.
func bruteForceAfterDeletes(kept, deleted []randomBattle) map[string]stats {
	want := bruteForce(kept)
	for _, b := range deleted {
		for _, room := range b.rooms {
			if _, ok := want[room]; !ok {
				want[room] = stats{}
			}
		}
	}
	return want
}

// TestRestartChangesNothingAndCatchesUp: a new manager writes nothing for rooms whose battles
// did not change, and catches up on battles that arrived while none ran, at one write per room.
func TestRestartChangesNothingAndCatchesUp(t *testing.T) {
	app := newTestApp(t)
	for _, f := range endBattleFixtures {
		app.send(t, testutil.Fixture(t, f))
	}
	before := waitForStats(t, app, fixtureStats)

	stopManager()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := startManager(); err != nil {
				t.Error(err)
			}
		}
	})
	var list livev1alpha1.RoomStatsList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(app.namespace)); err != nil {
		t.Fatal(err)
	}
	// While no manager runs: a burst of 30 battles for one new room, against pk-3.
	for i := range 30 {
		b := randomBattle{id: fmt.Sprintf("burst/%d=", i), opType: 0, endTime: 1763900000 + int64(i),
			rooms: []string{"burst-room", "pk-3"}, scores: []int64{int64(10 + i), 1}, accounts: []string{"host_b", "144115245353757792"}}
		app.send(t, b.body())
	}
	watchClient, err := client.NewWithWatch(testCfg, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := watchClient.Watch(context.Background(), &livev1alpha1.RoomStatsList{}, client.InNamespace(app.namespace),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()

	if err := startManager(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	want := map[string]stats{}
	for room, s := range fixtureStats {
		want[room] = s
	}
	want["burst-room"] = stats{Battles: 30, Completed: 30, Wins: 30, TotalScore: 30*10 + 29*30/2, HighestScore: "39", WinRate: "100%",
		CurrentWinStreak: 30, LongestWinStreak: 30, LastBattleID: "burst/29=", LastResult: "Win", LastScore: 39, OwnerAccount: "host_b"}
	want["pk-3"] = stats{Battles: 31, Completed: 31, Losses: 30, Draws: 1, TotalScore: 30, HighestScore: "1", WinRate: "0%",
		LastBattleID: "burst/29=", LastResult: "Loss", LastScore: 1, OwnerAccount: "144115245353757792"}
	after := waitForStats(t, app, want)

	// Count the writes per room, until none has come for two seconds (a write still in flight
	// lands meanwhile).
	writes := map[string]int{}
	for done := false; !done; {
		select {
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				t.Fatal("the watch ended early")
			}
			if ev.Type == watch.Error {
				t.Fatalf("watch: %v", apierrors.FromObject(ev.Object))
			}
			rs := ev.Object.(*livev1alpha1.RoomStats)
			writes[string(rs.Spec.RoomID)+" "+string(ev.Type)]++
		case <-time.After(2 * time.Second):
			done = true
		}
	}
	wantWrites := map[string]int{"burst-room ADDED": 1, "burst-room MODIFIED": 1, "pk-3 MODIFIED": 1}
	if diff := cmp.Diff(wantWrites, writes); diff != "" {
		t.Errorf("writes after the restart (-want +got):\n%s", diff)
	}
	for room, rs := range before {
		if room != "pk-3" && after[room].ResourceVersion != rs.ResourceVersion {
			t.Errorf("RoomStats of %s was rewritten although nothing about it changed", room)
		}
	}
}

// TestTotalScoreSaturatesWithACondition: two battles of the highest int64 score leave the
// room's totalScore at that bound (not wrapped to -2), with ScoreSaturated True saying the sum
// is no longer exact.
func TestTotalScoreSaturatesWithACondition(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	for _, id := range []string{"sat-1", "sat-2"} {
		app.send(t, []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"`+id+`","OpType":0,"EndTime":1700000000,`+
			`"FromRoomInfo":{"RoomId":"saturated","Score":9223372036854775807},"ToRoomList":[{"RoomId":"other","Score":1}]}`))
	}
	eventually(t, "the saturated room", func(ctx context.Context) error {
		var list livev1alpha1.RoomStatsList
		if err := k8sClient.List(ctx, &list, client.InNamespace(app.namespace)); err != nil {
			return err
		}
		for _, rs := range list.Items {
			if rs.Spec.RoomID != "saturated" {
				continue
			}
			if rs.Status.Battles != 2 || rs.Status.TotalScore != math.MaxInt64 {
				return fmt.Errorf("battles %d, totalScore %d", rs.Status.Battles, rs.Status.TotalScore)
			}
			if c := meta.FindStatusCondition(rs.Status.Conditions, livev1alpha1.ConditionScoreSaturated); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("ScoreSaturated %+v", c)
			}
			return nil
		}
		return fmt.Errorf("no RoomStats for the room yet")
	})
}
