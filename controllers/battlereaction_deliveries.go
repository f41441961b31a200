package controllers

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/delivery"
	"github.com/battleops/battle-operator/internal/reaction"
)

// deliveries are the HTTP reactions' runs of this process: in flight, and finished but not yet
// counted in their reaction's status. A run in flight when the process stops is not finished:
// its battle is not recorded, so the next leader sends it again, under the same key.
type deliveries struct {
	mu         sync.Mutex
	byReaction map[types.UID]*reactionRuns
	// done wakes a reaction when one of its battles' runs have all finished.
	done chan event.GenericEvent
}

type reactionRuns struct {
	key    types.NamespacedName
	cancel context.CancelFunc
	ctx    context.Context
	// busy are the battles whose runs are in flight, by name.
	busy map[string]bool
	// runs counts the runs in flight: started and not finished.
	runs int
	// slots hold one token per request being sent: at most maxRunningJobs.
	slots chan struct{}
	// finished are the battles whose runs all finished, by name, not yet counted.
	finished map[string]reaction.FinishedBattle
	// recorded are the battles this process recorded whose record the battle store may not
	// show yet: a scan would find them due again.
	recorded map[string]bool
}

func newDeliveries() *deliveries {
	return &deliveries{byReaction: map[types.UID]*reactionRuns{}, done: make(chan event.GenericEvent, 1024)}
}

// of returns a reaction's deliveries; runs started for it end when base ends or the reaction
// is forgotten.
func (d *deliveries) of(base context.Context, uid types.UID, key types.NamespacedName) *reactionRuns {
	rd := d.byReaction[uid]
	if rd == nil {
		ctx, cancel := context.WithCancel(base)
		rd = &reactionRuns{key: key, ctx: ctx, cancel: cancel, busy: map[string]bool{}, finished: map[string]reaction.FinishedBattle{}, recorded: map[string]bool{}}
		d.byReaction[uid] = rd
	}
	return rd
}

// forget stops the runs in flight of the reactions of key other than keep (a reaction gone,
// being deleted, or replaced by a new one of its name; keep "" for none) and drops what they
// did not count: nothing is recorded for them any more.
func (d *deliveries) forget(key types.NamespacedName, keep types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for uid, rd := range d.byReaction {
		if rd.key == key && uid != keep {
			rd.cancel()
			delete(d.byReaction, uid)
		}
	}
}

// snapshot returns, for a reaction, the runs in flight, a copy of its finished battles, and
// whether a battle is busy (in flight, finished, or recorded here and not yet seen recorded:
// seen says whether the store shows a battle recorded, or gone).
func (d *deliveries) snapshot(base context.Context, uid types.UID, key types.NamespacedName, seen func(string) bool) (runs int, finished map[string]reaction.FinishedBattle, busy func(string) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rd := d.of(base, uid, key)
	inFlight := make(map[string]bool, len(rd.busy)+len(rd.finished)+len(rd.recorded))
	for name := range rd.busy {
		inFlight[name] = true
	}
	for name := range rd.recorded {
		if seen(name) {
			delete(rd.recorded, name)
			continue
		}
		inFlight[name] = true
	}
	finished = make(map[string]reaction.FinishedBattle, len(rd.finished))
	for name, f := range rd.finished {
		finished[name] = f
		inFlight[name] = true
	}
	return rd.runs, finished, func(name string) bool { return inFlight[name] }
}

// counted drops finished battles that the reaction's stored status now counts.
func (d *deliveries) counted(uid types.UID, names []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rd := d.byReaction[uid]; rd != nil {
		for _, name := range names {
			delete(rd.finished, name)
		}
	}
}

// fail keeps a battle whose runs could not start as finished, every run failed with err.
func (d *deliveries) fail(base context.Context, rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult, runs int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.of(base, rx.UID, client.ObjectKeyFromObject(rx)).finished[br.Name] = reaction.FinishedBattle{Record: livev1alpha1.DeliveryRecord{
		BattleResult: br.Name, Failed: int32(runs), LastError: truncate(err.Error(), maxRecordError)}}
}

// wroteRecord notes a battle this process recorded for the reaction.
func (d *deliveries) wroteRecord(base context.Context, uid types.UID, key types.NamespacedName, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.of(base, uid, key).recorded[name] = true
}

// start sends a battle's runs, each in its own goroutine, and when all have finished keeps
// the battle's record among the finished and wakes the reaction.
func (d *deliveries) start(base context.Context, rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult, reqs []delivery.Request, send func(context.Context, delivery.Request) (delivery.Result, bool)) {
	limit := int(rx.Spec.MaxRunningJobs)
	if limit <= 0 {
		limit = reaction.DefaultMaxInFlight
	}
	d.mu.Lock()
	rd := d.of(base, rx.UID, client.ObjectKeyFromObject(rx))
	rd.busy[br.Name] = true
	rd.runs += len(reqs)
	if cap(rd.slots) != limit {
		rd.slots = make(chan struct{}, limit) // runs started before keep the old slots
	}
	ctx, slots := rd.ctx, rd.slots
	d.mu.Unlock()

	key := client.ObjectKeyFromObject(rx)
	fired := reaction.FiredFor(rx, br)
	go func() {
		results := make([]delivery.Result, len(reqs))
		final := true
		var wg sync.WaitGroup
		for i, req := range reqs {
			wg.Go(func() {
				// At most maxRunningJobs requests of the reaction at once: a battle with more
				// runs than that starts alone, and its runs take turns.
				var res delivery.Result
				ok := false
				select {
				case slots <- struct{}{}:
					res, ok = send(ctx, req)
					<-slots
				case <-ctx.Done():
				}
				results[i] = res
				d.mu.Lock()
				rd.runs--
				if !ok {
					final = false
				}
				d.mu.Unlock()
			})
		}
		wg.Wait()
		rec := livev1alpha1.DeliveryRecord{BattleResult: br.Name}
		for _, res := range results {
			if res.Delivered {
				rec.Delivered++
				continue
			}
			rec.Failed++
			rec.LastStatus, rec.LastError = int32(res.Status), truncate(res.Err, maxRecordError)
		}
		d.mu.Lock()
		delete(rd.busy, br.Name)
		if final {
			f := reaction.FinishedBattle{Record: rec}
			if rec.Delivered > 0 {
				f.Fired = fired
			}
			rd.finished[br.Name] = f
		}
		d.mu.Unlock()
		if final {
			obj := &livev1alpha1.BattleReaction{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
			select {
			case d.done <- event.GenericEvent{Object: obj}:
			case <-ctx.Done():
			}
		}
	}()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
