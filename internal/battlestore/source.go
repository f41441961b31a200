package battlestore

import (
	"context"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Source feeds a controller from the store, as a Kind source feeds it from the cache: h gets
// a create event for every battle stored (IsInInitialList for those there before), then every
// change. The controller starts once the store has listed the BattleResults and h has seen them.
func (s *Store) Source(h handler.EventHandler) source.SyncingSource {
	return &storeSource{store: s, handler: h, ready: make(chan struct{})}
}

type storeSource struct {
	store   *Store
	handler handler.EventHandler
	ready   chan struct{} // closed when the handler is added
}

func (src *storeSource) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	go func() {
		remove := src.store.AddHandler(Handler{
			OnAdd: func(br *livev1alpha1.BattleResult, initial bool) {
				src.handler.Create(ctx, event.CreateEvent{Object: br, IsInInitialList: initial}, q)
			},
			OnUpdate: func(old, br *livev1alpha1.BattleResult) {
				src.handler.Update(ctx, event.UpdateEvent{ObjectOld: old, ObjectNew: br}, q)
			},
			OnDelete: func(br *livev1alpha1.BattleResult) {
				src.handler.Delete(ctx, event.DeleteEvent{Object: br}, q)
			},
		})
		close(src.ready)
		<-ctx.Done()
		remove()
	}()
	return nil
}

func (src *storeSource) WaitForSync(ctx context.Context) error {
	if err := src.store.WaitForSync(ctx); err != nil {
		return err
	}
	select {
	case <-src.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (src *storeSource) String() string { return "BattleResults (battlestore)" }
