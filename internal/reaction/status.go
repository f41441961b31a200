package reaction

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// StatusInput is what a reaction's next status is made of.
type StatusInput struct {
	// Reaction is the reaction with its stored status.
	Reaction *livev1alpha1.BattleReaction
	// Criteria are the criteria in force, and since when.
	Criteria *livev1alpha1.CriteriaRecord
	// Ready is the Ready condition; Now is when it changed, if it did.
	Ready metav1.Condition
	Now   metav1.Time
	// Jobs are the reaction's Jobs, for its counts.
	Jobs []*batchv1.Job
	// Fired is what firing found; nil when the reaction did not fire.
	Fired *Fired
}

// Fired is what a reaction's firing found.
type Fired struct {
	// Last is the latest battle it is known to have fired for.
	Last *livev1alpha1.FiredBattle
	// Waiting counts the matching battles still waiting for their Jobs or their record.
	Waiting int64
}

// Status is the reaction's next status: the stored one, for its generation and criteria,
// with the Ready condition, the counts of its Jobs and, when it fired, the battles waiting and
// the last one fired (which only moves forward). It returns the counts, and the Jobs whose
// finalizers may go once that status is stored (Account). It reads nothing but its input.
func Status(in StatusInput) (*livev1alpha1.BattleReactionStatus, Counts, []*batchv1.Job) {
	rx := in.Reaction
	status := rx.Status.DeepCopy()
	status.ObservedGeneration = rx.Generation
	status.Criteria = in.Criteria
	if in.Fired != nil {
		status.WaitingBattles = in.Fired.Waiting
		status.LastFired = LaterFired(status.LastFired, in.Fired.Last)
	}
	accounting, counts, release := Account(rx.Status.Accounting, in.Jobs)
	status.Accounting = accounting
	status.JobsStarted, status.JobsSucceeded, status.JobsFailed, status.JobsRunning = counts.Started, counts.Succeeded, counts.Failed, counts.Running
	ready := in.Ready
	if ready.LastTransitionTime.IsZero() {
		ready.LastTransitionTime = in.Now
	}
	meta.SetStatusCondition(&status.Conditions, ready)
	return status, counts, release
}
