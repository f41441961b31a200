package controllers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battlestore"
	"github.com/battleops/battle-operator/internal/delivery"
	"github.com/battleops/battle-operator/internal/reaction"
)

// JobOwnerIndex is the Job field index holding the name of the BattleReaction that controls it.
const JobOwnerIndex = "battleops.reactionOwner"

// maxJobsPerReconcile bounds the Jobs one round of a reconcile plans; the rest follow in the
// next round or reconcile.
const maxJobsPerReconcile = 200

// fireWindow is how often a firing reconcile that is never idle (battles keep arriving while
// its writes are in flight) takes its Jobs from the cache again and writes its status;
// maxFiring bounds how long it plans, after which the next reconcile carries on. A test
// shortens them (setFiringWindows).
const (
	fireWindow = 10 * time.Second
	maxFiring  = 6 * fireWindow
)

// firingWindowsOverride, when set, replaces fireWindow and maxFiring (a test's).
var firingWindowsOverride atomic.Pointer[[2]time.Duration]

// firingWindows are fireWindow and maxFiring, or a test's.
func firingWindows() (window, most time.Duration) {
	if o := firingWindowsOverride.Load(); o != nil {
		return o[0], o[1]
	}
	return fireWindow, maxFiring
}

// fireConcurrency is how many battles one reconcile creates Jobs for at once, and how many it
// records at once (API calls; one at a time, a burst of matching battles queues behind them).
// Creates and records do not share it: a battle's Jobs never wait behind earlier records.
const fireConcurrency = 16

// BattleReactionReconciler runs a reaction's Job once per matching battle (or room) of its
// namespace. It is level-triggered: each reconcile reads the reaction, its Jobs and the battles
// it may still fire for from the cache, and converges. What fired is recorded on the
// BattleResult (status.reactions, one entry per reaction, written by server-side apply), so it
// outlives the Jobs and costs one write per battle and reaction.
//
// The battles a reaction may still fire for are kept in an index (reaction.Pending), built by
// one scan of the namespace when the reaction is first reconciled in this process or its
// criteria or window change, then fed by the BattleResult watch: an arriving battle costs each
// reaction of its namespace the examination of that battle, not of every battle stored.
type BattleReactionReconciler struct {
	Client client.Client
	// Battles are the stored BattleResults.
	Battles  *battlestore.Store
	Recorder events.EventRecorder
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// created remembers the Jobs this process created that the cache may not show yet, so a
	// reconcile running on a stale cache neither exceeds maxRunningJobs nor miscounts.
	created expectations
	// writes remembers each reaction's last status write until the cache shows it.
	writes ownWrites[*livev1alpha1.BattleReaction]

	// pending holds, per reaction, the battles it may still have to fire for.
	pending reaction.Pending

	// Secrets reads the Secrets an HTTP reaction's headers name, from the API server.
	Secrets client.Reader
	// Sender sends HTTP reactions' requests; delivery.NewSender's when nil.
	Sender *delivery.Sender
	// http are the HTTP reactions' runs of this process.
	http *deliveries
	// base is the manager's lifetime: runs in flight outlive the reconcile that starts them.
	base context.Context
	// warmer builds the indexes while this replica does not lead.
	warmer *indexWarmer
}

