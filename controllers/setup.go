package controllers

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/battleops/battle-operator/internal/reaction"
)

// CacheOptions restricts the manager's cache of Jobs to the reactions' Jobs, so a cluster's
// other Jobs cost the manager no memory.
func CacheOptions() cache.Options {
	req, err := labels.NewRequirement(reaction.LabelReaction, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&batchv1.Job{}: {Label: labels.NewSelector().Add(*req)},
	}}
}

// Setup adds every controller of battle-operator to the manager.
func Setup(ctx context.Context, mgr ctrl.Manager) error {
	if err := (&RoomStatsReconciler{Client: mgr.GetClient()}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the RoomStats controller: %w", err)
	}
	reactions := &BattleReactionReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("battlereaction-controller")}
	if err := reactions.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the BattleReaction controller: %w", err)
	}
	return nil
}

// namesInNamespace maps an object to requests for the objects of its namespace that names
// gives, for handler.EnqueueRequestsFromMapFunc.
func namesInNamespace(names func(client.Object) []string) handler.MapFunc {
	return func(_ context.Context, obj client.Object) []reconcile.Request {
		var reqs []reconcile.Request
		for _, name := range names(obj) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}})
		}
		return reqs
	}
}
