package controllers

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/reaction"
)

// warmInterval is how often a replica that does not lead examines what arrived for each
// reaction's index.
const warmInterval = 2 * time.Second

// indexWarmer builds the reactions' indexes of pending battles on a replica that does not lead
// yet, and keeps them current, so that after a fail-over the new leader's first reconcile of a
// reaction examines the battles that arrived meanwhile, not every battle stored (with 100,000
// stored and ten reactions, those scans took the new leader seconds).
//
// Every warmInterval it does for each reaction what a reconcile's first step does (examine):
// the scan that builds the index when there is none for the reaction's stored criteria, then
// the examination of what arrived, which lets the battles the leader recorded, and those that
// do not match, leave the index. So a standby holds, per reaction, the battles that match and
// wait for the leader, and what arrived since the last pass: a cost that follows traffic; the
// index of a reaction that is gone is dropped at the end of the pass. It writes nothing and
// records no Event (the leader does; a failing expression is logged). It stops once this
// replica leads.
type indexWarmer struct {
	r      *BattleReactionReconciler
	reader client.Reader // the cache
	// battles is the controller's source of battles: the warmer scans only once its handler
	// is attached, so a battle stored after a scan reaches the index as an arrival.
	battles interface{ WaitForSync(context.Context) error }
	elected <-chan struct{}
	// mu is held for each reaction's pass. The first reconcile of this replica takes it to
	// stop the warmer (stop): it waits for a pass in progress, and none starts after, so the
	// leader's scans never run alongside the warmer's.
	mu      sync.Mutex
	stopped atomic.Bool
}

// NeedLeaderElection says that it runs while the replica does not lead.
func (w *indexWarmer) NeedLeaderElection() bool { return false }

// Start warms the indexes until this replica leads or ctx ends. Without leader election the
// replica leads as soon as its controllers start: a pass may begin before that, and the first
// reconcile stops it.
func (w *indexWarmer) Start(ctx context.Context) error {
	if err := w.battles.WaitForSync(ctx); err != nil {
		return nil // ctx ended
	}
	logger := log.FromContext(ctx).WithName("index-warmer")
	ticker := time.NewTicker(warmInterval)
	defer ticker.Stop()
	for {
		if !w.pass(log.IntoContext(ctx, logger)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.elected:
			return nil
		case <-ticker.C:
		}
	}
}

// pass examines each reaction's index once, then drops the indexes of the reactions that no
// longer exist (a leader's reconcile forgets them when it finds one gone; a standby does not
// reconcile); false once the replica leads.
func (w *indexWarmer) pass(ctx context.Context) bool {
	var list livev1alpha1.BattleReactionList
	if err := w.reader.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "Listing the reactions")
		return true
	}
	exists := make(map[types.UID]bool, len(list.Items))
	for i := range list.Items {
		exists[list.Items[i].UID] = true
		if !w.standingBy(func() { w.warm(ctx, &list.Items[i]) }) {
			return false
		}
	}
	return w.standingBy(func() { w.r.pending.Retain(func(uid types.UID) bool { return exists[uid] }) })
}

// standingBy runs f, holding mu, unless the replica leads; false once it leads.
func (w *indexWarmer) standingBy(f func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped.Load() {
		return false
	}
	select {
	case <-w.elected:
		return false
	default:
	}
	f()
	return true
}

// warm examines one reaction's index, as the leader last configured it. A reaction the leader
// has not reconciled since its criteria changed, or cannot fire (an invalid expression, a
// refused template, being deleted), has no index here, as on the leader: one kept for other
// criteria would gather every battle that arrives.
func (w *indexWarmer) warm(ctx context.Context, rx *livev1alpha1.BattleReaction) {
	matcher, invalid := reaction.Compile(rx.Spec.Match)
	if rx.Status.Criteria == nil || rx.Status.Criteria.Hash != reaction.CriteriaHash(&rx.Spec) || reaction.Holds(rx, invalid) {
		w.r.pending.Drop(rx.UID)
		return
	}
	w.r.examine(ctx, rx, matcher, logFailed)
}

// stop stops the warmer for good, once no pass is in progress: this replica reconciles.
func (w *indexWarmer) stop() {
	if w == nil || w.stopped.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped.Store(true)
}

// logFailed logs the battles the expression failed on, for a replica that does not lead (the
// leader records the Events).
func logFailed(ctx context.Context, rx *livev1alpha1.BattleReaction, failed map[*livev1alpha1.BattleResult]error) {
	for br, err := range failed {
		log.FromContext(ctx).V(1).Info("The expression failed on a battle; it does not match", "battleReaction", rx.Name, "battleResult", br.Name, "error", err.Error())
	}
}
