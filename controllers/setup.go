package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/battleops/battle-operator/internal/retention"
)

// CacheOptions restricts the manager's cache of Jobs to the reactions' Jobs, so a cluster's
// other Jobs cost the manager no memory, and keeps of each BattleResult only what the
// controllers read: no managedFields (about half of a stored BattleResult) and no
// last-applied annotation. BattleReactions keep theirs: they are few, and the time of a
// criteria edit is read from them (reaction.LastEdit).
func CacheOptions() cache.Options {
	req, err := labels.NewRequirement(reaction.LabelReaction, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&batchv1.Job{}:               {Label: labels.NewSelector().Add(*req)},
		&livev1alpha1.BattleResult{}: {Transform: trimBattleResult},
		&livev1alpha1.RoomStats{}:    {Transform: cache.TransformStripManagedFields()},
	}}
}

// trimBattleResult drops from a cached BattleResult what no controller reads, and makes the
// strings that many battles repeat (namespace, app, room IDs, owners, results, reactions)
// share one copy each. A stored
// battle's cost in memory is then its own fields, not a copy of every room's names.
func trimBattleResult(obj any) (any, error) {
	br, ok := obj.(*livev1alpha1.BattleResult)
	if !ok {
		return obj, nil
	}
	br.ManagedFields = nil
	if _, ok := br.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		delete(br.Annotations, corev1.LastAppliedConfigAnnotation)
	}
	if len(br.Annotations) == 0 {
		br.Annotations = nil
	}
	br.Status.Conditions = nil
	br.Namespace = intern(br.Namespace)
	spec := &br.Spec
	spec.SDKAppID, spec.ClientIP, spec.OptPlatform = intern(spec.SDKAppID), intern(spec.ClientIP), intern(spec.OptPlatform)
	spec.EndReason, spec.Outcome = intern(spec.EndReason), intern(spec.Outcome)
	for i := range spec.Rooms {
		room := &spec.Rooms[i]
		room.RoomID, room.OwnerAccount, room.Result = intern(room.RoomID), intern(room.OwnerAccount), intern(room.Result)
	}
	for i := range spec.Winners {
		spec.Winners[i] = intern(spec.Winners[i])
	}
	for i := range br.Status.Reactions {
		rec := &br.Status.Reactions[i]
		rec.Reaction, rec.UID = intern(rec.Reaction), intern(rec.UID)
	}
	return br, nil
}

// interned holds the shared copies of the strings battles repeat. It grows with the distinct
// rooms, owners and apps, not with battles, and stops growing at maxInterned entries (a
// string past that is kept as decoded).
var interned = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

const maxInterned = 1 << 20

// intern returns the one shared copy of s.
func intern[S ~string](s S) S {
	if s == "" {
		return s
	}
	interned.Lock()
	defer interned.Unlock()
	if c, ok := interned.m[string(s)]; ok {
		return S(c)
	}
	if len(interned.m) >= maxInterned {
		return s
	}
	c := strings.Clone(string(s)) // not a slice of a larger decoded buffer
	interned.m[c] = c
	return S(c)
}

// Options are the controllers' settings.
type Options struct {
	// Retention deletes BattleResults by age and count; zero keeps them all.
	Retention retention.Policy
	// PruneRate is how many BattleResults retention deletes per second at most.
	PruneRate float64
}

// Setup adds every controller of battle-operator to the manager.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	stats := &RoomStatsReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Retention: opts.Retention}
	if err := stats.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the RoomStats controller: %w", err)
	}
	reactions := &BattleReactionReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("battlereaction-controller")}
	if err := reactions.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the BattleReaction controller: %w", err)
	}
	if opts.Retention.MaxAge > 0 || opts.Retention.MaxCount > 0 {
		if opts.PruneRate <= 0 {
			return fmt.Errorf("the prune rate must be above 0, not %v", opts.PruneRate)
		}
		if err := mgr.Add(&Retention{Client: mgr.GetClient(), Cache: mgr.GetCache(), Recorder: mgr.GetEventRecorder("retention"),
			Stats: stats, Policy: opts.Retention, Rate: opts.PruneRate}); err != nil {
			return fmt.Errorf("setting up retention: %w", err)
		}
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
