package controllers

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/reaction"
)

// due returns the battles the reaction has to fire for, in arrival order, and the latest
// battle it found recorded. It examines the battles of the reaction's index (those that
// arrived since the last reconcile and those still waiting), after building the index by one
// scan of the namespace when it is missing or was built for other criteria or another window.
// The battles returned are copies, decoded from the store.
func (r *BattleReactionReconciler) due(ctx context.Context, rx *livev1alpha1.BattleReaction, matcher *reaction.Matcher) ([]*livev1alpha1.BattleResult, *livev1alpha1.FiredBattle) {
	return r.examine(ctx, rx, matcher, r.reportFailed)
}

// examine is due, with report telling about the battles the expression failed on.
func (r *BattleReactionReconciler) examine(ctx context.Context, rx *livev1alpha1.BattleReaction, matcher *reaction.Matcher,
	report func(context.Context, *livev1alpha1.BattleReaction, map[*livev1alpha1.BattleResult]error)) ([]*livev1alpha1.BattleResult, *livev1alpha1.FiredBattle) {
	examined := 0
	defer func() { reactionBattlesExamined.Observe(float64(examined)) }()

	var last *livev1alpha1.FiredBattle
	hash, start := rx.Status.Criteria.Hash, reaction.WindowStart(rx)
	if !r.pending.Current(rx.UID, hash, start) {
		r.pending.Scanning(rx.UID, client.ObjectKeyFromObject(rx))
		// The store decodes one battle at a time: a namespace may hold many. The names seen
		// are the ones the scan examined; a battle arriving meanwhile is in the index's arrivals.
		var listed []string
		sel := reaction.Select(rx, matcher, func(yield func(*livev1alpha1.BattleResult) bool) {
			for br := range r.Battles.Range(rx.Namespace) {
				listed = append(listed, br.Name)
				if !yield(br) {
					return
				}
			}
		})
		stored := len(listed)
		examined += stored
		report(ctx, rx, sel.Failed)
		names := make([]string, len(sel.Due))
		for i, br := range sel.Due {
			names[i] = br.Name
		}
		r.pending.Reset(rx.UID, client.ObjectKeyFromObject(rx), hash, start, names, slices.Values(listed))
		reactionScans.Inc()
		last = sel.Last
		log.FromContext(ctx).V(1).Info("Scanned the namespace's battles", "battles", stored, "waiting", len(names))
	}

	candidates := r.pending.Take(rx.UID)
	examined += len(candidates)
	battles := make([]*livev1alpha1.BattleResult, 0, len(candidates))
	var gone []string
	for name := range candidates {
		br, ok := r.Battles.Get(rx.Namespace, name)
		if !ok {
			gone = append(gone, name)
			continue
		}
		battles = append(battles, br)
	}
	sel, settled := reaction.Examine(rx, matcher, battles, func(name string) bool { return candidates[name] })
	report(ctx, rx, sel.Failed)
	r.pending.Settle(rx.UID, append(gone, settled...)...)
	matched := make([]string, len(sel.Due))
	for i, br := range sel.Due {
		matched[i] = br.Name
	}
	r.pending.Matched(rx.UID, matched...)
	return sel.Due, reaction.LaterFired(last, sel.Last)
}

// reportFailed tells about the battles the expression failed on. Each is examined once per
// index: it does not match, so it leaves the index.
func (r *BattleReactionReconciler) reportFailed(ctx context.Context, rx *livev1alpha1.BattleReaction, failed map[*livev1alpha1.BattleResult]error) {
	for br, err := range failed {
		log.FromContext(ctx).Info("The expression failed on a battle; it does not match", "battleResult", br.Name, "error", err.Error())
		r.Recorder.Eventf(rx, br, corev1.EventTypeWarning, "ExpressionFailed", "Match", "The expression failed on BattleResult %s: %v", br.Name, err)
	}
}

// battleEvents handles the BattleResult watch. An arriving battle enters the index of every
// reaction of its namespace whose criteria do not rule it out (ruledOut), and enqueues them; a
// deleted battle leaves their indexes, and enqueues those that were waiting for it. Status
// updates (the reactions' own records) are ignored. The battles of the informer's initial list
// enter no index: the controller starts only once they are all in the cache, so the scan that
// builds an index sees them.
func (r *BattleReactionReconciler) battleEvents() handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			br, _ := e.Object.(*livev1alpha1.BattleResult)
			if !e.IsInInitialList {
				log.FromContext(ctx).V(1).Info("Battle arrived", "battleResult", e.Object.GetName())
			}
			for _, rx := range r.reactionsOf(ctx, e.Object.GetNamespace()) {
				key := client.ObjectKeyFromObject(rx)
				if !e.IsInInitialList {
					if br != nil && r.ruledOut(rx, br) {
						continue // no index entry, no reconcile: a battle it cannot fire for
					}
					r.pending.Arrived(rx.UID, key, e.Object.GetName())
				}
				q.Add(reconcile.Request{NamespacedName: key})
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			for _, rx := range r.reactionsOf(ctx, e.Object.GetNamespace()) {
				if r.pending.Gone(rx.UID, e.Object.GetName()) {
					q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(rx)})
				}
			}
		},
	}
}

// ruledOut says whether rx's criteria besides its expression rule br out, and the index of
// rx was built for those criteria: then br is left out of the index, and costs rx no
// reconcile. An expression is left to the reconcile (it may cost more than a few fields, and
// this runs on the watch's one goroutine, ahead of every battle behind it). The criteria are
// the reaction's as the cache shows them: when the index was built for others (an edit that
// no reconcile has taken up, maybe undone before one does), or a scan has started, the battle
// goes into the index, as every battle used to, for the reconcile to judge.
func (r *BattleReactionReconciler) ruledOut(rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult) bool {
	return reaction.RuledOut(rx.Spec.Match, &br.Spec) && r.pending.BuiltFor(rx.UID, rx.Generation, func() string { return reaction.CriteriaHash(&rx.Spec) })
}

// reactionsOf lists the reactions of a namespace from the cache, read-only.
func (r *BattleReactionReconciler) reactionsOf(ctx context.Context, namespace string) []*livev1alpha1.BattleReaction {
	var list livev1alpha1.BattleReactionList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "Listing the reactions of a namespace")
		return nil
	}
	out := make([]*livev1alpha1.BattleReaction, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out
}