// +kubebuilder:rbac:groups=live.battleops.io,resources=battlereactions,verbs=get;list;watch
// +kubebuilder:rbac:groups=live.battleops.io,resources=battlereactions/status,verbs=get;update
// +kubebuilder:rbac:groups=live.battleops.io,resources=battleresults/status,verbs=get;patch
// +kubebuilder:rbac:groups=live.battleops.io,resources=battlereactions/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile brings one reaction up to date.
func (r *BattleReactionReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	r.warmer.stop() // this replica leads: the standby's warm-up of the indexes ends (after a pass in progress)
	var cached livev1alpha1.BattleReaction
	if err := r.Client.Get(ctx, req.NamespacedName, &cached); err != nil {
		if apierrors.IsNotFound(err) {
			// The reaction is gone; the garbage collector deletes its Jobs. Let them go.
			r.pending.Forget(req.NamespacedName)
			r.writes.forget(req.NamespacedName)
			r.http.forget(req.NamespacedName, "")
			return reconcile.Result{}, r.releaseStrays(ctx, req.NamespacedName, "")
		}
		return reconcile.Result{}, err
	}
	rx := *r.writes.latest(&cached) // our last status write, when the cache does not show it yet
	r.http.forget(req.NamespacedName, rx.UID)
	if err := r.releaseStrays(ctx, req.NamespacedName, rx.UID); err != nil {
		return reconcile.Result{}, err
	}

	jobs, owned, err := r.ownedJobs(ctx, &rx)
	if err != nil {
		return reconcile.Result{}, err
	}

	// Decide (pure), then act.
	matcher, invalid := reaction.Compile(rx.Spec.Match)
	plan := reaction.PlanReconcile(reaction.PlanInput{Reaction: &rx, Jobs: owned, Invalid: invalid, Now: metav1.NewTime(r.now()),
		// Only the Jobs beyond the history limits are looked up, each by its battle's name.
		Recorded: func(job *batchv1.Job) bool {
			br, ok := r.Battles.Get(rx.Namespace, job.Labels[reaction.LabelBattleResult])
			return !ok || reaction.Recorded(br, rx.Name, string(rx.UID)) // gone: nothing can run for it again
		}})
	for _, job := range plan.Prune {
		if err := r.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("pruning Job %s: %w", job.Name, err)
		}
		logger.V(1).Info("Pruned Job", "job", klog.KObj(job))
	}
	r.warn(&rx, plan.Warning)
	switch plan.Course {
	case reaction.Deliver:
		return r.deliver(ctx, &rx, plan.Criteria, matcher, plan.Ready)
	case reaction.FireJobs:
		return r.fire(ctx, &rx, plan.Criteria, matcher, jobs, plan.Ready)
	}
	// It holds: its index goes (a fix changes the criteria, and the index is built again), and
	// a reaction being deleted sends nothing more, whatever else is wrong with it (until
	// b244106 one with an invalid expression kept its runs in flight until they ended).
	r.pending.Drop(rx.UID)
	if rx.DeletionTimestamp != nil {
		r.http.forget(req.NamespacedName, "")
	}
	if !equality.Semantic.DeepEqual(&rx.Status, plan.Status) {
		if err := r.writeStatus(ctx, &rx, plan.Status); err != nil {
			return statusWriteFailed(ctx, err)
		}
	}
	return r.release(ctx, &rx, plan.Release)
}

