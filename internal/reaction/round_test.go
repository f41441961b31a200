package reaction

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// roundBattle is battle number n of four rooms, named br-n.
func roundBattle(n int) *livev1alpha1.BattleResult {
	br := fourRoomsResult()
	br.Name = fmt.Sprintf("br-%d", n)
	return br
}

// plannedJobs shows a round as "br-1:4" (battle, missing Jobs), with "+" for a partial battle.
func plannedJobs(r Round) []string {
	var out []string
	for _, p := range r.Battles {
		s := fmt.Sprintf("%s:%d", p.Battle.Name, len(p.Missing))
		if p.Partial {
			s += "+"
		}
		out = append(out, s)
	}
	return out
}

func TestPlanRound(t *testing.T) {
	due := []*livev1alpha1.BattleResult{roundBattle(1), roundBattle(2), roundBattle(3)}
	// existing are Jobs of the reaction: the first n of battle br-b's per-room Jobs.
	existing := func(rx *livev1alpha1.BattleReaction, b, n int, finished bool) map[string]*batchv1.Job {
		jobs := map[string]*batchv1.Job{}
		br := roundBattle(b)
		for _, run := range Runs(rx.Spec.RunFor, &br.Spec)[:n] {
			job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: JobName(rx.Name, br.Name, run.Room)}}
			if finished {
				job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
			}
			jobs[job.Name] = job
		}
		return jobs
	}
	none := func(string) bool { return false }
	all := func(string) bool { return true }
	only := func(names ...string) func(string) bool {
		return func(name string) bool { return strings.Contains(" "+strings.Join(names, " ")+" ", " "+name+" ") }
	}
	cases := []struct {
		name        string
		mutate      func(*livev1alpha1.BattleReaction)
		jobs        func(*livev1alpha1.BattleReaction) map[string]*batchv1.Job
		maxJobs     int
		planned     func(string) bool
		pending     func(string) bool
		want        []string
		wantWaiting int64
		wantErr     bool
	}{
		{name: "Every due battle gets its four Jobs, in arrival order.",
			maxJobs: 200, planned: none, pending: all, want: []string{"br-1:4", "br-2:4", "br-3:4"}},
		{name: "One Job per battle when the reaction runs for the battle.",
			mutate:  func(rx *livev1alpha1.BattleReaction) { rx.Spec.RunFor = livev1alpha1.RunForBattle },
			maxJobs: 200, planned: none, pending: all, want: []string{"br-1:1", "br-2:1", "br-3:1"}},
		{name: "Jobs that exist are not planned again; a battle with all its Jobs is planned with none (to be recorded).",
			jobs:    func(rx *livev1alpha1.BattleReaction) map[string]*batchv1.Job { return existing(rx, 1, 4, true) },
			maxJobs: 200, planned: none, pending: all, want: []string{"br-1:0", "br-2:4", "br-3:4"}},
		{name: "A battle planned whole in an earlier round, or no longer pending, is skipped.",
			maxJobs: 200, planned: only("br-1"), pending: only("br-1", "br-3"), want: []string{"br-3:4"}},
		{name: "The round's limit cuts a battle: it gets the Jobs that fit and waits, with the battles after it.",
			maxJobs: 6, planned: none, pending: all, want: []string{"br-1:4", "br-2:2+"}, wantWaiting: 2},
		{name: "maxRunningJobs counts the unfinished Jobs that exist.",
			mutate:  func(rx *livev1alpha1.BattleReaction) { rx.Spec.MaxRunningJobs = 5 },
			jobs:    func(rx *livev1alpha1.BattleReaction) map[string]*batchv1.Job { return existing(rx, 9, 3, false) },
			maxJobs: 200, planned: none, pending: all, want: []string{"br-1:2+"}, wantWaiting: 3},
		{name: "Finished Jobs do not count against maxRunningJobs.",
			mutate:  func(rx *livev1alpha1.BattleReaction) { rx.Spec.MaxRunningJobs = 4 },
			jobs:    func(rx *livev1alpha1.BattleReaction) map[string]*batchv1.Job { return existing(rx, 9, 4, true) },
			maxJobs: 200, planned: none, pending: all, want: []string{"br-1:4"}, wantWaiting: 2},
		{name: "No slot at all: nothing is planned, every battle not planned before waits.",
			mutate:  func(rx *livev1alpha1.BattleReaction) { rx.Spec.MaxRunningJobs = 3 },
			jobs:    func(rx *livev1alpha1.BattleReaction) map[string]*batchv1.Job { return existing(rx, 9, 3, false) },
			maxJobs: 200, planned: only("br-3"), pending: all, want: nil, wantWaiting: 2},
		{name: "A template that makes no Job stops the round with an error; the battles wait.",
			mutate:  func(rx *livev1alpha1.BattleReaction) { rx.Spec.JobTemplate = &batchv1.JobTemplateSpec{} },
			maxJobs: 200, planned: none, pending: all, want: nil, wantWaiting: 3, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rx := reactionFor(testTemplate())
			if tc.mutate != nil {
				tc.mutate(rx)
			}
			jobs := map[string]*batchv1.Job{}
			if tc.jobs != nil {
				jobs = tc.jobs(rx)
			}
			before := len(jobs)
			got := PlanRound(RoundInput{Reaction: rx, Due: due, Jobs: jobs, MaxJobs: tc.maxJobs, Planned: tc.planned, Pending: tc.pending})
			if diff := cmp.Diff(tc.want, plannedJobs(got)); diff != "" {
				t.Errorf("planned (-want +got):\n%s", diff)
			}
			if got.Waiting != tc.wantWaiting {
				t.Errorf("waiting = %d, want %d", got.Waiting, tc.wantWaiting)
			}
			if (got.Err != nil) != tc.wantErr {
				t.Errorf("err = %v, want an error: %v", got.Err, tc.wantErr)
			}
			if len(jobs) != before {
				t.Errorf("PlanRound changed the Jobs it was given: %d, had %d", len(jobs), before)
			}
			for _, p := range got.Battles {
				if p.Runs != int32(len(Runs(rx.Spec.RunFor, &p.Battle.Spec))) {
					t.Errorf("%s: runs %d", p.Battle.Name, p.Runs)
				}
				for _, job := range p.Missing {
					ref := metav1.GetControllerOf(job)
					if ref == nil || ref.UID != rx.UID || ref.Kind != "BattleReaction" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
						t.Errorf("Job %s: controller %+v, want the reaction, blocking its deletion", job.Name, ref)
					}
					if len(job.Finalizers) != 1 || job.Finalizers[0] != Finalizer {
						t.Errorf("Job %s: finalizers %v, want %s", job.Name, job.Finalizers, Finalizer)
					}
				}
			}
		})
	}
}
