package controllers

import (
	"cmp"
	"context"
	"errors"
	"sync/atomic"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/reaction"
)

// firingRounds is one reconcile's firing (fire): the battles it planned, the creates and
// records in flight, and what they came to. Its methods run on the reconcile's goroutine, one
// at a time; only the API calls they start run concurrently, and each reports on done.
type firingRounds struct {
	r        *BattleReactionReconciler
	ctx      context.Context
	rx       *livev1alpha1.BattleReaction // the reconcile's reaction
	windowed *livev1alpha1.BattleReaction // the reaction as it fires, with its criteria's window
	matcher  *reaction.Matcher
	jobs     map[string]*batchv1.Job // the reaction's Jobs, and those being created
	inFlight map[string]bool         // the names of the Jobs being created
	ready    *metav1.Condition       // the reaction's Ready condition, for its status

	state   fireState
	firings map[string]*firing // by battle name: every battle planned by this reconcile
	done    chan *firing       // a battle's creates, or its record, returned
	// creating and recording hold one token per battle whose creates, or whose record, are
	// in flight: at most fireConcurrency of each, so a record never holds a create back.
	creatingSlots, recordingSlots chan struct{}

	creating int // battles whose creates are in flight
	partial  int // of them, those not planned whole: no round starts until they return
	records  int // records in flight
	created  int // Jobs created
	rounds   int
	err      error // the first error of a create or record
	stopped  bool  // no more rounds: an error, an invalid template, an edit
	refused  bool  // the API server refused the template: reported once

	// halt says that creates not started yet are skipped: the reaction was edited, or its
	// template refused. Read by the create goroutines.
	halt atomic.Bool
}

// mayPlan says whether a new round may start when battles arrive.
func (fr *firingRounds) mayPlan() bool { return !fr.stopped && fr.partial == 0 }

// idle says that no create and no record is in flight.
func (fr *firingRounds) idle() bool { return fr.creating == 0 && fr.records == 0 }

// round plans the battles that arrived (planRound) and starts the creates of their Jobs.
func (fr *firingRounds) round() {
	r := fr.r
	if fr.rounds > 0 && r.edited(fr.ctx, fr.windowed) {
		// The spec this reconcile fires with is no longer the reaction's: the next reconcile,
		// queued by the edit, fires with the new one. Creates still queued are skipped.
		fr.stopped = true
		fr.halt.Store(true)
		if hook := haltedByEdit.Load(); hook != nil {
			(*hook)(fr.rx)
		}
		return
	}
	fr.rounds++
	planned, last, waiting, err := r.planRound(fr.ctx, fr.windowed, fr.matcher, fr.jobs, fr.firings)
	fr.state.last, fr.state.waiting = reaction.LaterFired(fr.state.last, last), waiting
	fr.err = cmp.Or(fr.err, fr.templateRefused(err))
	for _, p := range planned {
		f := &firing{br: p.Battle, runs: p.Runs, partial: p.Partial, missing: p.Missing, creating: true}
		fr.firings[f.br.Name] = f
		for _, job := range f.missing {
			// Counted as running by the next round's plan while it is created. A copy: the
			// create writes the API server's answer into job meanwhile.
			fr.jobs[job.Name] = job.DeepCopy()
			fr.inFlight[job.Name] = true
		}
		fr.creating++
		if f.partial {
			fr.partial++
		}
		go func() {
			fr.creatingSlots <- struct{}{}
			if fr.halt.Load() {
				f.err = errHalted
			} else {
				f.exist, f.made, f.err = r.create(fr.ctx, fr.windowed, f.missing)
			}
			<-fr.creatingSlots
			fr.done <- f
		}()
	}
}

// returned takes in what came on done: a battle whose creates or whose record returned.
func (fr *firingRounds) returned(f *firing) {
	if f.creating {
		fr.createsReturned(f)
		return
	}
	fr.records--
	fr.err = cmp.Or(fr.err, fr.r.recorded(fr.windowed, &fr.state, f))
}