// ownedJobs are the reaction's Jobs, by name and as a list: those the cache shows, and those
// this process created that it does not show yet. They are the cache's own objects: read-only
// (removeFinalizer copies the one it changes), not a copy of every Job on each reconcile.
func (r *BattleReactionReconciler) ownedJobs(ctx context.Context, rx *livev1alpha1.BattleReaction) (map[string]*batchv1.Job, []*batchv1.Job, error) {
	var jobList batchv1.JobList
	if err := r.Client.List(ctx, &jobList, client.InNamespace(rx.Namespace), client.MatchingFields{JobOwnerIndex: rx.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, err
	}
	jobs := map[string]*batchv1.Job{}
	var owned []*batchv1.Job
	for i := range jobList.Items {
		job := &jobList.Items[i]
		if ref := metav1.GetControllerOf(job); ref != nil && ref.UID == rx.UID {
			owned = append(owned, job)
			jobs[job.Name] = job
		}
	}
	owned = append(owned, r.created.fill(rx.UID, jobs, r.now())...)
	return jobs, owned, nil
}

// compose is the reaction's status (reaction.Status) with the Ready condition, the counts of
// its Jobs (owned) and, when it fired, what firing found (nil when it did not). It returns the
// counts and the Jobs whose finalizers may go once that status is stored.
func (r *BattleReactionReconciler) compose(rx *livev1alpha1.BattleReaction, criteria *livev1alpha1.CriteriaRecord, ready metav1.Condition,
	owned []*batchv1.Job, fired *reaction.Fired) (*livev1alpha1.BattleReactionStatus, reaction.Counts, []*batchv1.Job) {
	return reaction.Status(reaction.StatusInput{Reaction: rx, Criteria: criteria, Ready: ready, Now: metav1.NewTime(r.now()), Jobs: owned, Fired: fired})
}

// firedJobs is what firing Jobs found: the battles waiting, and the latest fired for among
// what is stored, what this process saw fire (a status write may have failed) and what fired
// now.
func (r *BattleReactionReconciler) firedJobs(rx *livev1alpha1.BattleReaction, state *fireState) *reaction.Fired {
	return &reaction.Fired{Waiting: state.waiting + state.failed, Last: r.pending.Fired(rx.UID, state.last)}
}

// writeStatus writes status as rx's; on success rx is the reaction as written.
func (r *BattleReactionReconciler) writeStatus(ctx context.Context, rx *livev1alpha1.BattleReaction, status *livev1alpha1.BattleReactionStatus) error {
	next := rx.DeepCopy()
	next.Status = *status
	if err := r.Client.Status().Update(ctx, next); err != nil {
		return err
	}
	r.writes.wrote(next, rx.ResourceVersion)
	countFinishedJobs(&rx.Status, status)
	*rx = *next
	return nil
}

// statusWriteFailed is how a reconcile ends whose status write failed.
func statusWriteFailed(ctx context.Context, err error) (reconcile.Result, error) {
	switch {
	case apierrors.IsConflict(err):
		// A newer reaction than the cache and our own last write show (an edit): the event of
		// that version brings us back.
		log.FromContext(ctx).V(1).Info("The status write conflicted; reconciling again in a second")
		return reconcile.Result{RequeueAfter: time.Second}, nil
	case apierrors.IsNotFound(err):
		return reconcile.Result{}, nil // deleted meanwhile: its deletion event releases its Jobs
	}
	return reconcile.Result{}, fmt.Errorf("writing the reaction's status: %w", err)
}

// release removes the finalizers of Jobs whose counts are stored. A Job deleted while its
// battle is not recorded yet (a battle whose Jobs are not all created: maxRunningJobs) keeps
// its finalizer until the battle is recorded: while it exists, deleting, it is not created
// again. The reconcile then comes back to release it.
func (r *BattleReactionReconciler) release(ctx context.Context, rx *livev1alpha1.BattleReaction, jobs []*batchv1.Job) (reconcile.Result, error) {
	held := false
	for _, job := range jobs {
		// Held only while the reaction still means to record the battle (it is in the
		// reaction's index): a battle that no longer matches, left the window, or whose
		// reaction cannot fire (an invalid spec) lets its Job go.
		name := job.Labels[reaction.LabelBattleResult]
		br, ok := r.Battles.Get(rx.Namespace, name)
		if ok && rx.DeletionTimestamp == nil && r.pending.Has(rx.UID, name) && !reaction.Recorded(br, rx.Name, string(rx.UID)) {
			held = true
			continue
		}
		if err := r.removeFinalizer(ctx, job); err != nil {
			if apierrors.IsConflict(err) {
				return reconcile.Result{RequeueAfter: time.Second}, nil
			}
			return reconcile.Result{}, err
		}
	}
	if held {
		return reconcile.Result{RequeueAfter: 2 * time.Second}, nil
	}
	return reconcile.Result{}, nil
}

// fireState is what firing found, for the status.
type fireState struct {
	last    *livev1alpha1.FiredBattle // the latest battle fired for, by arrival
	waiting int64                     // matching battles waiting for Jobs
	failed  int64                     // battles whose record failed (they wait too)
}

// fire runs the reaction's Jobs for the battles due and writes its status. It works in rounds:
// a round examines the battles that arrived and starts the creates of their Jobs; a battle
// whose Jobs all exist then gets its record started. Creates, records and the status write
// are in flight while the next rounds run, so a battle arriving meanwhile gets its Jobs after
// one create, not after the creates and writes before it. Planning and the bookkeeping of
// what finished happen here, one at a time; only the API calls run concurrently.
//
// Firing ends when nothing is in flight and the status is stored. A reaction whose battles
// keep it busy does not stop to drain: every fireWindow it takes its Jobs from the cache
// again and writes its status as it is (a checkpoint), and goes on planning. It stops
// planning once the cache shows the reaction edited, on an error, or after maxFiring (so a
// reaction that is never idle gives its worker up to the others now and then); then the
// creates not started yet are skipped after an edit (or a refused template), what is in
// flight returns, and the next reconcile carries on, with the new spec.
func (r *BattleReactionReconciler) fire(ctx context.Context, rx *livev1alpha1.BattleReaction, criteria *livev1alpha1.CriteriaRecord,
	matcher *reaction.Matcher, jobs map[string]*batchv1.Job, ready metav1.Condition) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	began := time.Now()
	windowed := rx.DeepCopy()
	windowed.Status.Criteria = criteria

	fr := &firingRounds{r: r, ctx: ctx, rx: rx, windowed: windowed, matcher: matcher, jobs: jobs, ready: &ready,
		firings: map[string]*firing{}, inFlight: map[string]bool{}, done: make(chan *firing),
		creatingSlots: make(chan struct{}, fireConcurrency), recordingSlots: make(chan struct{}, fireConcurrency)}

	var (
		writing      chan written // the status write in flight
		writeErr     error
		release      []*batchv1.Job
		counts       reaction.Counts
		checkpoints  int
		replan       bool // plan a round though nothing arrived: a checkpoint found battles waiting
		window, most = firingWindows()
	)
	checkpoint := time.NewTimer(window)
	defer checkpoint.Stop()
	stop := began.Add(most)
	fr.round()
	for {
		fr.stopped = fr.stopped || fr.err != nil || writeErr != nil || ctx.Err() != nil || !time.Now().Before(stop)
		if fr.mayPlan() && (replan || r.pending.Arrivals(rx.UID)) {
			replan = false
			fr.round()
			continue
		}
		if fr.idle() && writing == nil {
			if writeErr != nil {
				break
			}
			var status *livev1alpha1.BattleReactionStatus
			status, counts, release = r.compose(rx, criteria, ready, slices.Collect(maps.Values(fr.jobs)), r.firedJobs(rx, &fr.state))
			if equality.Semantic.DeepEqual(&rx.Status, status) {
				break
			}
			writing = r.startWrite(ctx, rx, status)
		}
		var arrived <-chan struct{}
		if fr.mayPlan() {
			arrived = r.pending.Notify(rx.UID)
		}
		var due <-chan time.Time // a checkpoint: only while busy planning, one write at a time
		if !fr.idle() && !fr.stopped && writing == nil {
			due = checkpoint.C
		}
		select {
		case f := <-fr.done:
			fr.returned(f)
		case w := <-writing:
			writing = nil
			if writeErr = w.err; writeErr == nil {
				*rx = *w.rx
			}
		case <-arrived:
		case <-due:
			checkpoint.Reset(window)
			status, err := fr.checkpoint(criteria)
			if err != nil {
				fr.err = cmp.Or(fr.err, err)
				continue
			}
			checkpoints++
			if status != nil {
				writing = r.startWrite(ctx, rx, status)
			}
			replan = fr.state.waiting > 0 // Jobs that finished may have made room for them
		}
	}
	if fr.created > 0 {
		logger.V(1).Info("Fired", "jobsCreated", fr.created, "rounds", fr.rounds, "checkpoints", checkpoints,
			"waiting", fr.state.waiting+fr.state.failed, "firing", time.Since(began).String())
	}
	if writeErr != nil {
		return statusWriteFailed(ctx, writeErr)
	}
	return r.fired(ctx, rx, fr, release, counts)
}

