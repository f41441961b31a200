package controllers

import (
	"context"
	"fmt"
	"net"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battlestore"
	"github.com/battleops/battle-operator/internal/delivery"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/battleops/battle-operator/internal/retention"
)

// CacheOptions restricts the manager's cache to the controllers' scope (the store of
// BattleResults gets the same scope in Setup), and its cache of Jobs to the reactions' Jobs,
// so a cluster's other Jobs cost the manager no memory. BattleResults are not in the cache at all: the controllers read
// them from a battlestore.Store, which keeps each as a compact record. BattleReactions keep
// their managedFields: they are few, and the time of a criteria edit is read from them
// (reaction.LastEdit).
func (opts Options) CacheOptions() cache.Options {
	scope := opts.Scope
	req, err := labels.NewRequirement(reaction.LabelReaction, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	o := cache.Options{
		DefaultFieldSelector: scope.Fields,
		ByObject: map[client.Object]cache.ByObject{
			&batchv1.Job{}:            {Label: labels.NewSelector().Add(*req)},
			&livev1alpha1.RoomStats{}: {Transform: cache.TransformStripManagedFields()},
		},
	}
	if len(scope.Namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range scope.Namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}

// ClientOptions make the manager's client read BattleResults from the API server, never from
// the cache: a cached read would start an informer holding every battle as a typed object.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&livev1alpha1.BattleResult{}}}}
}

// Options are the controllers' settings.
type Options struct {
	// Scope is what the controllers reconcile: the objects of its namespaces (all when it
	// has none) that its field selector selects. The manager's cache gets the same scope
	// from CacheOptions.
	Scope battlestore.Scope
	// Retention deletes BattleResults by age and count; zero keeps them all.
	Retention retention.Policy
	// PruneRate is how many BattleResults retention deletes per second at most.
	PruneRate float64
	// Sender sends HTTP reactions' requests; delivery.NewSender's when nil.
	Sender *delivery.Sender
}

// Setup adds every controller of battle-operator to the manager.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	retentionCap.Set(float64(opts.Retention.MaxCount))
	// The store's watch gets a connection of its own (a dialer of its own makes client-go build
	// a new transport): on the manager's shared HTTP/2 connection, the watch of every battle
	// queued behind the manager's hundreds of writes a second, and fell seconds behind.
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	watcher, err := client.NewWithWatch(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("creating the BattleResults' client: %w", err)
	}
	battles := battlestore.New(watcher, opts.Scope)
	if err := mgr.Add(battles); err != nil {
		return fmt.Errorf("adding the BattleResults' store: %w", err)
	}
	battleResultsStored.store.Store(battles)
	reader := client.Reader(mgr.GetCache())
	reactionsWaiting.reader.Store(&reader)
	stats := &RoomStatsReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Battles: battles, Retention: opts.Retention}
	if err := stats.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the RoomStats controller: %w", err)
	}
	reactions := &BattleReactionReconciler{Client: mgr.GetClient(), Battles: battles, Recorder: mgr.GetEventRecorder("battlereaction-controller"),
		Secrets: mgr.GetAPIReader(), Sender: opts.Sender}
	if err := reactions.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the BattleReaction controller: %w", err)
	}
	if opts.Retention.MaxAge > 0 || opts.Retention.MaxCount > 0 {
		if opts.PruneRate <= 0 {
			return fmt.Errorf("the prune rate must be above 0, not %v", opts.PruneRate)
		}
		if err := mgr.Add(&Retention{Client: mgr.GetClient(), Battles: battles, Recorder: mgr.GetEventRecorder("retention"),
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
