package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/retention"
)

// TestRetentionReportsTheBattleHeldBackOnce: retention logs the battle a reaction holds back
// once, not on every round; says nothing when a round stops before it (a younger battle earlier
// in the order) while the reaction still waits; and says pruning goes on once the reaction has
// run for it.
func TestRetentionReportsTheBattleHeldBackOnce(t *testing.T) {
	t.Parallel() // no API server: the plan's answer and the battles are given
	var logged []string
	ctx := log.IntoContext(context.Background(), funcr.New(func(_, args string) { logged = append(logged, args) }, funcr.Options{}))

	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	rx := livev1alpha1.BattleReaction{
		ObjectMeta: metav1.ObjectMeta{Name: "reward", UID: "rx-1", CreationTimestamp: metav1.NewTime(t0)},
		Spec:       livev1alpha1.BattleReactionSpec{RunFor: livev1alpha1.RunForBattle},
	}
	br := &livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Name: "br-held", Namespace: "battles", CreationTimestamp: metav1.NewTime(t0.Add(time.Hour))},
		Spec:       livev1alpha1.BattleResultSpec{BattleID: "held", Rooms: []livev1alpha1.BattleRoom{{RoomID: "a", Score: 2}, {RoomID: "b", Score: 1}}},
	}
	get := func(name string) *livev1alpha1.BattleResult {
		if name == br.Name {
			return br
		}
		return nil
	}
	p := &Retention{heldBack: map[string]string{}}
	held := &retention.Battle{Name: br.Name}
	round := func(heldBack *retention.Battle) {
		p.reportHeldBack(ctx, "battles", heldBack, get, newWaiting([]livev1alpha1.BattleReaction{rx}))
	}
	lines := func(what string) int {
		n := 0
		for _, l := range logged {
			if strings.Contains(l, what) {
				n++
			}
		}
		return n
	}

	round(held)
	round(held)
	if n := lines("Pruning by age waits"); n != 1 || !strings.Contains(logged[0], `"battleResult"="br-held"`) || !strings.Contains(logged[0], `"reward"`) {
		t.Fatalf("two rounds held back br-held for reward: %d waits lines, want 1 naming both: %q", n, logged)
	}
	round(nil) // the plan stopped at a younger battle before br-held
	if n := lines("goes on"); n != 0 {
		t.Fatalf("pruning said to go on while reward still waits for br-held: %q", logged)
	}
	br.Status.Reactions = []livev1alpha1.ReactionRecord{{Reaction: "reward", UID: "rx-1"}}
	round(nil)
	round(nil)
	if n := lines("goes on"); n != 1 {
		t.Fatalf("br-held recorded: %d goes-on lines, want 1: %q", n, logged)
	}
}