// written is a status write that returned.
type written struct {
	rx  *livev1alpha1.BattleReaction // as written
	err error
}

// startWrite writes status as rx's (a copy) in the background; the channel gets what it came to.
func (r *BattleReactionReconciler) startWrite(ctx context.Context, rx *livev1alpha1.BattleReaction, status *livev1alpha1.BattleReactionStatus) chan written {
	done := make(chan written, 1)
	go func(rx *livev1alpha1.BattleReaction) {
		err := r.writeStatus(ctx, rx, status)
		done <- written{rx, err}
	}(rx.DeepCopy())
	return done
}

// fired ends a firing whose status is stored: the finalizers of the Jobs it counted go, and
// it comes back soon when battles still wait for Jobs that maxRunningJobs would allow.
func (r *BattleReactionReconciler) fired(ctx context.Context, rx *livev1alpha1.BattleReaction, fr *firingRounds, release []*batchv1.Job, counts reaction.Counts) (reconcile.Result, error) {
	result, err := r.release(ctx, rx, release)
	if err != nil {
		return result, err
	}
	if fr.err != nil {
		return reconcile.Result{}, fr.err
	}
	if !result.IsZero() {
		return result, nil
	}
	if fr.ready.Reason == livev1alpha1.ReasonActive && fr.state.waiting+fr.state.failed > 0 && (rx.Spec.MaxRunningJobs == 0 || counts.Running < int64(rx.Spec.MaxRunningJobs)) {
		return reconcile.Result{RequeueAfter: time.Second}, nil // more than one reconcile's worth
	}
	return reconcile.Result{}, nil
}

