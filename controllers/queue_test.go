package controllers

import (
	"fmt"
	"testing"
	"unsafe"

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

// TestCachedBattleResultIsTrimmedAndSharesRepeatedStrings: the cache transform drops
// managedFields, the last-applied annotation and status conditions, and two battles of the
// same room hold one copy of its ID, app and owner.
func TestCachedBattleResultIsTrimmedAndSharesRepeatedStrings(t *testing.T) {
	decoded := func(i int) *livev1alpha1.BattleResult {
		br := queueBattle(i, "other")
		// As decoded from the watch: every string its own copy.
		br.Spec.Rooms[1].RoomID = livev1alpha1.RoomID(string([]byte("hot")))
		br.Spec.Rooms[1].OwnerAccount = string([]byte("144115212"))
		br.Spec.SDKAppID = string([]byte("1400000001"))
		br.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "receiver"}}
		br.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
		br.Status.Conditions = []metav1.Condition{{Type: "Recorded"}}
		return br
	}
	trimmed := func(i int) *livev1alpha1.BattleResult {
		out, err := trimBattleResult(decoded(i))
		if err != nil {
			t.Fatal(err)
		}
		return out.(*livev1alpha1.BattleResult)
	}
	a, b := trimmed(1), trimmed(2)
	if a.ManagedFields != nil || a.Annotations != nil || a.Status.Conditions != nil {
		t.Errorf("kept managedFields %v, annotations %v, conditions %v", a.ManagedFields, a.Annotations, a.Status.Conditions)
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	if !same(string(a.Spec.Rooms[1].RoomID), string(b.Spec.Rooms[1].RoomID)) ||
		!same(a.Spec.Rooms[1].OwnerAccount, b.Spec.Rooms[1].OwnerAccount) || !same(a.Spec.SDKAppID, b.Spec.SDKAppID) {
		t.Error("two battles of the same room hold their own copies of its ID, owner or app")
	}
	if a.Spec.Rooms[1].RoomID != "hot" || a.Spec.SDKAppID != "1400000001" || a.Name != "br-1" {
		t.Errorf("the transform changed values: room %q, app %q, name %q", a.Spec.Rooms[1].RoomID, a.Spec.SDKAppID, a.Name)
	}
}
