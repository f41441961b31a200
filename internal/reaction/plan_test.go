package reaction

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

func TestPlanReconcile(t *testing.T) {
	now := metav1.NewTime(at(30))
	edited := metav1.NewTime(at(20))
	spec := livev1alpha1.BattleReactionSpec{Match: livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"a"}}}
	hash := CriteriaHash(&spec)
	condition := func(status metav1.ConditionStatus, reason, message string, generation int64) metav1.Condition {
		return metav1.Condition{Type: livev1alpha1.ConditionReady, Status: status, Reason: reason, Message: message, ObservedGeneration: generation}
	}
	active := condition(metav1.ConditionTrue, livev1alpha1.ReasonActive, "Runs a Job for every matching battle", 3)
	badExpression := errors.New("undeclared reference to 'battel'")
	invalid := condition(metav1.ConditionFalse, livev1alpha1.ReasonInvalidExpression, badExpression.Error(), 3)
	refused := condition(metav1.ConditionFalse, livev1alpha1.ReasonInvalidJobTemplate, "the API server refused the Job", 3)
	// storedReady is an edit: the reaction's stored Ready is c, observed at generation.
	storedReady := func(c metav1.Condition, generation int64) func(*livev1alpha1.BattleReaction) {
		return func(rx *livev1alpha1.BattleReaction) {
			c.ObservedGeneration = generation
			rx.Status.Conditions = []metav1.Condition{c}
		}
	}
	// Four succeeded Jobs (one more than the default limit of 3 and its battle recorded), one
	// failed (within its limit of 1), one running, and one leaving (its count stored, its
	// finalizer ours).
	jobs := func() []*batchv1.Job {
		return []*batchv1.Job{testJob("ok-1", succeeded, 1), testJob("ok-2", succeeded, 2), testJob("ok-3", succeeded, 3), testJob("ok-4", succeeded, 4),
			testJob("bad-1", failed, 1), testJob("run-1", running, 0), deleting(testJob("gone-1", succeeded, 0), true)}
	}

	type want struct {
		course   Course
		ready    metav1.Condition
		criteria *livev1alpha1.CriteriaRecord
		warning  *Warning
		prune    []string
		release  []string // nil unless the course is Hold
	}
	tests := []struct {
		name     string
		edit     func(rx *livev1alpha1.BattleReaction)
		invalid  error
		recorded func(*batchv1.Job) bool
		want     want
	}{
		{
			name: "A Job reaction fires; the oldest succeeded Job beyond the limit goes, its battle recorded; criteria seen first are recorded without a since",
			want: want{course: FireJobs, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"}},
		},
		{
			name:     "A finished Job whose battle is not recorded stays, whatever the limits",
			recorded: func(job *batchv1.Job) bool { return job.Name != "ok-1" },
			want:     want{course: FireJobs, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{}},
		},
		{
			name: "History limits of 1 and 0 prune more",
			edit: func(rx *livev1alpha1.BattleReaction) {
				rx.Spec.SuccessfulJobsHistoryLimit, rx.Spec.FailedJobsHistoryLimit = ptr.To[int32](1), ptr.To[int32](0)
			},
			want: want{course: FireJobs, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1", "ok-2", "ok-3", "bad-1"}},
		},
		{
			name: "An HTTP reaction delivers",
			edit: func(rx *livev1alpha1.BattleReaction) { rx.Spec.HTTP.URL = "https://backend.example/battles" },
			want: want{course: Deliver, ready: condition(metav1.ConditionTrue, livev1alpha1.ReasonActive, "Sends a request for every matching battle", 3),
				criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"}},
		},
		{
			name: "A suspended reaction still goes through its battles (they wait, counted); Ready says Suspended",
			edit: func(rx *livev1alpha1.BattleReaction) { rx.Spec.Suspend = true },
			want: want{course: FireJobs, ready: condition(metav1.ConditionTrue, livev1alpha1.ReasonSuspended, "Suspended: matching battles wait until spec.suspend is false", 3),
				criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"}},
		},
		{
			name: "Criteria unchanged: the stored record stays, its since too",
			edit: func(rx *livev1alpha1.BattleReaction) {
				rx.Status.Criteria = &livev1alpha1.CriteriaRecord{Hash: hash, Since: ptr.To(metav1.NewTime(at(5)))}
			},
			want: want{course: FireJobs, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash, Since: ptr.To(metav1.NewTime(at(5)))}, prune: []string{"ok-1"}},
		},
		{
			name: "Criteria changed: the window starts at the last edit of the spec (not of the status)",
			edit: func(rx *livev1alpha1.BattleReaction) {
				rx.Status.Criteria = &livev1alpha1.CriteriaRecord{Hash: "before"}
				rx.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Time: &edited}, {Manager: "battle-operator", Subresource: "status", Time: ptr.To(metav1.NewTime(at(25)))}}
			},
			want: want{course: FireJobs, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash, Since: &edited}, prune: []string{"ok-1"}},
		},
		{
			name: "Criteria changed with no edit time known: the window starts now",
			edit: func(rx *livev1alpha1.BattleReaction) {
				rx.Status.Criteria = &livev1alpha1.CriteriaRecord{Hash: "before"}
			},
			want: want{course: FireJobs, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash, Since: &now}, prune: []string{"ok-1"}},
		},
		{
			name:    "An invalid expression holds, reported once per generation: a Warning now",
			invalid: badExpression,
			want: want{course: Hold, ready: invalid, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"},
				warning: &Warning{Reason: livev1alpha1.ReasonInvalidExpression, Message: badExpression.Error()}, release: []string{"gone-1"}},
		},
		{
			name:    "An invalid expression Ready already reports for this generation: no Warning again",
			edit:    storedReady(invalid, 3),
			invalid: badExpression,
			want:    want{course: Hold, ready: invalid, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"}, release: []string{"gone-1"}},
		},
		{
			name:    "The same invalid expression reported for an earlier generation: a Warning again",
			edit:    storedReady(invalid, 2),
			invalid: badExpression,
			want: want{course: Hold, ready: invalid, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"},
				warning: &Warning{Reason: livev1alpha1.ReasonInvalidExpression, Message: badExpression.Error()}, release: []string{"gone-1"}},
		},
		{
			name: "Being deleted holds; Ready is the active one",
			edit: func(rx *livev1alpha1.BattleReaction) { rx.DeletionTimestamp = &now },
			want: want{course: Hold, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"}, release: []string{"gone-1"}},
		},
		{
			name: "Being deleted after a refused template: Ready is the active one again (the deletion is what holds it)",
			edit: func(rx *livev1alpha1.BattleReaction) {
				rx.DeletionTimestamp = &now
				storedReady(refused, 3)(rx)
			},
			want: want{course: Hold, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"}, release: []string{"gone-1"}},
		},
		{
			name:    "Being deleted with an invalid expression: Ready reports the expression",
			edit:    func(rx *livev1alpha1.BattleReaction) { rx.DeletionTimestamp = &now },
			invalid: badExpression,
			want: want{course: Hold, ready: invalid, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"},
				warning: &Warning{Reason: livev1alpha1.ReasonInvalidExpression, Message: badExpression.Error()}, release: []string{"gone-1"}},
		},
		{
			name: "A template refused for this generation holds, and keeps its condition (reported when it was refused)",
			edit: storedReady(refused, 3),
			want: want{course: Hold, ready: refused, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"}, release: []string{"gone-1"}},
		},
		{
			name: "A template refused for an earlier generation is tried again",
			edit: storedReady(refused, 2),
			want: want{course: FireJobs, ready: active, criteria: &livev1alpha1.CriteriaRecord{Hash: hash}, prune: []string{"ok-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rx := &livev1alpha1.BattleReaction{ObjectMeta: metav1.ObjectMeta{Name: "reward", Namespace: "growth", Generation: 3}, Spec: *spec.DeepCopy()}
			if tt.edit != nil {
				tt.edit(rx)
			}
			before := rx.DeepCopy()
			recorded := tt.recorded
			if recorded == nil {
				recorded = func(*batchv1.Job) bool { return true }
			}
			plan := PlanReconcile(PlanInput{Reaction: rx, Jobs: jobs(), Recorded: recorded, Invalid: tt.invalid, Now: now})

			got := want{course: plan.Course, ready: plan.Ready, criteria: plan.Criteria, warning: plan.Warning, prune: names(plan.Prune)}
			if plan.Course == Hold {
				got.release = names(plan.Release)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, rx); diff != "" {
				t.Errorf("the reaction changed (-before +after):\n%s", diff)
			}
			// Holding, the plan carries the status to store, with its criteria, its Ready and
			// the counts of its Jobs. Firing and delivering compose theirs.
			if plan.Course != Hold {
				if plan.Status != nil || plan.Release != nil {
					t.Errorf("a %s plan carries a status or Jobs to release: %+v, %v", plan.Course, plan.Status, names(plan.Release))
				}
				return
			}
			status := plan.Status
			if status.ObservedGeneration != 3 || !cmp.Equal(status.Criteria, tt.want.criteria) {
				t.Errorf("the status to store observes generation %d and criteria %+v", status.ObservedGeneration, status.Criteria)
			}
			readyNow := tt.want.ready
			if len(before.Status.Conditions) == 0 || before.Status.Conditions[0].Status != readyNow.Status {
				readyNow.LastTransitionTime = now
			}
			if diff := cmp.Diff([]metav1.Condition{readyNow}, status.Conditions); diff != "" {
				t.Errorf("the status's conditions (-want +got):\n%s", diff)
			}
			// 4 succeeded, 1 failed, 1 running, and the one leaving counted once.
			if status.JobsStarted != 7 || status.JobsSucceeded != 5 || status.JobsFailed != 1 || status.JobsRunning != 1 {
				t.Errorf("the status counts started %d, succeeded %d, failed %d, running %d; want 7, 5, 1, 1",
					status.JobsStarted, status.JobsSucceeded, status.JobsFailed, status.JobsRunning)
			}
		})
	}
}