// edited says whether the cache shows the reaction changed from rx: a new generation, being
// deleted, or gone (or a new reaction of the name).
func (r *BattleReactionReconciler) edited(ctx context.Context, rx *livev1alpha1.BattleReaction) bool {
	var current livev1alpha1.BattleReaction
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(rx), &current); err != nil {
		return true
	}
	return current.UID != rx.UID || current.Generation != rx.Generation || current.DeletionTimestamp != nil
}

// recorded takes in a battle whose record was written: recorded (or deleted meanwhile), it
// leaves the reaction's index; if its record failed, it waits, and is tried again.
func (r *BattleReactionReconciler) recorded(rx *livev1alpha1.BattleReaction, state *fireState, f *firing) error {
	if f.err != nil && !apierrors.IsNotFound(f.err) {
		state.failed++
		return f.err
	}
	r.pending.Settle(rx.UID, f.br.Name)
	if f.err == nil {
		state.last = reaction.LaterFired(state.last, reaction.FiredFor(rx, f.br))
	}
	return nil
}

// templateError is a Job the API server refused for its template.
type templateError struct{ err error }

func (e *templateError) Error() string { return e.err.Error() }

// planRound plans one round of firing. It gathers the battles due (the reaction's index) and
// plans them (reaction.PlanRound: which battles get which Jobs, within maxRunningJobs and
// maxJobsPerReconcile; a battle planned whole in an earlier round is not planned again, and
// no round is planned while a partial battle's creates are in flight). It returns the battles planned, the last battle fired for (by
// arrival, among those it saw recorded), how many matching battles still wait for Jobs, and a
// *templateError when the template makes no Job.
func (r *BattleReactionReconciler) planRound(ctx context.Context, rx *livev1alpha1.BattleReaction, matcher *reaction.Matcher,
	jobs map[string]*batchv1.Job, firings map[string]*firing) ([]reaction.Planned, *livev1alpha1.FiredBattle, int64, error) {
	due, last := r.due(ctx, rx, matcher)
	if rx.Spec.Suspend {
		return nil, last, int64(len(due)), nil
	}
	round := reaction.PlanRound(reaction.RoundInput{
		Reaction: rx, Due: due, Jobs: jobs, MaxJobs: maxJobsPerReconcile,
		Planned: func(name string) bool { f := firings[name]; return f != nil && !f.partial },
		Pending: func(name string) bool { return r.pending.Has(rx.UID, name) },
	})
	if round.Err != nil {
		return round.Battles, last, round.Waiting, &templateError{round.Err}
	}
	return round.Battles, last, round.Waiting, nil
}

