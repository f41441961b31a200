package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/testutil"
)

// storedBattles lists the names of the namespace's BattleResults, straight from the API server.
func storedBattles(ctx context.Context, ns string) ([]string, error) {
	var list livev1alpha1.BattleResultList
	if err := k8sClient.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var names []string
	for _, br := range list.Items {
		names = append(names, br.Name)
	}
	sort.Strings(names)
	return names, nil
}

// prunedTotal adds up status.pruned.battleResults over the namespace's RoomStats, and returns
// the names still listed as folded.
func prunedTotal(ctx context.Context, ns string) (int64, []string, error) {
	var list livev1alpha1.RoomStatsList
	if err := k8sClient.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return 0, nil, err
	}
	var total int64
	var folded []string
	for _, rs := range list.Items {
		if p := rs.Status.Pruned; p != nil {
			total += p.BattleResults
			folded = append(folded, p.Folded...)
		}
	}
	return total, folded, nil
}

// roomsIn is how many (battle, room) pairs the battles hold: what pruning them all adds to the
// rooms' pruned counts.
func roomsIn(battles []randomBattle) int64 {
	var n int64
	for _, b := range battles {
		n += int64(len(b.rooms))
	}
	return n
}

// TestRetentionFoldsExactlyOnceThroughSIGKILL: two replicas prune by age at a slow pace; the
// leader is SIGKILLed in the middle of pruning, battles deleted by hand are subtracted, and
// after every battle is pruned the statistics equal a brute-force count of every battle sent
// and not deleted by hand, each pruned battle folded once into each of its rooms.
func TestRetentionFoldsExactlyOnceThroughSIGKILL(t *testing.T) {
	binary, kubeconfig := forManagerProcesses(t)
	app := newProcessApp(t)
	flags := []string{"--battle-retention=2s", "--prune-rate=30"}
	p := []*managerProcess{startManagerProcess(t, binary, kubeconfig, app, flags...), startManagerProcess(t, binary, kubeconfig, app, flags...)}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))
	// Each batch is sent in the statistics' order (end time, then BattleId). Sent in any
	// order, a battle could arrive more than the retention (2 s here) after battles that ended
	// later, when those are pruned already: it is then counted after them (README, "Rules a
	// user can rely on"), and its streaks differ from a count in end-time order.
	inOrder := func(bs []randomBattle) {
		slices.SortFunc(bs, func(a, b randomBattle) int {
			return cmp.Or(cmp.Compare(a.endTime, b.endTime), strings.Compare(a.id, b.id))
		})
	}
	var sent []randomBattle
	for i := range 100 {
		sent = append(sent, newRandomBattle(rng, i))
	}
	inOrder(sent)
	var first [][]byte
	for _, b := range sent {
		first = append(first, b.body())
		if rng.IntN(5) == 0 {
			first = append(first, b.body()) // a repeated delivery
		}
	}
	sendAll(t, p[0].receiverFor(app), first)
	waitForStats(t, app, bruteForce(sent))

	// Pruning starts 2 s after arrival, 30 a second: kill the leader once some are gone.
	var leader, standby *managerProcess
	testutil.Eventually(t, time.Minute, "pruning to start", func(ctx context.Context) error {
		for i, m := range p {
			if n, err := m.counter("battleops_battleresults_pruned_total"); err == nil && n > 0 {
				leader, standby = m, p[1-i]
				return nil
			}
		}
		return fmt.Errorf("no replica pruned yet")
	})
	if err := leader.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stored, err := storedBattles(context.Background(), app.namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the leader with %d of 100 BattleResults left", len(stored))
	if len(stored) == 0 {
		t.Fatal("the leader pruned everything before it was killed: the test did not kill it in the middle")
	}

	// Later battles (ending after all of the first ones) go to the survivor; the eight that
	// end last are deleted by hand at once, before they are old enough to prune (they are
	// pruned last): they are subtracted.
	survivor := standby.receiverFor(app)
	var second []randomBattle
	for i := 100; i < 140; i++ {
		b := newRandomBattle(rng, i)
		b.endTime += 1000
		second = append(second, b)
	}
	inOrder(second)
	for _, b := range second {
		survivor.send(t, b.body())
	}
	byHand := second[len(second)-8:]
	for _, b := range byHand {
		br := &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Namespace: app.namespace, Name: battle.Name(b.id)}}
		if err := k8sClient.Delete(context.Background(), br); err != nil {
			t.Fatal(err)
		}
	}
	kept := append(slices.Clone(sent), second[:len(second)-8]...)

	waitAllPruned(t, app.namespace, 2*time.Minute)
	waitForStats(t, app, bruteForceAfterDeletes(kept, byHand))
	total, _, err := prunedTotal(context.Background(), app.namespace)
	if err != nil {
		t.Fatal(err)
	}
	if total != roomsIn(kept) {
		t.Errorf("the RoomStats count %d pruned (battle, room) pairs, want %d: each pruned battle once in each room", total, roomsIn(kept))
	}
	pruned, err := standby.counter("battleops_battleresults_pruned_total")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the survivor pruned %v BattleResults", pruned)
	if pruned == 0 {
		t.Error("the survivor pruned nothing: the leader was not killed in the middle")
	}
}

