package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ownWrites remembers each object as this process last wrote its status, until the cache
// shows that write. A reconcile that starts right after a status write (battles keep
// arriving) often reads the version the write replaced; writing on that version would
// conflict, and the reconcile would wait for the cache. It uses the written copy instead. The
// RoomStats and BattleReaction controllers both write whole statuses this way.
type ownWrites[T client.Object] struct {
	mu sync.Mutex
	m  map[types.NamespacedName]ownWrite[T]
}

type ownWrite[T client.Object] struct {
	obj  T      // as written, with its new resourceVersion
	over string // the resourceVersion the write replaced
}

// wrote records that obj (as returned by the status write) replaced resourceVersion over.
func (w *ownWrites[T]) wrote(obj T, over string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]ownWrite[T]{}
	}
	w.m[client.ObjectKeyFromObject(obj)] = ownWrite[T]{obj: obj.DeepCopyObject().(T), over: over}
}

// latest is the newest known version of the object the cache returned as cached: the
// written copy when the cache still shows the version that write replaced, else cached itself
// (and a write the cache shows, or that a newer version replaced, is forgotten).
func (w *ownWrites[T]) latest(cached T) T {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := client.ObjectKeyFromObject(cached)
	e, ok := w.m[key]
	if !ok {
		return cached
	}
	if cached.GetUID() == e.obj.GetUID() && cached.GetResourceVersion() == e.over {
		return e.obj.DeepCopyObject().(T)
	}
	delete(w.m, key) // the cache shows our write, something newer, or a new object of the name
	return cached
}

// forget drops what is remembered of an object that is gone.
func (w *ownWrites[T]) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
