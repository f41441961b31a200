package reaction

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Course is what a reconcile does for the battles a reaction may fire for.
type Course string

const (
	// Hold fires for no battle: the reaction is being deleted, or its expression or Job
	// template is invalid. Its index of pending battles goes (a fix changes the criteria, and
	// the index is built again); the reconcile stores Plan.Status.
	Hold Course = "Hold"
	// FireJobs creates the Jobs of the battles due, in rounds (PlanRound), records them, and
	// composes the status from what it did.
	FireJobs Course = "FireJobs"
	// Deliver sends the HTTP requests of the battles due (PlanDeliveries), and composes the
	// status from what they came to.
	Deliver Course = "Deliver"
)

// Plan is what one reconcile of a reaction does, decided from what it gathered: which finished
// Jobs it deletes, the criteria and Ready condition in force, the Warning it reports, and its
// course. A reconcile that holds stores Status and then releases the finalizers of Release; one
// that fires or delivers takes Criteria and Ready into the status it composes.
type Plan struct {
	// Prune are the finished Jobs beyond the history limits whose battle is recorded (or gone).
	Prune []*batchv1.Job
	// Criteria are the criteria in force, and since when they are (a window starts anew when
	// they change).
	Criteria *livev1alpha1.CriteriaRecord
	// Ready is the reaction's Ready condition.
	Ready metav1.Condition
	// Warning, when not nil, is an Event to record: Ready turned False for a reason or message
	// not reported for this generation yet.
	Warning *Warning
	Course  Course
	// Status and Release are set when Course is Hold: the status to store (the stored one when
	// nothing changed), and the Jobs whose finalizers may go once it is.
	Status  *livev1alpha1.BattleReactionStatus
	Release []*batchv1.Job
}

// Warning is a Warning Event about the reaction.
type Warning struct {
	Reason, Message string
}

// PlanInput is what a reconcile gathered about one reaction.
type PlanInput struct {
	// Reaction is the reaction, with the status it last stored.
	Reaction *livev1alpha1.BattleReaction
	// Jobs are the reaction's Jobs: those the cache shows and those created but not shown yet.
	Jobs []*batchv1.Job
	// Recorded says whether the battle a Job ran for has the reaction's record, or is gone: a
	// finished Job is pruned only then, so it never runs again.
	Recorded func(*batchv1.Job) bool
	// Invalid is why the reaction's expression does not compile; nil when it does.
	Invalid error
	// Now is the time of the reconcile.
	Now metav1.Time
}

// PlanReconcile decides a reconcile of a reaction (Plan). It reads nothing but its input.
func PlanReconcile(in PlanInput) Plan {
	rx := in.Reaction
	plan := Plan{
		Prune:    JobsToDelete(in.Jobs, ptr.Deref(rx.Spec.SuccessfulJobsHistoryLimit, 3), ptr.Deref(rx.Spec.FailedJobsHistoryLimit, 1), in.Recorded),
		Criteria: criteriaInForce(rx, in.Now),
		Ready:    activeCondition(rx),
		Course:   FireJobs,
	}
	if IsHTTP(rx) {
		plan.Course = Deliver
	}
	if !Holds(rx, in.Invalid) {
		return plan
	}
	// Being deleted, its Jobs go with it: it starts none and sends nothing more. A refused
	// template is not tried again until it changes; the battles arriving meanwhile still count
	// (the scan after the fix finds them).
	plan.Course = Hold
	switch {
	case in.Invalid != nil:
		plan.Ready, plan.Warning = NotReady(rx, livev1alpha1.ReasonInvalidExpression, in.Invalid.Error())
	case rx.DeletionTimestamp == nil: // the template was refused: Ready says so already
		plan.Ready = *meta.FindStatusCondition(rx.Status.Conditions, livev1alpha1.ConditionReady)
	}
	plan.Status, _, plan.Release = Status(StatusInput{Reaction: rx, Criteria: plan.Criteria, Ready: plan.Ready, Now: in.Now, Jobs: in.Jobs})
	return plan
}

// criteriaInForce are the reaction's criteria: the stored record while its hash is current,
// else a new record, since the reaction's last edit (now, when that is not known).
func criteriaInForce(rx *livev1alpha1.BattleReaction, now metav1.Time) *livev1alpha1.CriteriaRecord {
	hash := CriteriaHash(&rx.Spec)
	switch criteria := rx.Status.Criteria; {
	case criteria == nil:
		return &livev1alpha1.CriteriaRecord{Hash: hash}
	case criteria.Hash == hash:
		return criteria
	}
	since := LastEdit(rx)
	if since == nil {
		since = &now
	}
	return &livev1alpha1.CriteriaRecord{Hash: hash, Since: since}
}

// activeCondition is Ready for a reaction that may fire: Active, or Suspended.
func activeCondition(rx *livev1alpha1.BattleReaction) metav1.Condition {
	ready := metav1.Condition{Type: livev1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: livev1alpha1.ReasonActive,
		Message: "Runs a Job for every matching battle", ObservedGeneration: rx.Generation}
	if IsHTTP(rx) {
		ready.Message = "Sends a request for every matching battle"
	}
	if rx.Spec.Suspend {
		ready.Reason, ready.Message = livev1alpha1.ReasonSuspended, "Suspended: matching battles wait until spec.suspend is false"
	}
	return ready
}

// NotReady is Ready=False for a reason the user must fix, and the Warning to report when the
// stored Ready does not say so for this generation yet (nil when it does).
func NotReady(rx *livev1alpha1.BattleReaction, reason, message string) (metav1.Condition, *Warning) {
	ready := metav1.Condition{Type: livev1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: rx.Generation}
	if prev := meta.FindStatusCondition(rx.Status.Conditions, livev1alpha1.ConditionReady); prev != nil && prev.Reason == reason &&
		prev.Message == message && prev.ObservedGeneration == rx.Generation {
		return ready, nil
	}
	return ready, &Warning{Reason: reason, Message: message}
}

// Holds says whether a reaction fires for no battle (Course Hold): it is being deleted, its
// expression does not compile (invalid), or the API server refused its Job template.
func Holds(rx *livev1alpha1.BattleReaction, invalid error) bool {
	return invalid != nil || rx.DeletionTimestamp != nil || templateRejected(rx)
}

// templateRejected says whether the API server refused this generation's Job template.
func templateRejected(rx *livev1alpha1.BattleReaction) bool {
	c := meta.FindStatusCondition(rx.Status.Conditions, livev1alpha1.ConditionReady)
	return c != nil && c.Reason == livev1alpha1.ReasonInvalidJobTemplate && c.ObservedGeneration == rx.Generation
}