// waitAllPruned waits until the namespace holds no BattleResult.
func waitAllPruned(t *testing.T, namespace string, limit time.Duration) {
	t.Helper()
	testutil.Eventually(t, limit, "every battle to be pruned", func(ctx context.Context) error {
		got, err := storedBattles(ctx, namespace)
		if err != nil {
			return err
		}
		if len(got) > 0 {
			return fmt.Errorf("%d BattleResults left", len(got))
		}
		return nil
	})
}

// TestRetentionWaitsForReactionsAndTheCapDoesNot: a battle a reaction still waits for is not
// pruned by age; the cap prunes it anyway and warns on the reaction; a suspended reaction
// waits for nothing; a pruned battle never gets a Job; a RoomStats deleted by hand comes back
// counting only the stored battles.
func TestRetentionWaitsForReactionsAndTheCapDoesNot(t *testing.T) {
	binary, kubeconfig := forManagerProcesses(t)
	app := newProcessApp(t)
	rx := createReaction(t, newReaction(app.namespace, "one-at-a-time", func(s *livev1alpha1.BattleReactionSpec) {
		s.StartingAfter = &metav1Time0
		s.MaxRunningJobs = 1 // envtest runs no Job controller: the first Job runs until we finish it
	}))
	m := startManagerProcess(t, binary, kubeconfig, app, "--battle-retention=2s", "--max-battle-results=20", "--prune-rate=50")
	cb := m.receiverFor(app)
	ctx := context.Background()

	battleAt := func(i int) randomBattle {
		return randomBattle{id: fmt.Sprintf("keep/%02d", i), opType: 0, endTime: 1763800000 + int64(i),
			rooms: []string{"hot", fmt.Sprintf("room-%d", i%4)}, scores: []int64{int64(i % 3), 1}, accounts: []string{"a", "b"}}
	}
	sent := []randomBattle{battleAt(0)}
	cb.send(t, sent[0].body())
	waitForJobCount(t, app.namespace, rx.Name, 1) // the Job is the first battle's
	for i := 1; i < 10; i++ {
		b := battleAt(i)
		sent = append(sent, b)
		cb.send(t, b.body())
	}

	// The first battle has its Job and its record: it goes. The other nine wait for the
	// reaction, past their age.
	names := func(bs []randomBattle) []string {
		var out []string
		for _, b := range bs {
			out = append(out, battle.Name(b.id))
		}
		sort.Strings(out)
		return out
	}
	testutil.Eventually(t, 30*time.Second, "the recorded battle to be pruned", func(ctx context.Context) error {
		got, err := storedBattles(ctx, app.namespace)
		if err != nil {
			return err
		}
		if !slices.Equal(got, names(sent[1:])) {
			return fmt.Errorf("stored %v, want %v", got, names(sent[1:]))
		}
		return nil
	})
	// Retention says which battle past its age it keeps for the reaction: the earliest of the
	// nine, and with it every later one.
	heldBack := strconv.Quote(battle.Name(sent[1].id))
	eventually(t, "retention to say the reaction holds back "+heldBack, func(context.Context) error {
		for line := range strings.Lines(m.log.String()) {
			if strings.Contains(line, "Pruning by age waits") && strings.Contains(line, heldBack) && strings.Contains(line, rx.Name) {
				return nil
			}
		}
		return errors.New("not logged")
	})
	if got, err := storedBattles(ctx, app.namespace); err != nil || !slices.Equal(got, names(sent[1:])) {
		t.Fatalf("stored %v (%v), want the nine battles the reaction waits for", got, err)
	}
	waitForStats(t, app, bruteForce(sent))

	// 20 more: 29 stored, over the cap of 20. The nine earliest go although the reaction
	// waits for them, and the reaction gets a Warning.
	for i := 10; i < 30; i++ {
		b := battleAt(i)
		sent = append(sent, b)
		cb.send(t, b.body())
	}
	testutil.Eventually(t, 30*time.Second, "the cap to prune the nine earliest", func(ctx context.Context) error {
		got, err := storedBattles(ctx, app.namespace)
		if err != nil {
			return err
		}
		if !slices.Equal(got, names(sent[10:])) {
			return fmt.Errorf("stored %d BattleResults, want the 20 latest", len(got))
		}
		return nil
	})
	eventually(t, "a BattlesPruned Warning on the reaction", func(ctx context.Context) error {
		var list eventsv1.EventList
		if err := k8sClient.List(ctx, &list, client.InNamespace(app.namespace)); err != nil {
			return err
		}
		missed := 0
		for _, e := range list.Items {
			if e.Reason == "BattlesPruned" && e.Regarding.Name == rx.Name && e.Type == "Warning" {
				var n int
				if _, err := fmt.Sscanf(e.Note, "%d matching battles", &n); err == nil {
					count := 1
					if e.Series != nil {
						count = int(e.Series.Count)
					}
					missed += n * count
				}
			}
		}
		if missed != 9 {
			return fmt.Errorf("the Warnings say %d battles were missed, want 9", missed)
		}
		return nil
	})
	// Through every round since the first battle went, the reaction held the nine back from
	// pruning by age: they went by the cap only.
	eventually(t, "the pruned counts by reason", func(ctx context.Context) error {
		families, err := testutil.Scrape(ctx, http.DefaultClient, m.Metrics)
		if err != nil {
			return err
		}
		pruned := families["battleops_battleresults_pruned_total"]
		age, count := testutil.SumWhere(pruned, map[string]string{"reason": "age"}), testutil.SumWhere(pruned, map[string]string{"reason": "count"})
		if age != 1 || count != 9 {
			return fmt.Errorf("pruned by age %v, by count %v; want 1 (the first battle) and 9", age, count)
		}
		return nil
	})
	waitForStats(t, app, bruteForce(sent))

	// Suspended, the reaction waits for nothing: every battle goes by age. Resumed, it runs no
	// Job for a pruned battle.
	setSuspend(t, rx, true)
	waitAllPruned(t, app.namespace, 30*time.Second)
	jobs, err := reactionJobs(ctx, app.namespace, rx.Name)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("%d Jobs (%v), want 1", len(jobs), err)
	}
	finishJob(t, &jobs[0], true)
	setSuspend(t, rx, false)
	eventually(t, "the manager to see the reaction resumed", func(ctx context.Context) error {
		got, err := getReaction(ctx, rx)
		if err == nil && got.Status.ObservedGeneration != got.Generation {
			err = fmt.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
		}
		return err
	})
	m.waitIdle(t)
	if jobs, err = reactionJobs(ctx, app.namespace, rx.Name); err != nil || len(jobs) != 1 {
		t.Fatalf("%d Jobs after resuming (%v), want still 1: a pruned battle never gets a Job", len(jobs), err)
	}
	waitForStats(t, app, bruteForce(sent))

	// A RoomStats deleted by hand comes back counting the stored battles only.
	last := battleAt(99)
	cb.send(t, last.body())
	hot := &livev1alpha1.RoomStats{ObjectMeta: metav1.ObjectMeta{Namespace: app.namespace, Name: battle.RoomStatsName(app.id, "hot")}}
	if err := k8sClient.Delete(ctx, hot); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the hot room's RoomStats to come back with the stored battle only", func(ctx context.Context) error {
		var rs livev1alpha1.RoomStats
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(hot), &rs); err != nil {
			return err
		}
		if rs.Status.Completed != 1 || rs.Status.Battles != 1 {
			return fmt.Errorf("%d battles, %d completed; want 1 and 1", rs.Status.Battles, rs.Status.Completed)
		}
		return nil
	})
}