// create creates one battle's missing Jobs in order, and returns how many of them exist now
// (created, or found existing) and how many it created; it stops at the first error.
func (r *BattleReactionReconciler) create(ctx context.Context, rx *livev1alpha1.BattleReaction, missing []*batchv1.Job) (exist, created int, err error) {
	for _, job := range missing {
		if hook := beforeCreate.Load(); hook != nil {
			(*hook)(ctx, job)
		}
		began := time.Now()
		switch err := r.Client.Create(ctx, job); {
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
			return exist, created, &templateError{fmt.Errorf("the API server refused the Job: %w", err)}
		case apierrors.IsAlreadyExists(err):
			if owner, foreign := r.foreignJob(ctx, job); foreign {
				// A Job of the same name that is not this reaction's: one of a deleted reaction of
				// the same name, which the garbage collector deletes. It is not ours to adopt.
				log.FromContext(ctx).Info("Waiting for the Job of another reaction of the same name to be deleted", "job", klog.KObj(job), "ownerUID", owner)
				return exist, created, errForeignJob
			}
			// Ours (an earlier reconcile's): known to exist, also to a checkpoint whose cache
			// does not show it yet.
			r.created.add(rx.UID, job, r.now())
		case err != nil:
			return exist, created, fmt.Errorf("creating Job %s: %w", job.Name, err)
		case err == nil:
			log.FromContext(ctx).Info("Created Job", "job", klog.KObj(job), "battleResult", job.Labels[reaction.LabelBattleResult],
				"took", time.Since(began).Round(time.Millisecond).String())
			r.created.add(rx.UID, job, r.now())
			created++
			reactionJobsCreated.Inc()
		}
		exist++
	}
	return exist, created, nil
}

// errForeignJob is a Job name taken by a Job this reaction does not control: the battle waits.
var errForeignJob = errors.New("a Job of the name belongs to another reaction")

// foreignJob says whether the Job named like job, which exists, is controlled by anything but
// job's reaction (its UID), and by what.
func (r *BattleReactionReconciler) foreignJob(ctx context.Context, job *batchv1.Job) (types.UID, bool) {
	var existing batchv1.Job
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(job), &existing); err != nil {
		return "", false // not in the cache yet: ours, just created by an earlier round
	}
	mine, theirs := metav1.GetControllerOf(job), metav1.GetControllerOf(&existing)
	if theirs == nil || mine == nil || theirs.UID == mine.UID {
		return "", false
	}
	return theirs.UID, true
}

// record stores on the BattleResult that the reaction fired for it: the reaction's own entry of
// status.reactions (fields: its Jobs, or what its HTTP runs came to), applied server-side under
// a field manager of its own, so reactions never overwrite each other's entries.
func (r *BattleReactionReconciler) record(ctx context.Context, rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult, fields map[string]any) error {
	if hook := beforeRecord.Load(); hook != nil {
		(*hook)(ctx, br)
	}
	entry := maps.Clone(fields)
	entry["reaction"] = rx.Name
	entry["uid"] = string(rx.UID)
	entry["firedAt"] = metav1.NewTime(r.now()).UTC().Format(time.RFC3339)
	patch := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": livev1alpha1.GroupVersion.String(),
		"kind":       "BattleResult",
		"metadata":   map[string]any{"name": br.Name, "namespace": br.Namespace},
		"status":     map[string]any{"reactions": []any{entry}},
	}}
	// An unstructured apply configuration: no generated apply configurations for one entry.
	if err := r.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(patch), client.FieldOwner(fieldManager(rx.Name)), client.ForceOwnership); err != nil {
		return fmt.Errorf("recording the reaction on BattleResult %s: %w", br.Name, err)
	}
	return nil
}

// beforeRecord and beforeCreate, when set, run before each record is written and before each
// Job is created: a test holds those writes back with them, to see what does not wait for them.
// afterDue, when set, runs when an HTTP reaction's reconcile has found its due battles: a test
// lets the store move on there. haltedByEdit, when set, runs when a firing reconcile stops
// planning because the reaction was edited: a test waits for it.
var (
	beforeRecord atomic.Pointer[func(context.Context, *livev1alpha1.BattleResult)]
	beforeCreate atomic.Pointer[func(context.Context, *batchv1.Job)]
	afterDue     atomic.Pointer[func(context.Context, *battlestore.Store, []*livev1alpha1.BattleResult)]
	haltedByEdit atomic.Pointer[func(*livev1alpha1.BattleReaction)]
)

