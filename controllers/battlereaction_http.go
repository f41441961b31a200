package controllers

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/delivery"
	"github.com/battleops/battle-operator/internal/reaction"
)

// maxRecordError bounds the error text kept in a record.
const maxRecordError = 512

// maxRecording bounds the battles one reaction's status lists as being recorded.
const maxRecording = 1000

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
	// busy are the battles whose runs are in flight, by name (how many runs).
	busy map[string]int
	// runs counts the runs in flight: started and not finished.
	runs int
	// slots hold one token per request being sent: at most maxRunningJobs.
	slots chan struct{}
	// finished are the battles whose runs all finished, by name, not yet counted.
	finished map[string]*finishedBattle
	// recorded are the battles this process recorded whose record the battle store may not
	// show yet: a scan would find them due again.
	recorded map[string]bool
}

type finishedBattle struct {
	record livev1alpha1.DeliveryRecord
	fired  *livev1alpha1.FiredBattle // when delivered
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
		rd = &reactionRuns{key: key, ctx: ctx, cancel: cancel, busy: map[string]int{}, finished: map[string]*finishedBattle{}, recorded: map[string]bool{}}
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
func (d *deliveries) snapshot(base context.Context, uid types.UID, key types.NamespacedName, seen func(string) bool) (runs int, finished map[string]*finishedBattle, busy func(string) bool) {
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
	finished = make(map[string]*finishedBattle, len(rd.finished))
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
	d.of(base, rx.UID, client.ObjectKeyFromObject(rx)).finished[br.Name] = &finishedBattle{record: livev1alpha1.DeliveryRecord{
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
	rd.busy[br.Name] = len(reqs)
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
			f := &finishedBattle{record: rec}
			if rec.Delivered > 0 {
				f.fired = fired
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

// deliver is the reconcile of an HTTP reaction. Each battle's record takes three steps, each
// one write that a restart resumes from:
//
//  1. its runs finish (in this process, not stored; a restart sends them again, same key);
//  2. the reaction's status counts them and lists the battle under deliveries.recording;
//  3. the record is written on the BattleResult from that list, and the battle leaves it.
//
// So a run is counted once and a recorded battle is never sent again.
func (r *BattleReactionReconciler) deliver(ctx context.Context, rx *livev1alpha1.BattleReaction, criteria *livev1alpha1.CriteriaRecord,
	matcher *reaction.Matcher, ready metav1.Condition) (reconcile.Result, error) {
	windowed := rx.DeepCopy() // what due reads: the criteria in force
	windowed.Status.Criteria = criteria
	var recordErr error
	for pass := 0; pass < 2; pass++ {
		// The battles the stored status counts already: a finished battle among them was
		// counted by a write that returned an error but was applied.
		counted := map[string]bool{}
		if rx.Status.Deliveries != nil {
			for _, rec := range rx.Status.Deliveries.Recording {
				counted[rec.BattleResult] = true
			}
		}
		// Step 3 for the battles the stored status lists.
		recording, err := r.recordDeliveries(ctx, rx)
		recordErr = err

		// The battles busy here, taken before the due ones: a battle this process recorded
		// stays busy until the store shows its record, and the store shows it to due too
		// from then on. Taken after due, the store could show the record to the snapshot
		// only, and a battle due on the older view would be sent again.
		runs, _, busy := r.http.snapshot(r.base, rx.UID, client.ObjectKeyFromObject(rx), func(name string) bool {
			br, ok := r.Battles.Get(rx.Namespace, name)
			return !ok || reaction.Recorded(br, rx.Name, string(rx.UID))
		})
		due, _, err := r.due(ctx, windowed, matcher)
		if err != nil {
			return reconcile.Result{}, err
		}
		if hook := afterDue.Load(); hook != nil {
			(*hook)(ctx, r.Battles, due)
		}
		listed := map[string]bool{}
		for _, rec := range recording {
			listed[rec.BattleResult] = true
		}
		plan := reaction.PlanDeliveries(reaction.DeliveryInput{
			Reaction: rx, Due: due, InFlight: runs, MaxRuns: maxJobsPerReconcile,
			Busy: func(name string) bool { return busy(name) || listed[name] },
		})
		for _, p := range plan.Start {
			reqs := make([]delivery.Request, len(p.Runs))
			for i, run := range p.Runs {
				if reqs[i], err = r.request(rx, p.Battle, run); err != nil {
					break
				}
			}
			if err != nil {
				// Its body cannot be made (a BattleResult written by hand): its runs fail now,
				// recorded as such, and the battles after it go on.
				log.FromContext(ctx).Info("A battle's request cannot be made; its runs are recorded as failed", "battleResult", p.Battle.Name, "error", err.Error())
				r.http.fail(r.base, rx, p.Battle, len(p.Runs), err)
				continue
			}
			r.http.start(r.base, rx, p.Battle, reqs, r.Sender.Send)
			runs += len(reqs)
		}
		runs, finished, _ := r.http.snapshot(r.base, rx.UID, client.ObjectKeyFromObject(rx), func(string) bool { return false })

		// Step 2 for the battles finished here.
		status, _, _ := r.compose(rx, criteria, ready, nil, nil)
		counts := status.Deliveries
		if counts == nil {
			counts = &livev1alpha1.DeliveryCounts{}
		}
		counts.Recording = recording
		var counting, countedBefore []string
		for name, f := range finished {
			if listed[name] || counted[name] {
				countedBefore = append(countedBefore, name)
				continue
			}
			if len(counts.Recording) >= maxRecording {
				break // the rest in the next write
			}
			counting = append(counting, name)
			counts.Delivered += int64(f.record.Delivered)
			counts.Failed += int64(f.record.Failed)
			counts.Recording = append(counts.Recording, f.record)
			status.LastFired = reaction.LaterFired(status.LastFired, f.fired)
		}
		slices.SortFunc(counts.Recording, func(a, b livev1alpha1.DeliveryRecord) int {
			return strings.Compare(a.BattleResult, b.BattleResult)
		})
		counts.InFlight = int64(runs)
		status.Deliveries = counts
		status.WaitingBattles = plan.Waiting
		r.http.counted(rx.UID, countedBefore)
		if equality.Semantic.DeepEqual(&rx.Status, status) {
			break
		}
		if err := r.writeStatus(ctx, rx, status); err != nil {
			return statusWriteFailed(ctx, err)
		}
		r.http.counted(rx.UID, counting)
		if len(counting) == 0 {
			break
		}
	}
	if recordErr != nil {
		return reconcile.Result{}, recordErr
	}
	// Battles left to count or to record (past maxRecording, or a record to retry) are not
	// waited for by any event: come back.
	if _, finished, _ := r.http.snapshot(r.base, rx.UID, client.ObjectKeyFromObject(rx), func(string) bool { return false }); len(finished) > 0 ||
		(rx.Status.Deliveries != nil && len(rx.Status.Deliveries.Recording) > 0) {
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	return reconcile.Result{}, nil
}

// recordDeliveries writes the records of the battles the reaction's status lists under
// deliveries.recording, and returns the list without those recorded (or gone).
func (r *BattleReactionReconciler) recordDeliveries(ctx context.Context, rx *livev1alpha1.BattleReaction) ([]livev1alpha1.DeliveryRecord, error) {
	if rx.Status.Deliveries == nil {
		return nil, nil
	}
	var left []livev1alpha1.DeliveryRecord
	var firstErr error
	for _, rec := range rx.Status.Deliveries.Recording {
		br, ok := r.Battles.Get(rx.Namespace, rec.BattleResult)
		if ok && !reaction.Recorded(br, rx.Name, string(rx.UID)) {
			err := r.record(ctx, rx, br, deliveryEntry(&rec))
			if err != nil && !apierrors.IsNotFound(err) {
				firstErr = cmp.Or(firstErr, err)
				left = append(left, rec)
				continue
			}
			r.http.wroteRecord(r.base, rx.UID, client.ObjectKeyFromObject(rx), rec.BattleResult)
		}
		r.pending.Settle(rx.UID, rec.BattleResult)
	}
	return left, firstErr
}

// deliveryEntry is the record's fields beyond the reaction's: what the runs came to.
func deliveryEntry(rec *livev1alpha1.DeliveryRecord) map[string]any {
	entry := map[string]any{"jobs": int64(0)}
	if rec.Delivered > 0 {
		entry["delivered"] = int64(rec.Delivered)
	}
	if rec.Failed > 0 {
		entry["failed"] = int64(rec.Failed)
	}
	if rec.LastStatus > 0 {
		entry["lastStatus"] = int64(rec.LastStatus)
	}
	if rec.LastError != "" {
		entry["lastError"] = rec.LastError
	}
	return entry
}

// request is a run's request: the reaction's URL, body and key, and its headers read when
// each attempt starts.
func (r *BattleReactionReconciler) request(rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult, run reaction.Run) (delivery.Request, error) {
	spec := &rx.Spec.HTTP
	body, err := reaction.HTTPBody(rx, br, run)
	if err != nil {
		return delivery.Request{}, fmt.Errorf("the body for BattleResult %s: %w", br.Name, err)
	}
	timeout, retryFor := 5*time.Second, 10*time.Minute
	if spec.TimeoutSeconds > 0 {
		timeout = time.Duration(spec.TimeoutSeconds) * time.Second
	}
	if spec.RetryForSeconds != nil {
		retryFor = time.Duration(*spec.RetryForSeconds) * time.Second
	}
	headers := slices.Clone(spec.Headers)
	namespace := rx.Namespace
	return delivery.Request{
		URL: spec.URL, Body: body, Key: reaction.IdempotencyKey(rx.UID, br.Name, run.Room),
		Timeout: timeout, RetryFor: retryFor,
		Headers: func(ctx context.Context) (http.Header, error) { return r.headers(ctx, namespace, headers) },
	}, nil
}

// headers are a reaction's headers, each Secret key read from the API server (Secrets are not
// cached: the manager would otherwise hold every Secret of the cluster).
func (r *BattleReactionReconciler) headers(ctx context.Context, namespace string, headers []livev1alpha1.HTTPHeader) (http.Header, error) {
	out := http.Header{}
	for _, h := range headers {
		if h.Value != nil {
			out.Add(h.Name, *h.Value)
			continue
		}
		ref := h.ValueFrom.SecretKeyRef
		var secret corev1.Secret
		if err := r.Secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &secret); err != nil {
			return nil, fmt.Errorf("header %s: reading Secret %s: %w", h.Name, ref.Name, err)
		}
		v, ok := secret.Data[ref.Key]
		if !ok {
			return nil, fmt.Errorf("header %s: Secret %s has no key %q", h.Name, ref.Name, ref.Key)
		}
		out.Add(h.Name, string(v))
	}
	return out, nil
}
