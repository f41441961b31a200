package reaction

import (
	"iter"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Pending is the index of what each reaction (by UID) may still have to fire for, so that a
// reconcile examines the battles that arrived since the last one and those still waiting, not
// every battle stored. Per reaction it holds the names of the battles of its namespace that are
// in its window, not yet recorded by it, and either match (waiting for their Jobs) or were not
// examined yet (the inbox). A battle that does not match, is recorded, or is gone leaves it:
// nothing is kept for the battles a reaction has settled.
//
// The index of a reaction is built by one scan of the namespace (Scanning, then Reset) for its
// criteria and window start; after that, Arrived feeds it from the BattleResult watch. A
// battle arriving while the scan runs is kept in the inbox unless the scan listed it, so it is
// neither lost nor examined twice. A battle arriving before any scan is not kept: the first
// scan lists it from the cache. (A replica that does not lead builds the indexes too, so the
// first reconciles after a fail-over do not scan: the controllers' indexWarmer.) It is safe for concurrent use: the watch writes while a reconcile reads.
type Pending struct {
	mu        sync.Mutex
	reactions map[types.UID]*pendingReaction
}

type pendingReaction struct {
	key types.NamespacedName
	// built says waiting holds the result of a scan for the criteria hash and window start;
	// scanning that a scan started (arrivals are kept from then on).
	built, scanning bool
	hash            string
	start           time.Time
	// compared is the reaction's generation whose criteria were last compared with hash
	// (BuiltFor), -1 for none; sameCriteria is what that found. A Reset forgets it.
	compared     int64
	sameCriteria bool
	// waiting maps a battle's name to whether it is known to match (false: not examined yet).
	waiting map[string]bool
	// inbox holds the battles that arrived since the last Take.
	inbox map[string]struct{}
	// last is the latest battle (by arrival) this process saw the reaction fire for.
	last *livev1alpha1.FiredBattle
	// notify is closed at the next arrival (Notify).
	notify chan struct{}
}

func (p *Pending) entry(uid types.UID, key types.NamespacedName) *pendingReaction {
	if p.reactions == nil {
		p.reactions = map[types.UID]*pendingReaction{}
	}
	e := p.reactions[uid]
	if e == nil {
		e = &pendingReaction{key: key}
		p.reactions[uid] = e
	}
	return e
}

// Scanning says that a scan of the reaction's namespace starts: battles arriving from now on are
// kept for the reaction until Reset sorts them out.
func (p *Pending) Scanning(uid types.UID, key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entry(uid, key).scanning = true
}

// Arrived records that a battle of the reaction's namespace arrived: the reaction's next
// reconcile examines it. Before the reaction's first scan it does nothing (the scan lists the
// battle).
func (p *Pending) Arrived(uid types.UID, key types.NamespacedName, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	if e == nil || (!e.built && !e.scanning) {
		return
	}
	if e.inbox == nil {
		e.inbox = map[string]struct{}{}
	}
	e.inbox[name] = struct{}{}
	if e.notify != nil {
		close(e.notify)
		e.notify = nil
	}
}

// Gone drops a battle that was deleted from the reaction's index, and says whether the index
// held it (so the reaction's count of waiting battles changed).
func (p *Pending) Gone(uid types.UID, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	if e == nil {
		return false
	}
	_, waiting := e.waiting[name]
	_, inbox := e.inbox[name]
	delete(e.waiting, name)
	delete(e.inbox, name)
	return waiting || inbox
}

// Current says whether the reaction's index was built for these criteria and window start.
func (p *Pending) Current(uid types.UID, hash string, start metav1.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	return e != nil && e.built && e.hash == hash && e.start.Equal(start.Time)
}

// BuiltFor says whether the reaction's index was built for the criteria of the reaction's
// generation, whose hash is hash(), and no scan for other criteria has started since. hash is
// called once per generation and index, not for every battle that arrives.
func (p *Pending) BuiltFor(uid types.UID, generation int64, hash func() string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	if e == nil || !e.built || e.scanning {
		return false
	}
	if e.compared != generation {
		e.compared, e.sameCriteria = generation, e.hash == hash()
	}
	return e.sameCriteria
}

// Reset builds the reaction's index from a scan of its namespace for the criteria hash and
// window start: due are the battles the scan found matching and not recorded, listed every
// battle the scan examined. Battles in the inbox that the scan listed are dropped from it (the
// scan judged them); those it did not list arrived meanwhile and stay. Other reactions of the
// same name (an older incarnation) are forgotten.
func (p *Pending) Reset(uid types.UID, key types.NamespacedName, hash string, start metav1.Time, due []string, listed iter.Seq[string]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for u, e := range p.reactions {
		if u != uid && e.key == key {
			delete(p.reactions, u)
		}
	}
	e := p.entry(uid, key)
	e.key, e.built, e.scanning, e.hash, e.start, e.compared = key, true, false, hash, start.Time, -1
	e.waiting = make(map[string]bool, len(due))
	for _, name := range due {
		e.waiting[name] = true
	}
	if len(e.inbox) > 0 {
		for name := range listed {
			delete(e.inbox, name)
		}
	}
}

// Take moves the inbox into the waiting battles and returns them all: the battles the
// reaction's reconcile has to examine, each with whether it is known to match. Nothing leaves
// the index until Settle, so a reconcile that fails half-way loses nothing.
func (p *Pending) Take(uid types.UID) map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	if e == nil {
		return nil
	}
	if e.waiting == nil && len(e.inbox) > 0 {
		e.waiting = map[string]bool{}
	}
	for name := range e.inbox {
		if _, ok := e.waiting[name]; !ok {
			e.waiting[name] = false
		}
	}
	e.inbox = nil
	out := make(map[string]bool, len(e.waiting))
	for name, known := range e.waiting {
		out[name] = known
	}
	return out
}

