package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// ownWrites remembers each reaction as this process last wrote its status, until the cache
// shows that write. A reconcile that starts right after a status write (battles keep arriving)
// often reads the version the write replaced; writing its status on that version would
// conflict, and the reconcile would wait a second for the cache. It uses the written copy
// instead.
type ownWrites struct {
	mu sync.Mutex
	m  map[types.NamespacedName]ownWrite
}

type ownWrite struct {
	rx   *livev1alpha1.BattleReaction // as written, with its new resourceVersion
	over string                       // the resourceVersion the write replaced
}

// wrote records that rx (as returned by the status write) replaced resourceVersion over.
func (w *ownWrites) wrote(rx *livev1alpha1.BattleReaction, over string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]ownWrite{}
	}
	w.m[types.NamespacedName{Namespace: rx.Namespace, Name: rx.Name}] = ownWrite{rx: rx.DeepCopy(), over: over}
}

// latest is the newest known version of the reaction the cache returned as cached: the
// written copy when the cache still shows the version that write replaced, else cached itself
// (and a write the cache shows, or that a newer version replaced, is forgotten).
func (w *ownWrites) latest(cached *livev1alpha1.BattleReaction) *livev1alpha1.BattleReaction {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := types.NamespacedName{Namespace: cached.Namespace, Name: cached.Name}
	e, ok := w.m[key]
	if !ok {
		return cached
	}
	if cached.UID == e.rx.UID && cached.ResourceVersion == e.over {
		return e.rx.DeepCopy()
	}
	delete(w.m, key) // the cache shows our write, something newer, or a new reaction of the name
	return cached
}

// forget drops what is remembered of a reaction that is gone.
func (w *ownWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
