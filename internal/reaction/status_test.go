package reaction

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

func TestStatus(t *testing.T) {
	fired := func(name string, minute int) *livev1alpha1.FiredBattle {
		return &livev1alpha1.FiredBattle{BattleResult: name, Time: metav1.NewTime(at(minute))}
	}
	active := metav1.Condition{Type: livev1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: livev1alpha1.ReasonActive, Message: "Runs a Job for every matching battle", ObservedGeneration: 3}
	since := metav1.NewTime(at(-60))
	stored := livev1alpha1.BattleReactionStatus{
		ObservedGeneration: 2,
		Criteria:           &livev1alpha1.CriteriaRecord{Hash: "old"},
		WaitingBattles:     4,
		LastFired:          fired("br-b", 5),
		Accounting:         livev1alpha1.JobAccounting{Started: 10, Succeeded: 9, Failed: 1},
		Conditions:         []metav1.Condition{{Type: livev1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: livev1alpha1.ReasonActive, Message: "old message", ObservedGeneration: 2, LastTransitionTime: since}},
	}
	criteria := &livev1alpha1.CriteriaRecord{Hash: "new", Since: &since}
	jobs := []*batchv1.Job{testJob("j-run", running, 0), testJob("j-ok", succeeded, 1), deleting(testJob("j-gone", failed, 2), true)}

	tests := []struct {
		name        string
		stored      livev1alpha1.BattleReactionStatus
		ready       metav1.Condition
		fired       *Fired
		want        func(s *livev1alpha1.BattleReactionStatus)
		wantRelease []string
	}{
		{
			name:   "Not fired: the generation, the criteria, the counts of the Jobs and the condition change; waiting and last fired stay.",
			stored: stored,
			ready:  active,
			want: func(s *livev1alpha1.BattleReactionStatus) {
				s.ObservedGeneration, s.Criteria = 3, criteria
				s.Accounting = livev1alpha1.JobAccounting{Started: 11, Succeeded: 9, Failed: 2, Leaving: []string{"j-gone"}}
				s.JobsStarted, s.JobsSucceeded, s.JobsFailed, s.JobsRunning = 13, 10, 2, 1
				s.Conditions[0].Message, s.Conditions[0].ObservedGeneration = active.Message, 3 // the same status: its transition time stays
			},
			wantRelease: []string{"j-gone"},
		},
		{
			name:   "Fired: the waiting battles are firing's; the last fired moves forward only.",
			stored: stored,
			ready:  active,
			fired:  &Fired{Waiting: 1, Last: fired("br-a", 4)},
			want: func(s *livev1alpha1.BattleReactionStatus) {
				s.ObservedGeneration, s.Criteria, s.WaitingBattles = 3, criteria, 1
				s.Accounting = livev1alpha1.JobAccounting{Started: 11, Succeeded: 9, Failed: 2, Leaving: []string{"j-gone"}}
				s.JobsStarted, s.JobsSucceeded, s.JobsFailed, s.JobsRunning = 13, 10, 2, 1
				s.Conditions[0].Message, s.Conditions[0].ObservedGeneration = active.Message, 3
			},
			wantRelease: []string{"j-gone"},
		},
		{
			name:   "Fired for a later battle: it is the last fired. A new Ready status changes at now.",
			stored: livev1alpha1.BattleReactionStatus{LastFired: fired("br-b", 5), Conditions: stored.Conditions},
			ready:  metav1.Condition{Type: livev1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: livev1alpha1.ReasonInvalidExpression, Message: "bad", ObservedGeneration: 3},
			fired:  &Fired{Last: fired("br-c", 6)},
			want: func(s *livev1alpha1.BattleReactionStatus) {
				s.ObservedGeneration, s.Criteria, s.LastFired = 3, criteria, fired("br-c", 6)
				s.Accounting = livev1alpha1.JobAccounting{Started: 1, Failed: 1, Leaving: []string{"j-gone"}}
				s.JobsStarted, s.JobsSucceeded, s.JobsFailed, s.JobsRunning = 3, 1, 1, 1
				s.Conditions = []metav1.Condition{{Type: livev1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: livev1alpha1.ReasonInvalidExpression, Message: "bad",
					ObservedGeneration: 3, LastTransitionTime: metav1.NewTime(at(30))}}
			},
			wantRelease: []string{"j-gone"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rx := &livev1alpha1.BattleReaction{ObjectMeta: metav1.ObjectMeta{Name: "reward", Generation: 3}, Status: *tt.stored.DeepCopy()}
			got, counts, release := Status(StatusInput{Reaction: rx, Criteria: criteria, Ready: tt.ready, Now: metav1.NewTime(at(30)), Jobs: jobs, Fired: tt.fired})
			want := tt.stored.DeepCopy()
			tt.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if c := (Counts{Started: got.JobsStarted, Succeeded: got.JobsSucceeded, Failed: got.JobsFailed, Running: got.JobsRunning}); c != counts {
				t.Errorf("counts %+v, the status says %+v", counts, c)
			}
			if diff := cmp.Diff(tt.wantRelease, names(release)); diff != "" {
				t.Errorf("release (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.stored, rx.Status); diff != "" {
				t.Errorf("the stored status changed (-before +after):\n%s", diff)
			}
		})
	}
}
