package controllers

import (
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/google/go-cmp/cmp"
)

// queueBattle is a BattleResult of rooms other and hot (in that order: first in, first out
// would take other first), as the cache holds it.
func queueBattle(i int, other string) *livev1alpha1.BattleResult {
	return &livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Namespace: "queue", Name: fmt.Sprintf("br-%d", i)},
		Spec: livev1alpha1.BattleResultSpec{BattleID: fmt.Sprint(i), SDKAppID: "1400000001", EndTime: int64(1700000000 + i),
			EndReason: livev1alpha1.EndReasonTimeUp, Outcome: livev1alpha1.OutcomeWin,
			Rooms: []livev1alpha1.BattleRoom{
				{RoomID: livev1alpha1.RoomID(other), Score: 1, Result: livev1alpha1.RoomResultLoss, Rank: 2, OwnerAccount: "144115213"},
				{RoomID: "hot", Score: 2, Result: livev1alpha1.RoomResultWin, Rank: 1, OwnerAccount: "144115212"},
			}},
	}
}

// TestBusyRoomGoesFirst: with writes behind, the room with the most battles not yet in its
// statistics is reconciled first, not after every room queued before it; rooms of the initial
// list come last. The queue is controller-runtime's own priority queue, as the controller uses.
func TestBusyRoomGoesFirst(t *testing.T) {
	t.Parallel()
	q := priorityqueue.New[reconcile.Request]("busy-room-test")
	defer q.ShutDown()
	r := &RoomStatsReconciler{}
	r.battleEvent(queueBattle(0, "listed"), q, true, true) // the initial list
	for i := 1; i <= 20; i++ {
		r.battleEvent(queueBattle(i, fmt.Sprintf("room-%d", i)), q, true, false)
	}
	key := func(room string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "queue", Name: battle.RoomStatsName("1400000001", livev1alpha1.RoomID(room))}}
	}
	got, _, _ := q.GetWithPriority()
	if got != key("hot") {
		t.Fatalf("first out %v, want the hot room %v (in 21 battles)", got, key("hot"))
	}
	q.Done(got)
	var last reconcile.Request
	for q.Len() > 0 {
		last, _, _ = q.GetWithPriority()
		q.Done(last)
	}
	if last != key("listed") {
		t.Errorf("last out %v, want the room of the initial list %v", last, key("listed"))
	}
}

// TestArrivingBattleQueuesOnlyTheReactionsItMayMatch: an arriving battle stays out of the
// index of, and does not queue, a reaction whose field criteria rule it out, when the index was
// built for those criteria. It goes into the index, and queues the reaction, when an expression
// is left to judge (the reconcile evaluates it), when the index was built for other criteria
// (an edit the reconciles have not taken up: it may be undone), and while a scan runs. A
// battle of the initial list queues every reaction, for the scan. The reactions come from a
// fake client: the handler is a pure unit here.
func TestArrivingBattleQueuesOnlyTheReactionsItMayMatch(t *testing.T) {
	t.Parallel()
	reactionOf := func(name string, match livev1alpha1.BattleMatch) *livev1alpha1.BattleReaction {
		return &livev1alpha1.BattleReaction{ObjectMeta: metav1.ObjectMeta{Namespace: "queue", Name: name, UID: types.UID("uid-" + name)},
			Spec: livev1alpha1.BattleReactionSpec{Match: match}}
	}
	cold := livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"cold"}}
	reactions := []*livev1alpha1.BattleReaction{
		reactionOf("hot-room", livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"hot"}}),
		reactionOf("absent-room", livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"absent"}}),
		reactionOf("draws", livev1alpha1.BattleMatch{Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}}),
		reactionOf("cel-false", livev1alpha1.BattleMatch{Expression: "battle.roomCount > 50"}),
		reactionOf("draws-cel", livev1alpha1.BattleMatch{Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}, Expression: "battle.roomCount > 1"}),
		// Edited from room cold to room absent; the index is still cold's.
		reactionOf("edited", livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"absent"}}),
		// Its index is being built again.
		reactionOf("scanning", livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"absent"}}),
	}
	b := fake.NewClientBuilder().WithScheme(testScheme)
	for _, rx := range reactions {
		b = b.WithObjects(rx)
	}
	r := &BattleReactionReconciler{Client: b.Build()}
	for _, rx := range reactions { // each with an index, as after a scan
		spec := rx.Spec.DeepCopy()
		if rx.Name == "edited" {
			spec.Match = cold
		}
		r.pending.Reset(rx.UID, client.ObjectKeyFromObject(rx), reaction.CriteriaHash(spec), rx.CreationTimestamp, nil, nil)
	}
	r.pending.Scanning(reactions[len(reactions)-1].UID, client.ObjectKeyFromObject(reactions[len(reactions)-1]))
	h := r.battleEvents()

	queued := func(initial bool) []string {
		q := priorityqueue.New[reconcile.Request]("may-match-test")
		defer q.ShutDown()
		h.Create(t.Context(), event.CreateEvent{Object: queueBattle(1, "cold"), IsInInitialList: initial}, q)
		var names []string
		for q.Len() > 0 {
			req, _, _ := q.GetWithPriority()
			q.Done(req)
			names = append(names, req.Name)
		}
		slices.Sort(names)
		return names
	}
	want := []string{"cel-false", "edited", "hot-room", "scanning"}
	if diff := cmp.Diff(want, queued(false)); diff != "" {
		t.Errorf("an arriving battle queued (-want +got):\n%s", diff)
	}
	for _, rx := range reactions {
		if got := r.pending.Arrivals(rx.UID); got != slices.Contains(want, rx.Name) {
			t.Errorf("reaction %s has the battle in its index: %v, want %v", rx.Name, got, !got)
		}
	}
	if diff := cmp.Diff([]string{"absent-room", "cel-false", "draws", "draws-cel", "edited", "hot-room", "scanning"}, queued(true)); diff != "" {
		t.Errorf("a battle of the initial list queued (-want +got):\n%s", diff)
	}
}
