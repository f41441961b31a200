// Package battlestore keeps the manager's view of the stored BattleResults: every battle as a
// compact record (about a fifth of a decoded object), fed by its own list and watch, instead
// of controller-runtime's cache of typed objects. What a stored battle costs the manager is then
// its record, whatever the battle's object costs in Go.
//
// Readers get a decoded copy (Get, Range); handlers get every change in order (AddHandler), the
// full object as the watch delivered it.
package battlestore

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Handler gets the changes of the store, one at a time and in order. A handler must not call
// AddHandler; it may read the store.
type Handler struct {
	// OnAdd is a battle that arrived; initial says it was there when the handler was added or
	// when the store first listed.
	OnAdd func(br *livev1alpha1.BattleResult, initial bool)
	// OnUpdate is a change of a stored battle (its status, or its deletion starting).
	OnUpdate func(old, br *livev1alpha1.BattleResult)
	// OnDelete is a battle that is gone.
	OnDelete func(br *livev1alpha1.BattleResult)
}

// Store holds the stored BattleResults as records. Its methods are safe for concurrent use.
type Store struct {
	feeds []*scopedStore // one list and watch per namespace of the scope, or one of them all

	mu     sync.RWMutex
	byNS   map[string]map[string]string // namespace → name → record
	synced chan struct{}                // closed once every list has been taken
	// unlisted counts the lists not taken yet (under delivery).
	unlisted int

	// delivery orders events and handler registrations: a handler added while events flow
	// gets the store's content, then every later event, nothing twice.
	delivery sync.Mutex
	handlers map[int]Handler
	nextID   int
}

// Scope is what a store lists and watches: the BattleResults of Namespaces (of every
// namespace when it is empty) that Fields selects (every one when nil).
type Scope struct {
	Namespaces []string
	Fields     fields.Selector
}

// New is a store that lists and watches the BattleResults of scope with c (a client that can
// watch, reading from the API server).
func New(c client.WithWatch, scope Scope) *Store {
	namespaces := slices.Compact(slices.Sorted(slices.Values(scope.Namespaces)))
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	s := &Store{
		byNS:     map[string]map[string]string{},
		synced:   make(chan struct{}),
		handlers: map[int]Handler{},
		unlisted: len(namespaces),
	}
	for _, ns := range namespaces {
		options := func(opts metav1.ListOptions) *client.ListOptions {
			return &client.ListOptions{Namespace: ns, FieldSelector: scope.Fields, Raw: &opts}
		}
		s.feeds = append(s.feeds, &scopedStore{Store: s, namespace: ns, lw: &toolscache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				list := &livev1alpha1.BattleResultList{}
				return list, c.List(ctx, list, options(opts))
			},
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				return c.Watch(ctx, &livev1alpha1.BattleResultList{}, options(opts))
			},
		}})
	}
	return s
}

// Start lists and watches until ctx ends. It runs on every replica, leader or not, like a
// cache.
func (s *Store) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("battlestore")
	var wg sync.WaitGroup
	for _, f := range s.feeds {
		r := toolscache.NewReflectorWithOptions(f.lw, &livev1alpha1.BattleResult{}, f,
			toolscache.ReflectorOptions{Name: "battleresults", Logger: &logger})
		wg.Go(func() { r.RunWithContext(ctx) })
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection says that every replica keeps the store, so a new leader has it ready.
func (s *Store) NeedLeaderElection() bool { return false }

// WaitForSync waits until the store has listed the BattleResults once.
func (s *Store) WaitForSync(ctx context.Context) error {
	select {
	case <-s.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the BattleResults to be listed: %w", ctx.Err())
	}
}

// HasSynced says whether the store has listed the BattleResults once.
func (s *Store) HasSynced() bool {
	select {
	case <-s.synced:
		return true
	default:
		return false
	}
}

// Get is a copy of the stored battle namespace/name, false when none is stored.
func (s *Store) Get(namespace, name string) (*livev1alpha1.BattleResult, bool) {
	s.mu.RLock()
	rec, ok := s.byNS[namespace][name]
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return mustDecode(namespace, name, rec), true
}

// Counts is the number of battles stored in each namespace that has any.
func (s *Store) Counts() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]int, len(s.byNS))
	for ns, m := range s.byNS {
		out[ns] = len(m)
	}
	return out
}

// Range yields a copy of every battle of namespace, one at a time (a namespace may hold
// many: they are never all decoded at once), in no order. Battles stored or deleted meanwhile
// may or may not be seen.
func (s *Store) Range(namespace string) iter.Seq[*livev1alpha1.BattleResult] {
	return func(yield func(*livev1alpha1.BattleResult) bool) {
		for name, rec := range s.snapshot(namespace) {
			if !yield(mustDecode(namespace, name, rec)) {
				return
			}
		}
	}
}

// snapshot copies the namespace's map, so a long read does not hold the lock.
func (s *Store) snapshot(namespace string) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := make(map[string]string, len(s.byNS[namespace]))
	for name, rec := range s.byNS[namespace] {
		m[name] = rec
	}
	return m
}

// AddHandler gives h every stored battle (OnAdd with initial), then every change, until the
// returned function removes it.
func (s *Store) AddHandler(h Handler) (remove func()) {
	s.delivery.Lock()
	defer s.delivery.Unlock()
	s.mu.RLock()
	type entry struct{ ns, name, rec string }
	var all []entry
	for ns, m := range s.byNS {
		for name, rec := range m {
			all = append(all, entry{ns, name, rec})
		}
	}
	s.mu.RUnlock()
	if h.OnAdd != nil {
		for _, e := range all {
			h.OnAdd(decodeForHandler(e.ns, e.name, e.rec), true)
		}
	}
	id := s.nextID
	s.nextID++
	s.handlers[id] = h
	return func() {
		s.delivery.Lock()
		defer s.delivery.Unlock()
		delete(s.handlers, id)
	}
}

