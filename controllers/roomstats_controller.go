// Package controllers holds the reconcilers of battle-operator's kinds.
package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
)

// RoomStatsIndex is the BattleResult field index that lists, for each BattleResult, the names
// of the RoomStats it counts in: one per room.
const RoomStatsIndex = "battleops.roomStats"

// ConditionReady is the condition every kind of this operator reports.
const ConditionReady = "Ready"

// RoomStatsReconciler keeps one RoomStats per (SDKAppID, room) exact. It is the only writer of
// RoomStats: each reconcile recounts the room from the BattleResults in the cache that
// include it, and writes only when the numbers changed.
type RoomStatsReconciler struct {
	Client client.Client
}

// +kubebuilder:rbac:groups=live.battleops.io,resources=battleresults,verbs=get;list;watch
// +kubebuilder:rbac:groups=live.battleops.io,resources=roomstats,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=live.battleops.io,resources=roomstats/status,verbs=get;update

// Reconcile recounts one room.
func (r *RoomStatsReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	defer observeRoomStatsReconcile(time.Now())
	logger := log.FromContext(ctx)

	var results livev1alpha1.BattleResultList
	if err := r.Client.List(ctx, &results, client.InNamespace(req.Namespace), client.MatchingFields{RoomStatsIndex: req.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing the room's BattleResults: %w", err)
	}

	var stats livev1alpha1.RoomStats
	err := r.Client.Get(ctx, req.NamespacedName, &stats)
	switch {
	case apierrors.IsNotFound(err):
		if len(results.Items) == 0 {
			return reconcile.Result{}, nil // no battle, no stats
		}
		stats, err = r.create(ctx, req.NamespacedName, results.Items)
		if err != nil {
			return reconcile.Result{}, err
		}
	case err != nil:
		return reconcile.Result{}, err
	}

	var battles []battle.RoomBattle
	for i := range results.Items {
		if b, ok := battle.RoomBattleOf(&results.Items[i], stats.Spec.RoomID); ok && results.Items[i].Spec.SDKAppID == stats.Spec.SDKAppID {
			battles = append(battles, b)
		}
	}
	desired := DesiredRoomStatsStatus(&stats, battles)
	if equality.Semantic.DeepEqual(stats.Status, desired) {
		return reconcile.Result{}, nil
	}
	// The whole status, with the object's resourceVersion: a conflict means a newer RoomStats,
	// and the reconcile it triggers recounts. (A merge patch would leave zero counters out of
	// a new status, and `kubectl get` would show them blank.)
	stats.Status = desired
	if err := r.Client.Status().Update(ctx, &stats); apierrors.IsConflict(err) {
		// The cache is behind a newer RoomStats (often our own last write): recount from it.
		return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
	} else if err != nil {
		return reconcile.Result{}, fmt.Errorf("writing the room's statistics: %w", err)
	}
	roomStatsWrites.WithLabelValues("status").Inc()
	logger.V(1).Info("Updated room statistics", "battles", desired.Battles, "wins", desired.Wins)
	return reconcile.Result{}, nil
}

// DesiredRoomStatsStatus is the status stats should have, given the room's battles.
func DesiredRoomStatsStatus(stats *livev1alpha1.RoomStats, battles []battle.RoomBattle) livev1alpha1.RoomStatsStatus {
	desired := battle.Fold(livev1alpha1.RoomStatsStatus{}, battles)
	desired.ObservedGeneration = stats.Generation
	desired.Conditions = append([]metav1.Condition(nil), stats.Status.Conditions...)
	meta.SetStatusCondition(&desired.Conditions, metav1.Condition{
		Type:               ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             "Counted",
		Message:            fmt.Sprintf("Counts the %d BattleResults of the room", len(battles)),
		ObservedGeneration: stats.Generation,
	})
	return desired
}

// create makes the RoomStats of a room that has battles but no statistics yet, its identity
// taken from one of them.
func (r *RoomStatsReconciler) create(ctx context.Context, key types.NamespacedName, results []livev1alpha1.BattleResult) (livev1alpha1.RoomStats, error) {
	stats := livev1alpha1.RoomStats{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}}
	for _, br := range results {
		for _, room := range br.Spec.Rooms {
			if battle.RoomStatsName(br.Spec.SDKAppID, room.RoomID) == key.Name {
				stats.Spec = livev1alpha1.RoomStatsSpec{SDKAppID: br.Spec.SDKAppID, RoomID: room.RoomID}
			}
		}
	}
	if stats.Spec.RoomID == "" {
		return stats, reconcile.TerminalError(fmt.Errorf("no BattleResult names room stats %s", key.Name))
	}
	if err := r.Client.Create(ctx, &stats); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return stats, fmt.Errorf("RoomStats %s appeared meanwhile: %w", key.Name, err) // retried with the cache caught up
		}
		return stats, fmt.Errorf("creating the room's statistics: %w", err)
	}
	roomStatsWrites.WithLabelValues("create").Inc()
	log.FromContext(ctx).Info("Created room statistics", "roomId", stats.Spec.RoomID, "sdkAppId", stats.Spec.SDKAppID)
	return stats, nil
}

// roomStatsNames lists the RoomStats a BattleResult counts in.
func roomStatsNames(obj client.Object) []string {
	br, ok := obj.(*livev1alpha1.BattleResult)
	if !ok {
		return nil
	}
	names := make([]string, 0, len(br.Spec.Rooms))
	for _, room := range br.Spec.Rooms {
		names = append(names, battle.RoomStatsName(br.Spec.SDKAppID, room.RoomID))
	}
	return names
}

// SetupWithManager registers the field index and the watches: a RoomStats is reconciled when
// it changes and when any BattleResult that includes its room is created or deleted.
func (r *RoomStatsReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &livev1alpha1.BattleResult{}, RoomStatsIndex, roomStatsNames); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("roomstats").
		// Every change of a RoomStats is recounted, its own status writes included (they find
		// nothing to change), so an edit or a deletion by hand is undone.
		For(&livev1alpha1.RoomStats{}).
		Watches(&livev1alpha1.BattleResult{}, handler.EnqueueRequestsFromMapFunc(namesInNamespace(roomStatsNames)), builder.WithPredicates(predicate.Funcs{
			// A BattleResult's spec never changes: status updates cannot change any room.
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Complete(r)
}
