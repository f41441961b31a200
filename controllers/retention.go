package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/battlestore"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/battleops/battle-operator/internal/retention"
)

// Retention deletes BattleResults one at a time (never a collection).
// +kubebuilder:rbac:groups=live.battleops.io,resources=battleresults,verbs=delete

// Retention deletes BattleResults past --battle-retention or --max-battle-results, on the
// leader, at a bounded rate. Each battle's contribution is folded into the status.pruned of
// each of its rooms' RoomStats, and stored, before the battle is deleted; a crash in between
// leaves the battle named in status.pruned.folded, so it is counted once, and the next leader
// finishes the job. Battles go in the statistics' order (end time, then BattleId), so pruning
// never changes a room's numbers.
type Retention struct {
	Client client.Client
	// Battles are the stored BattleResults.
	Battles  *battlestore.Store
	Recorder events.EventRecorder
	Stats    *RoomStatsReconciler
	Policy   retention.Policy
	// Rate is how many BattleResults it deletes per second at most.
	Rate float64
	// Interval is how often it looks for battles to prune; a second when zero.
	Interval time.Duration
	Now      func() time.Time

	mu       sync.Mutex
	byNS     map[string]*retention.Ordered
	inFlight map[types.NamespacedName]*pruning
	// heldBack is, per namespace, the battle past its age that a reaction waits for, which
	// keeps it and every later battle (as last logged).
	heldBack map[string]string
}

// pruning is a battle on its way out: the rooms that have not stored its fold yet.
type pruning struct {
	// deleted: the battle is deleted, and stays here until the cache shows it gone, so it is
	// not picked again meanwhile.
	deleted   bool
	uid       types.UID
	reason    retention.Reason
	rooms     map[types.NamespacedName]bool
	requested time.Time
}

// NeedLeaderElection says that only the leader prunes.
func (p *Retention) NeedLeaderElection() bool { return true }

