package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/reaction"
)

// TestWarmerDropsTheIndexOfAReactionItCannotWarm: on a replica that does not lead, a reaction
// that the leader cannot fire for, or has not reconciled since an edit, keeps no index: one
// built for other criteria would gather every battle that arrives, and nothing would take them
// out. A pure unit: these cases read neither the cache nor the store.
func TestWarmerDropsTheIndexOfAReactionItCannotWarm(t *testing.T) {
	t.Parallel()
	valid := func() *livev1alpha1.BattleReaction {
		rx := &livev1alpha1.BattleReaction{ObjectMeta: metav1.ObjectMeta{Namespace: "warm", Name: "rx", UID: "uid-rx", Generation: 2},
			Spec: livev1alpha1.BattleReactionSpec{Match: livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"a"}}}}
		rx.Status.Criteria = &livev1alpha1.CriteriaRecord{Hash: reaction.CriteriaHash(&rx.Spec)}
		return rx
	}
	now := metav1.Now()
	cases := map[string]func(*livev1alpha1.BattleReaction){
		"edited, not reconciled since": func(rx *livev1alpha1.BattleReaction) { rx.Spec.Match.Rooms = []livev1alpha1.RoomID{"b"} },
		"an invalid expression": func(rx *livev1alpha1.BattleReaction) {
			rx.Spec.Match.Expression = "battle.rooms.exists("
			rx.Status.Criteria.Hash = reaction.CriteriaHash(&rx.Spec)
		},
		"being deleted": func(rx *livev1alpha1.BattleReaction) { rx.DeletionTimestamp = &now },
		"its template refused": func(rx *livev1alpha1.BattleReaction) {
			rx.Status.Conditions = []metav1.Condition{{Type: livev1alpha1.ConditionReady, Status: metav1.ConditionFalse,
				Reason: livev1alpha1.ReasonInvalidJobTemplate, ObservedGeneration: rx.Generation}}
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := &BattleReactionReconciler{}
			w := &indexWarmer{r: r}
			rx := valid()
			r.pending.Reset(rx.UID, client.ObjectKeyFromObject(rx), rx.Status.Criteria.Hash, rx.CreationTimestamp, []string{"br-1"}, nil)
			r.pending.Arrived(rx.UID, client.ObjectKeyFromObject(rx), "br-2")
			change(rx)
			w.warm(t.Context(), rx)
			if n := r.pending.Len(rx.UID); n != 0 {
				t.Errorf("the index holds %d battles, want none", n)
			}
			r.pending.Arrived(rx.UID, client.ObjectKeyFromObject(rx), "br-3")
			if r.pending.Arrivals(rx.UID) {
				t.Error("an arrival was kept after the index was dropped")
			}
		})
	}
}