// createsReturned takes in a battle whose creates returned: its Jobs that do not exist leave
// jobs, and a battle whose Jobs all exist gets its record started.
func (fr *firingRounds) createsReturned(f *firing) {
	fr.creating--
	if f.partial {
		fr.partial--
	}
	f.creating = false
	for n, job := range f.missing {
		delete(fr.inFlight, job.Name)
		if n < f.exist {
			fr.jobs[job.Name] = job
		} else {
			delete(fr.jobs, job.Name)
		}
	}
	fr.created += f.made
	err := f.err
	f.err = nil // the record's, next
	switch {
	case errors.Is(err, errHalted):
		if !f.partial { // it waits for the next reconcile
			fr.state.waiting++
		}
	case errors.Is(err, errForeignJob):
		if !f.partial { // a partial battle is counted in its round's waiting already
			fr.state.waiting++
		}
		f.partial = true // it waits, unrecorded, and is planned again in the next round
	case err != nil:
		fr.err = cmp.Or(fr.err, fr.templateRefused(err))
		if !f.partial {
			fr.state.waiting++
		}
	case !f.partial:
		fr.record(f)
	}
}

// checkpoint is what a firing that has been busy for a window does without stopping: it takes
// the reaction's Jobs from the cache again (keeping those being created, for the rounds to
// count), so Jobs that finished meanwhile free their places under maxRunningJobs, and returns
// the status to write as things are, or nil when the stored one is current. That status counts
// the Jobs that exist, not those being created; the next write counts them.
func (fr *firingRounds) checkpoint(criteria *livev1alpha1.CriteriaRecord) (*livev1alpha1.BattleReactionStatus, error) {
	r := fr.r
	jobs, owned, err := r.ownedJobs(fr.ctx, fr.rx)
	if err != nil {
		return nil, err
	}
	status, _, _ := r.compose(fr.rx, criteria, *fr.ready, owned, r.firedJobs(fr.rx, &fr.state))
	for name := range fr.inFlight {
		jobs[name] = fr.jobs[name]
	}
	fr.jobs = jobs
	if equality.Semantic.DeepEqual(&fr.rx.Status, status) {
		return nil, nil
	}
	return status, nil
}

// record starts the record of a battle whose Jobs all exist.
func (fr *firingRounds) record(f *firing) {
	fr.records++
	go func() {
		fr.recordingSlots <- struct{}{}
		f.err = fr.r.record(fr.ctx, fr.windowed, f.br, map[string]any{"jobs": int64(f.runs)})
		<-fr.recordingSlots
		fr.done <- f
	}()
}

// templateRefused turns a template the API server refused into the reaction's
// InvalidJobTemplate condition and stops the rounds; any other error is returned as it is.
func (fr *firingRounds) templateRefused(err error) error {
	var invalid *templateError
	if errors.As(err, &invalid) {
		if !fr.refused { // the first refusal; creates in flight may be refused too
			var warning *reaction.Warning
			*fr.ready, warning = reaction.NotReady(fr.rx, livev1alpha1.ReasonInvalidJobTemplate, invalid.Error())
			fr.r.warn(fr.rx, warning)
			fr.refused = true
		}
		fr.stopped = true
		fr.halt.Store(true)
		return nil
	}
	return err
}

// errHalted is a battle's creates skipped because the firing halted before they started.
var errHalted = errors.New("firing halted before the creates started")

// firing is one battle a reconcile creates Jobs for, then records.
type firing struct {
	br      *livev1alpha1.BattleResult
	runs    int32
	partial bool // not all its Jobs fit: it is not recorded yet

	// The creates in flight, and what they returned.
	creating bool
	missing  []*batchv1.Job
	exist    int // of missing, how many exist now (created, or found existing)
	made     int // of missing, how many were created

	err error // of its creates, or of its record
}