// Start keeps an ordered index of the stored battles from the cache's events and prunes until
// ctx ends.
func (p *Retention) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("retention")
	p.byNS, p.inFlight, p.heldBack = map[string]*retention.Ordered{}, map[types.NamespacedName]*pruning{}, map[string]string{}
	p.Stats.OnFolded = p.folded
	remove := p.Battles.AddHandler(battlestore.Handler{
		OnAdd: func(br *livev1alpha1.BattleResult, _ bool) {
			p.mu.Lock()
			p.ordered(br.Namespace).Add(retention.Battle{Name: br.Name, EndTime: br.Spec.EndTime, BattleID: br.Spec.BattleID, Created: br.CreationTimestamp.Time})
			p.mu.Unlock()
		},
		OnDelete: func(br *livev1alpha1.BattleResult) {
			p.mu.Lock()
			p.ordered(br.Namespace).Remove(br.Name)
			delete(p.inFlight, types.NamespacedName{Namespace: br.Namespace, Name: br.Name})
			p.mu.Unlock()
		},
	})
	defer remove()
	if err := p.Battles.WaitForSync(ctx); err != nil {
		return nil
	}
	interval := p.Interval
	if interval == 0 {
		interval = time.Second
	}
	limiter := rate.NewLimiter(rate.Limit(p.Rate), max(1, int(p.Rate)))
	logger.Info("Pruning BattleResults", "retention", p.Policy.MaxAge.String(), "maxBattleResults", p.Policy.MaxCount, "deletesPerSecond", p.Rate)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := p.round(ctx, limiter); err != nil && ctx.Err() == nil {
			logger.Error(err, "Pruning BattleResults")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (p *Retention) ordered(ns string) *retention.Ordered {
	o := p.byNS[ns]
	if o == nil {
		o = &retention.Ordered{}
		p.byNS[ns] = o
	}
	return o
}

// folded is the RoomStats controller saying a room stored the fold of these battles.
func (p *Retention) folded(room types.NamespacedName, names []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range names {
		if pr := p.inFlight[types.NamespacedName{Namespace: room.Namespace, Name: name}]; pr != nil {
			delete(pr.rooms, room)
		}
	}
}

func (p *Retention) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// round deletes the battles whose folds are stored, asks again for folds that take long, and
// starts pruning the next battles, as many as two seconds of the rate allow at once.
func (p *Retention) round(ctx context.Context, limiter *rate.Limiter) error {
	p.mu.Lock()
	var ready []types.NamespacedName
	var again []types.NamespacedName
	for key, pr := range p.inFlight {
		switch {
		case pr.deleted:
			if !p.ordered(key.Namespace).Has(key.Name) {
				delete(p.inFlight, key) // its delete event came before it was marked
			}
		case len(pr.rooms) == 0:
			ready = append(ready, key)
		case p.now().Sub(pr.requested) > 10*time.Second:
			pr.requested = p.now()
			again = append(again, key)
		}
	}
	p.mu.Unlock()

	for _, key := range ready {
		if err := limiter.Wait(ctx); err != nil {
			return err
		}
		if err := p.delete(ctx, key); err != nil {
			return err
		}
	}
	for _, key := range again {
		p.requestFolds(ctx, []types.NamespacedName{key})
	}

	limit := max(10, int(2*p.Rate))
	p.mu.Lock()
	room := limit
	for _, pr := range p.inFlight {
		if !pr.deleted {
			room--
		}
	}
	namespaces := make([]string, 0, len(p.byNS))
	for ns := range p.byNS {
		namespaces = append(namespaces, ns)
	}
	p.mu.Unlock()
	for _, ns := range namespaces {
		if room <= 0 {
			break
		}
		started, err := p.start(ctx, ns, room)
		if err != nil {
			return err
		}
		room -= started
	}
	return nil
}

// delete deletes a battle whose fold every room has stored.
func (p *Retention) delete(ctx context.Context, key types.NamespacedName) error {
	p.mu.Lock()
	pr := p.inFlight[key]
	p.mu.Unlock()
	br := &livev1alpha1.BattleResult{}
	br.Namespace, br.Name = key.Namespace, key.Name
	err := p.Client.Delete(ctx, br, client.Preconditions{UID: &pr.uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting BattleResult %s: %w", key.Name, err)
	}
	if err == nil {
		battleResultsPruned.WithLabelValues(string(pr.reason)).Inc()
		log.FromContext(ctx).V(1).Info("Pruned BattleResult", "battleResult", key.String(), "reason", pr.reason)
	}
	p.mu.Lock()
	if err == nil {
		pr.deleted = true
	} else {
		delete(p.inFlight, key) // gone already, or replaced by a new battle of the same name
	}
	p.mu.Unlock()
	return nil
}

// start picks up to limit battles of a namespace to prune and asks their rooms to fold them.
func (p *Retention) start(ctx context.Context, ns string, limit int) (int, error) {
	var reactions livev1alpha1.BattleReactionList
	if err := p.Client.List(ctx, &reactions, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	waiting := newWaiting(reactions.Items)
	results := map[string]*livev1alpha1.BattleResult{}
	get := func(name string) *livev1alpha1.BattleResult {
		if br, ok := results[name]; ok {
			return br
		}
		br, _ := p.Battles.Get(ns, name)
		results[name] = br
		return br
	}

	p.mu.Lock()
	inFlight := func(name string) bool { return p.inFlight[types.NamespacedName{Namespace: ns, Name: name}] != nil }
	held := func(b *retention.Battle) bool {
		br := get(b.Name)
		return br == nil || br.DeletionTimestamp != nil || len(waiting.For(br)) > 0
	}
	picks, heldBack := retention.Plan(p.ordered(ns).Battles(), p.now(), p.Policy, limit, inFlight, held)
	p.reportHeldBack(ctx, ns, heldBack, get, waiting)
	var keys []types.NamespacedName
	missed := map[*livev1alpha1.BattleReaction]int{}
	for _, pick := range picks {
		br := get(pick.Battle.Name)
		if br == nil {
			continue // gone meanwhile; its delete event removes it from the order
		}
		if pick.Reason == retention.Count {
			for _, rx := range waiting.For(br) {
				missed[rx]++
			}
		}
		key := types.NamespacedName{Namespace: ns, Name: br.Name}
		pr := &pruning{uid: br.UID, reason: pick.Reason, rooms: map[types.NamespacedName]bool{}, requested: p.now()}
		for _, room := range br.Spec.Rooms {
			pr.rooms[types.NamespacedName{Namespace: ns, Name: battle.RoomStatsName(br.Spec.SDKAppID, room.RoomID)}] = true
		}
		p.inFlight[key] = pr
		keys = append(keys, key)
	}
	p.mu.Unlock()

	for rx, n := range missed {
		p.Recorder.Eventf(rx, nil, corev1.EventTypeWarning, "BattlesPruned", "Prune",
			"%d matching battles were pruned before this reaction ran for them: the namespace holds more than --max-battle-results=%d BattleResults", n, p.Policy.MaxCount)
	}
	p.requestFolds(ctx, keys)
	return len(keys), nil
}

// reportHeldBack logs, when it changes, which battle past its age a reaction waits for in a
// namespace: it and every battle after it stay until the reaction has run for it. Called
// with p.mu held.
func (p *Retention) reportHeldBack(ctx context.Context, ns string, heldBack *retention.Battle, get func(string) *livev1alpha1.BattleResult, waiting *waiting) {
	var name string
	if heldBack != nil {
		name = heldBack.Name
	}
	prev := p.heldBack[ns]
	if prev == name {
		return
	}
	waitingFor := func(name string) []string {
		var reactions []string
		if br := get(name); br != nil && br.DeletionTimestamp == nil {
			for _, rx := range waiting.For(br) {
				reactions = append(reactions, rx.Name)
			}
		}
		return reactions
	}
	logger := log.FromContext(ctx).WithName("retention")
	if name == "" {
		// The plan may have stopped before the battle it held back last time (at a young
		// battle earlier in the order, or at its limit): only that battle's reactions say
		// whether it still is.
		if len(waitingFor(prev)) > 0 {
			return
		}
		delete(p.heldBack, ns)
		logger.Info("Pruning by age goes on: no reaction waits for the earliest battles any more", "namespace", ns)
		return
	}
	reactions := waitingFor(name)
	if len(reactions) == 0 {
		return // gone or being deleted: not held back for long
	}
	p.heldBack[ns] = name
	logger.Info("Pruning by age waits: reactions have not run yet for a BattleResult past its age; it and the battles after it stay",
		"namespace", ns, "battleResult", name, "reactions", reactions)
}

// requestFolds asks each room of the battles to fold them, one request per room.
func (p *Retention) requestFolds(ctx context.Context, keys []types.NamespacedName) {
	byRoom := map[types.NamespacedName][]string{}
	p.mu.Lock()
	for _, key := range keys {
		if pr := p.inFlight[key]; pr != nil {
			for room := range pr.rooms {
				byRoom[room] = append(byRoom[room], key.Name)
			}
		}
	}
	p.mu.Unlock()
	for room, names := range byRoom {
		p.Stats.FoldPruned(ctx, room, names)
	}
}

// waiting answers which reactions still wait for a battle: not suspended, valid, the battle in
// their window, matching, with a run, and not recorded as fired.
type waiting struct {
	reactions []*livev1alpha1.BattleReaction
	matchers  []*reaction.Matcher
}

func newWaiting(items []livev1alpha1.BattleReaction) *waiting {
	w := &waiting{}
	for i := range items {
		rx := &items[i]
		if rx.Spec.Suspend || rx.DeletionTimestamp != nil {
			continue
		}
		m, err := reaction.Compile(rx.Spec.Match)
		if err != nil {
			continue // an invalid reaction runs nothing, so it waits for nothing
		}
		w.reactions = append(w.reactions, rx)
		w.matchers = append(w.matchers, m)
	}
	return w
}

// For lists the reactions that wait for br.
func (w *waiting) For(br *livev1alpha1.BattleResult) []*livev1alpha1.BattleReaction {
	var out []*livev1alpha1.BattleReaction
	for i, rx := range w.reactions {
		if !reaction.CountsFrom(reaction.WindowStart(rx), br.CreationTimestamp) || reaction.Recorded(br, rx.Name, string(rx.UID)) {
			continue
		}
		if ok, err := w.matchers[i].Matches(&br.Spec); err == nil && ok && len(reaction.Runs(rx.Spec.RunFor, &br.Spec)) > 0 {
			out = append(out, rx)
		}
	}
	return out
}