// Matched notes that the battles match; a battle no longer in the index stays out.
func (p *Pending) Matched(uid types.UID, names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.reactions[uid]; e != nil {
		for _, name := range names {
			if _, ok := e.waiting[name]; ok {
				e.waiting[name] = true
			}
		}
	}
}

// Settle drops battles the reaction is done with: recorded, gone, outside its window, or not
// matching.
func (p *Pending) Settle(uid types.UID, names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.reactions[uid]; e != nil {
		for _, name := range names {
			delete(e.waiting, name)
		}
		if len(e.waiting) == 0 {
			e.waiting = nil // a map does not shrink: let a drained backlog's memory go
		}
	}
}

// Has says whether the battle is still waiting in the reaction's index (Gone not called).
func (p *Pending) Has(uid types.UID, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	if e == nil {
		return false
	}
	_, ok := e.waiting[name]
	return ok
}

// Fired merges fired into the latest battle the reaction is known to have fired for, and
// returns that: what this process saw survives a status write that failed.
func (p *Pending) Fired(uid types.UID, fired *livev1alpha1.FiredBattle) *livev1alpha1.FiredBattle {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	if e == nil {
		return fired
	}
	e.last = LaterFired(e.last, fired)
	return e.last
}

// Arrivals says whether battles arrived for the reaction since its last Take.
func (p *Pending) Arrivals(uid types.UID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	return e != nil && len(e.inbox) > 0
}

// closed is a channel that is always closed.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Notify returns a channel that is closed when a battle arrives for the reaction: at once if one
// arrived since the last Take. It is nil (never ready) for a reaction the index does not keep
// arrivals for.
func (p *Pending) Notify(uid types.UID) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	switch {
	case e == nil || (!e.built && !e.scanning):
		return nil
	case len(e.inbox) > 0:
		return closed
	case e.notify == nil:
		e.notify = make(chan struct{})
	}
	return e.notify
}

// Len is how many battles the reaction's index holds: waiting and in the inbox.
func (p *Pending) Len(uid types.UID) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.reactions[uid]
	if e == nil {
		return 0
	}
	n := len(e.waiting)
	for name := range e.inbox {
		if _, ok := e.waiting[name]; !ok {
			n++
		}
	}
	return n
}

// Drop forgets the reaction's index; the next reconcile that needs it scans again.
func (p *Pending) Drop(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.reactions, uid)
}

// Retain drops the index of every reaction keep says no to (reactions gone, seen by a replica
// that does not reconcile them).
func (p *Pending) Retain(keep func(types.UID) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for uid := range p.reactions {
		if !keep(uid) {
			delete(p.reactions, uid)
		}
	}
}

// Forget drops the index of every reaction of this name: it is gone.
func (p *Pending) Forget(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for uid, e := range p.reactions {
		if e.key == key {
			delete(p.reactions, uid)
		}
	}
}