// The reflector's side: every list and watch event, on its one goroutine.

// Add stores a battle the watch delivered.
func (s *Store) Add(obj any) error {
	br, ok := obj.(*livev1alpha1.BattleResult)
	if !ok {
		return fmt.Errorf("battlestore: a %T, not a BattleResult", obj)
	}
	share(br)
	rec := encode(br)
	s.delivery.Lock()
	defer s.delivery.Unlock()
	s.mu.Lock()
	m := s.byNS[br.Namespace]
	if m == nil {
		m = map[string]string{}
		s.byNS[br.Namespace] = m
	}
	old, existed := m[br.Name]
	m[br.Name] = rec
	s.mu.Unlock()
	if existed {
		s.updated(br.Namespace, br.Name, old, br)
	} else {
		for _, h := range s.handlers {
			if h.OnAdd != nil {
				h.OnAdd(br, false)
			}
		}
	}
	return nil
}

// Update stores a battle's change.
func (s *Store) Update(obj any) error { return s.Add(obj) }

// Delete forgets a battle.
func (s *Store) Delete(obj any) error {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	s.delivery.Lock()
	defer s.delivery.Unlock()
	s.mu.Lock()
	rec, existed := s.byNS[acc.GetNamespace()][acc.GetName()]
	delete(s.byNS[acc.GetNamespace()], acc.GetName())
	if len(s.byNS[acc.GetNamespace()]) == 0 {
		delete(s.byNS, acc.GetNamespace())
	}
	s.mu.Unlock()
	if !existed {
		return nil
	}
	br, ok := obj.(*livev1alpha1.BattleResult)
	if ok {
		share(br)
	} else {
		br = decodeForHandler(acc.GetNamespace(), acc.GetName(), rec)
	}
	s.deleted(br)
	return nil
}

// scopedStore is what the list and watch of one namespace ("": of all) feed: its Replace
// replaces that namespace's battles, not the others'.
type scopedStore struct {
	*Store
	namespace string
	lw        toolscache.ListerWatcher
	listed    bool // a list was taken (on the reflector's goroutine)
}

// Replace takes a whole list: the first one, or a new one after the watch broke.
func (f *scopedStore) Replace(list []any, _ string) error {
	first := !f.listed
	f.listed = true
	return f.replace(list, f.namespace, first)
}

// replace takes a whole list of namespace ("": of all), the first one when first. Battles of
// it that are not in the list any more are deleted, new ones added, changed ones updated.
func (s *Store) replace(list []any, namespace string, first bool) error {
	byNS := map[string]map[string]string{}
	battles := make([]*livev1alpha1.BattleResult, 0, len(list))
	for _, obj := range list {
		br, ok := obj.(*livev1alpha1.BattleResult)
		if !ok {
			return fmt.Errorf("battlestore: a %T, not a BattleResult", obj)
		}
		share(br)
		m := byNS[br.Namespace]
		if m == nil {
			m = map[string]string{}
			byNS[br.Namespace] = m
		}
		m[br.Name] = encode(br)
		battles = append(battles, br)
	}
	s.delivery.Lock()
	defer s.delivery.Unlock()
	s.mu.Lock()
	old := s.byNS
	if namespace == metav1.NamespaceAll {
		s.byNS = byNS
	} else {
		old = map[string]map[string]string{namespace: s.byNS[namespace]}
		delete(s.byNS, namespace)
		if m := byNS[namespace]; len(m) > 0 {
			s.byNS[namespace] = m
		}
	}
	s.mu.Unlock()
	for ns, m := range old {
		for name, rec := range m {
			if _, ok := byNS[ns][name]; !ok {
				s.deleted(decodeForHandler(ns, name, rec))
			}
		}
	}
	for _, br := range battles {
		if rec, ok := old[br.Namespace][br.Name]; ok {
			if rec != byNS[br.Namespace][br.Name] {
				s.updated(br.Namespace, br.Name, rec, br)
			}
			continue
		}
		for _, h := range s.handlers {
			if h.OnAdd != nil {
				h.OnAdd(br, first)
			}
		}
	}
	if first {
		if s.unlisted--; s.unlisted == 0 {
			close(s.synced)
		}
	}
	return nil
}

// Resync has nothing to do: the store has no resync period.
func (s *Store) Resync() error { return nil }

func (s *Store) updated(ns, name, old string, br *livev1alpha1.BattleResult) {
	var before *livev1alpha1.BattleResult
	for _, h := range s.handlers {
		if h.OnUpdate != nil {
			if before == nil {
				before = decodeForHandler(ns, name, old)
			}
			h.OnUpdate(before, br)
		}
	}
}

func (s *Store) deleted(br *livev1alpha1.BattleResult) {
	for _, h := range s.handlers {
		if h.OnDelete != nil {
			h.OnDelete(br)
		}
	}
}

// mustDecode decodes a record the store encoded; one that does not decode is a bug.
func mustDecode(ns, name, rec string) *livev1alpha1.BattleResult {
	br, err := decode(ns, name, rec)
	if err != nil {
		panic(err)
	}
	return br
}

// decodeForHandler decodes a record for a handler, which may keep its strings: they get their
// own memory (or the shared copy), so a handler never holds on to a record the store replaced.
func decodeForHandler(ns, name, rec string) *livev1alpha1.BattleResult {
	br := mustDecode(ns, name, rec)
	share(br)
	br.Spec.BattleID = strings.Clone(br.Spec.BattleID)
	return br
}
