package controllers

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
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