// fieldManager is the reaction's own field manager on BattleResults.
func fieldManager(name string) string {
	const prefix = "battle-operator/reaction/"
	if len(prefix)+len(name) > 128 { // a field manager name has at most 128 characters
		sum := sha256.Sum256([]byte(name))
		return prefix + hex.EncodeToString(sum[:16])
	}
	return prefix + name
}

// warn records w, when there is one, as a Warning Event on the reaction.
func (r *BattleReactionReconciler) warn(rx *livev1alpha1.BattleReaction, w *reaction.Warning) {
	if w != nil {
		r.Recorder.Eventf(rx, nil, corev1.EventTypeWarning, w.Reason, "Validate", "%s", w.Message)
	}
}

// releaseStrays removes the finalizer from Jobs indexed under the reaction's name that no longer
// belong to it (uid empty: the reaction is gone). Nothing counts them any more.
func (r *BattleReactionReconciler) releaseStrays(ctx context.Context, key types.NamespacedName, uid types.UID) error {
	var jobs batchv1.JobList
	// Read-only: the cache's own objects (removeFinalizer copies the one it changes).
	if err := r.Client.List(ctx, &jobs, client.InNamespace(key.Namespace), client.MatchingFields{JobOwnerIndex: key.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if ref := metav1.GetControllerOf(job); uid != "" && ref != nil && ref.UID == uid {
			continue
		}
		if err := r.removeFinalizer(ctx, job); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

func (r *BattleReactionReconciler) removeFinalizer(ctx context.Context, job *batchv1.Job) error {
	if !controllerutil.ContainsFinalizer(job, reaction.Finalizer) {
		return nil
	}
	job = job.DeepCopy() // it may be the cache's own object
	patch := client.MergeFromWithOptions(job.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(job, reaction.Finalizer)
	if err := r.Client.Patch(ctx, job, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("releasing Job %s: %w", job.Name, err) // a conflict: the Job's event retries
	}
	return nil
}

func (r *BattleReactionReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// jobOwner indexes a Job under the name of the BattleReaction that controls it.
func jobOwner(obj client.Object) []string {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "BattleReaction" || ref.APIVersion != livev1alpha1.GroupVersion.String() {
		return nil
	}
	return []string{ref.Name}
}

// SetupWithManager registers the Job index and the watches: a reaction is reconciled when it
// changes, when one of its Jobs changes, when a BattleResult arrives in its namespace that its
// criteria do not rule out (the battle also enters the reaction's index; battleEvents), and
// when a battle it waits for is deleted.
func (r *BattleReactionReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &batchv1.Job{}, JobOwnerIndex, jobOwner); err != nil {
		return err
	}
	r.base, r.http = ctx, newDeliveries()
	battles := r.Battles.Source(r.battleEvents())
	r.warmer = &indexWarmer{r: r, reader: mgr.GetCache(), battles: battles, elected: mgr.Elected()}
	if err := mgr.Add(r.warmer); err != nil {
		return err
	}
	if r.Sender == nil {
		r.Sender = delivery.NewSender("battle-operator")
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("battlereaction").
		// Reactions are independent; their shared state (expectations, the pending index) is
		// locked. Several at once keep one reaction's Jobs from waiting behind the others.
		// Warm-up: a standby replica starts its sources before it leads (the BattleResults,
		// Jobs and reactions in its cache), and builds the indexes of pending battles
		// (indexWarmer), keeping per battle only what waits for the leader.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4, EnableWarmup: ptr.To(true)}).
		For(&livev1alpha1.BattleReaction{}).
		// Jobs of a deleted reaction still map to its name, so their finalizers are released.
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(namesInNamespace(jobOwner))).
		WatchesRawSource(battles).
		// An HTTP reaction's battle whose runs all finished in this process.
		WatchesRawSource(source.Channel(r.http.done, &handler.EnqueueRequestForObject{})).
		Complete(r)
}
