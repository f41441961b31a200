package reaction

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

var t0 = time.Date(2025, 11, 22, 9, 0, 0, 0, time.UTC)

// at is t0 plus n minutes.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

type jobState int

const (
	running jobState = iota
	succeeded
	failed
)

// testJob is a reaction Job in a state; a finished Job finished finishedMin minutes after t0.
func testJob(name string, state jobState, finishedMin int) *batchv1.Job {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "growth", Finalizers: []string{Finalizer},
		CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
	}}
	switch state {
	case succeeded:
		job.Status.Conditions = []batchv1.JobCondition{
			cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, at(finishedMin)),
			cond(batchv1.JobComplete, corev1.ConditionTrue, at(finishedMin)),
		}
	case failed:
		job.Status.Conditions = []batchv1.JobCondition{
			cond(batchv1.JobFailureTarget, corev1.ConditionTrue, at(finishedMin)),
			cond(batchv1.JobFailed, corev1.ConditionTrue, at(finishedMin)),
		}
	}
	return job
}

// deleting marks a Job as being deleted; keepFinalizer says whether ours is still on it.
func deleting(job *batchv1.Job, keepFinalizer bool) *batchv1.Job {
	now := metav1.NewTime(at(100))
	job.DeletionTimestamp = &now
	job.Finalizers = []string{"foregroundDeletion"}
	if keepFinalizer {
		job.Finalizers = append(job.Finalizers, Finalizer)
	}
	return job
}

func names(jobs []*batchv1.Job) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}

func TestAccount(t *testing.T) {
	cases := []struct {
		name        string
		acc         livev1alpha1.JobAccounting
		jobs        []*batchv1.Job
		wantAcc     livev1alpha1.JobAccounting
		wantCounts  Counts
		wantRelease []string
	}{
		{
			name: "No Jobs and no accounting count nothing.",
		},
		{
			name:       "A new Job with the name of a counted Job that is gone is counted as a new Job.",
			acc:        livev1alpha1.JobAccounting{Started: 1, Failed: 1, Leaving: []string{"x"}},
			jobs:       []*batchv1.Job{testJob("x", running, 0)},
			wantAcc:    livev1alpha1.JobAccounting{Started: 1, Failed: 1},
			wantCounts: Counts{Started: 2, Failed: 1, Running: 1},
		},
		{
			name:       "Live Jobs are counted by their state.",
			jobs:       []*batchv1.Job{testJob("r", running, 0), testJob("s", succeeded, 1), testJob("f", failed, 2), testJob("s2", succeeded, 3)},
			wantCounts: Counts{Started: 4, Succeeded: 2, Failed: 1, Running: 1},
		},
		{
			name:       "The counts of Jobs gone add to the live Jobs.",
			acc:        livev1alpha1.JobAccounting{Started: 10, Succeeded: 7, Failed: 2},
			jobs:       []*batchv1.Job{testJob("r", running, 0), testJob("s", succeeded, 1)},
			wantAcc:    livev1alpha1.JobAccounting{Started: 10, Succeeded: 7, Failed: 2},
			wantCounts: Counts{Started: 12, Succeeded: 8, Failed: 2, Running: 1},
		},
		{
			name:        "A succeeded Job being deleted with the finalizer is counted into the accounting and released.",
			acc:         livev1alpha1.JobAccounting{Started: 1, Succeeded: 1},
			jobs:        []*batchv1.Job{deleting(testJob("d", succeeded, 1), true)},
			wantAcc:     livev1alpha1.JobAccounting{Started: 2, Succeeded: 2, Leaving: []string{"d"}},
			wantCounts:  Counts{Started: 2, Succeeded: 2},
			wantRelease: []string{"d"},
		},
		{
			name:        "A failed Job being deleted with the finalizer is counted as failed.",
			jobs:        []*batchv1.Job{deleting(testJob("d", failed, 1), true)},
			wantAcc:     livev1alpha1.JobAccounting{Started: 1, Failed: 1, Leaving: []string{"d"}},
			wantCounts:  Counts{Started: 1, Failed: 1},
			wantRelease: []string{"d"},
		},
		{
			name:        "A running Job deleted with the finalizer counts as started only, and no longer as running.",
			jobs:        []*batchv1.Job{deleting(testJob("d", running, 0), true)},
			wantAcc:     livev1alpha1.JobAccounting{Started: 1, Leaving: []string{"d"}},
			wantCounts:  Counts{Started: 1},
			wantRelease: []string{"d"},
		},
		{
			name:        "A leaving Job that still has the finalizer is not counted again but released again.",
			acc:         livev1alpha1.JobAccounting{Started: 2, Succeeded: 2, Leaving: []string{"d"}},
			jobs:        []*batchv1.Job{deleting(testJob("d", succeeded, 1), true)},
			wantAcc:     livev1alpha1.JobAccounting{Started: 2, Succeeded: 2, Leaving: []string{"d"}},
			wantCounts:  Counts{Started: 2, Succeeded: 2},
			wantRelease: []string{"d"},
		},
		{
			name:       "A leaving Job without the finalizer is neither counted again nor released, and stays leaving.",
			acc:        livev1alpha1.JobAccounting{Started: 2, Succeeded: 2, Leaving: []string{"d"}},
			jobs:       []*batchv1.Job{deleting(testJob("d", succeeded, 1), false)},
			wantAcc:    livev1alpha1.JobAccounting{Started: 2, Succeeded: 2, Leaving: []string{"d"}},
			wantCounts: Counts{Started: 2, Succeeded: 2},
		},
		{
			name:       "Leaving names whose Jobs are gone are dropped.",
			acc:        livev1alpha1.JobAccounting{Started: 5, Succeeded: 3, Failed: 1, Leaving: []string{"d", "e"}},
			jobs:       []*batchv1.Job{testJob("r", running, 0)},
			wantAcc:    livev1alpha1.JobAccounting{Started: 5, Succeeded: 3, Failed: 1},
			wantCounts: Counts{Started: 6, Succeeded: 3, Failed: 1, Running: 1},
		},
		{
			name:       "A Job being deleted without the finalizer, never counted, still counts as a live Job.",
			jobs:       []*batchv1.Job{deleting(testJob("d", failed, 1), false)},
			wantCounts: Counts{Started: 1, Failed: 1},
		},
		{
			name: "Leaving names come out sorted.",
			jobs: []*batchv1.Job{
				deleting(testJob("zeta", succeeded, 1), true), deleting(testJob("alpha", failed, 2), true), deleting(testJob("mid", succeeded, 3), true),
			},
			wantAcc:     livev1alpha1.JobAccounting{Started: 3, Succeeded: 2, Failed: 1, Leaving: []string{"alpha", "mid", "zeta"}},
			wantCounts:  Counts{Started: 3, Succeeded: 2, Failed: 1},
			wantRelease: []string{"zeta", "alpha", "mid"},
		},
		{
			name: "Live, finished, leaving and newly deleted Jobs are each counted once.",
			acc:  livev1alpha1.JobAccounting{Started: 20, Succeeded: 15, Failed: 4, Leaving: []string{"old", "gone"}},
			jobs: []*batchv1.Job{
				testJob("r1", running, 0), testJob("r2", running, 0), testJob("s", succeeded, 5), testJob("f", failed, 6),
				deleting(testJob("old", succeeded, 1), false), deleting(testJob("new", failed, 2), true),
			},
			wantAcc:     livev1alpha1.JobAccounting{Started: 21, Succeeded: 15, Failed: 5, Leaving: []string{"new", "old"}},
			wantCounts:  Counts{Started: 25, Succeeded: 16, Failed: 6, Running: 2},
			wantRelease: []string{"new"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			accBefore := *tc.acc.DeepCopy()
			next, counts, release := Account(tc.acc, tc.jobs)
			if diff := cmp.Diff(tc.wantAcc, next); diff != "" {
				t.Errorf("accounting (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCounts, counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			if tc.wantRelease == nil {
				tc.wantRelease = []string{}
			}
			if diff := cmp.Diff(tc.wantRelease, names(release)); diff != "" {
				t.Errorf("released (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(accBefore, tc.acc); diff != "" {
				t.Errorf("Account changed its input accounting (-before +after):\n%s", diff)
			}
		})
	}
}

// TestAccountOverTime feeds each reconcile's accounting into the next, as the status does,
// while Jobs finish, are deleted and go.
func TestAccountOverTime(t *testing.T) {
	steps := []struct {
		name        string
		jobs        []*batchv1.Job
		wantAcc     livev1alpha1.JobAccounting
		wantCounts  Counts
		wantRelease []string
	}{
		{
			name:       "Three live Jobs are counted.",
			jobs:       []*batchv1.Job{testJob("r", running, 0), testJob("s", succeeded, 1), testJob("f", failed, 2)},
			wantCounts: Counts{Started: 3, Succeeded: 1, Failed: 1, Running: 1},
		},
		{
			name:        "A failed Job deleted by hand moves into the accounting and is released.",
			jobs:        []*batchv1.Job{testJob("r", running, 0), testJob("s", succeeded, 1), deleting(testJob("f", failed, 2), true)},
			wantAcc:     livev1alpha1.JobAccounting{Started: 1, Failed: 1, Leaving: []string{"f"}},
			wantCounts:  Counts{Started: 3, Succeeded: 1, Failed: 1, Running: 1},
			wantRelease: []string{"f"},
		},
		{
			name:        "The same Job seen again before its finalizer is removed is counted once.",
			jobs:        []*batchv1.Job{testJob("r", running, 0), testJob("s", succeeded, 1), deleting(testJob("f", failed, 2), true)},
			wantAcc:     livev1alpha1.JobAccounting{Started: 1, Failed: 1, Leaving: []string{"f"}},
			wantCounts:  Counts{Started: 3, Succeeded: 1, Failed: 1, Running: 1},
			wantRelease: []string{"f"},
		},
		{
			name:       "Its finalizer removed, the Job still terminating is still counted once.",
			jobs:       []*batchv1.Job{testJob("r", running, 0), testJob("s", succeeded, 1), deleting(testJob("f", failed, 2), false)},
			wantAcc:    livev1alpha1.JobAccounting{Started: 1, Failed: 1, Leaving: []string{"f"}},
			wantCounts: Counts{Started: 3, Succeeded: 1, Failed: 1, Running: 1},
		},
		{
			name:       "Once the Job is gone its name leaves the accounting and its counts stay.",
			jobs:       []*batchv1.Job{testJob("r", running, 0), testJob("s", succeeded, 1)},
			wantAcc:    livev1alpha1.JobAccounting{Started: 1, Failed: 1},
			wantCounts: Counts{Started: 3, Succeeded: 1, Failed: 1, Running: 1},
		},
		{
			name:        "A succeeded Job pruned by the history limit moves into the accounting.",
			jobs:        []*batchv1.Job{testJob("r", running, 0), deleting(testJob("s", succeeded, 1), true)},
			wantAcc:     livev1alpha1.JobAccounting{Started: 2, Succeeded: 1, Failed: 1, Leaving: []string{"s"}},
			wantCounts:  Counts{Started: 3, Succeeded: 1, Failed: 1, Running: 1},
			wantRelease: []string{"s"},
		},
		{
			name:       "With every finished Job gone and the last one succeeded, the lifetime counts hold.",
			jobs:       []*batchv1.Job{testJob("r", succeeded, 9)},
			wantAcc:    livev1alpha1.JobAccounting{Started: 2, Succeeded: 1, Failed: 1},
			wantCounts: Counts{Started: 3, Succeeded: 2, Failed: 1},
		},
		{
			name:       "With no Job left, the lifetime counts are all in the accounting.",
			jobs:       []*batchv1.Job{deleting(testJob("r", succeeded, 9), true)},
			wantAcc:    livev1alpha1.JobAccounting{Started: 3, Succeeded: 2, Failed: 1, Leaving: []string{"r"}},
			wantCounts: Counts{Started: 3, Succeeded: 2, Failed: 1}, wantRelease: []string{"r"},
		},
	}
	var acc livev1alpha1.JobAccounting
	for i, step := range steps {
		next, counts, release := Account(acc, step.jobs)
		if diff := cmp.Diff(step.wantAcc, next); diff != "" {
			t.Errorf("step %d, %s: accounting (-want +got):\n%s", i+1, step.name, diff)
		}
		if diff := cmp.Diff(step.wantCounts, counts); diff != "" {
			t.Errorf("step %d, %s: counts (-want +got):\n%s", i+1, step.name, diff)
		}
		if step.wantRelease == nil {
			step.wantRelease = []string{}
		}
		if diff := cmp.Diff(step.wantRelease, names(release)); diff != "" {
			t.Errorf("step %d, %s: released (-want +got):\n%s", i+1, step.name, diff)
		}
		acc = next
	}
}

func TestJobsToDelete(t *testing.T) {
	all := func(*batchv1.Job) bool { return true }
	only := func(names ...string) func(*batchv1.Job) bool {
		return func(j *batchv1.Job) bool { return slices.Contains(names, j.Name) }
	}
	// finishedLater is a Job created before another but finished after it.
	createdFirst := testJob("created-first", succeeded, 30)
	createdFirst.CreationTimestamp = metav1.NewTime(at(-120))
	// criteriaFirst met its success criteria early but completed late.
	criteriaFirst := testJob("criteria-first", succeeded, 0)
	criteriaFirst.Status.Conditions = []batchv1.JobCondition{
		cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, at(1)),
		cond(batchv1.JobComplete, corev1.ConditionTrue, at(40)),
	}
	cases := []struct {
		name                string
		jobs                []*batchv1.Job
		succeeded, failed   int32
		recorded            func(*batchv1.Job) bool
		want                []string
		compareAsSortedSets bool
	}{
		{
			name:      "No Jobs, nothing to prune.",
			succeeded: 3, failed: 1, recorded: all,
			want: []string{},
		},
		{
			name:      "Jobs within the default limits are kept.",
			jobs:      []*batchv1.Job{testJob("s1", succeeded, 1), testJob("s2", succeeded, 2), testJob("s3", succeeded, 3), testJob("f1", failed, 4), testJob("r", running, 0)},
			succeeded: 3, failed: 1, recorded: all,
			want: []string{},
		},
		{
			name: "The oldest succeeded Jobs beyond the limit are pruned, oldest first.",
			jobs: []*batchv1.Job{
				testJob("s4", succeeded, 4), testJob("s1", succeeded, 1), testJob("s5", succeeded, 5), testJob("s2", succeeded, 2), testJob("s3", succeeded, 3),
			},
			succeeded: 3, failed: 1, recorded: all,
			want: []string{"s1", "s2"},
		},
		{
			name:      "The oldest failed Jobs beyond the limit are pruned, oldest first.",
			jobs:      []*batchv1.Job{testJob("f3", failed, 30), testJob("f1", failed, 10), testJob("f2", failed, 20)},
			succeeded: 3, failed: 1, recorded: all,
			want: []string{"f1", "f2"},
		},
		{
			name: "Succeeded and failed Jobs have limits of their own.",
			jobs: []*batchv1.Job{
				testJob("f1", failed, 1), testJob("s1", succeeded, 2), testJob("f2", failed, 3), testJob("s2", succeeded, 4),
				testJob("s3", succeeded, 5), testJob("s4", succeeded, 6), testJob("f3", failed, 7),
			},
			succeeded: 3, failed: 1, recorded: all,
			want: []string{"f1", "f2", "s1"}, compareAsSortedSets: true,
		},
		{
			name:      "Limits of zero prune every finished Job and no running one.",
			jobs:      []*batchv1.Job{testJob("r1", running, 0), testJob("s1", succeeded, 1), testJob("f1", failed, 2), testJob("r2", running, 0)},
			succeeded: 0, failed: 0, recorded: all,
			want: []string{"f1", "s1"}, compareAsSortedSets: true,
		},
		{
			name:      "A zero succeeded limit leaves the failed Jobs to their own limit.",
			jobs:      []*batchv1.Job{testJob("s1", succeeded, 1), testJob("f1", failed, 2)},
			succeeded: 0, failed: 1, recorded: all,
			want: []string{"s1"},
		},
		{
			name:      "Negative limits prune like zero.",
			jobs:      []*batchv1.Job{testJob("s1", succeeded, 1), testJob("f1", failed, 2)},
			succeeded: -1, failed: -5, recorded: all,
			want: []string{"f1", "s1"}, compareAsSortedSets: true,
		},
		{
			name:      "Running Jobs neither are pruned nor count toward a limit.",
			jobs:      []*batchv1.Job{testJob("r1", running, 0), testJob("r2", running, 0), testJob("s1", succeeded, 1)},
			succeeded: 1, failed: 1, recorded: all,
			want: []string{},
		},
		{
			name:      "Jobs that finished at the same time are pruned in order of name.",
			jobs:      []*batchv1.Job{testJob("c", succeeded, 5), testJob("a", succeeded, 5), testJob("d", succeeded, 5), testJob("b", succeeded, 5)},
			succeeded: 1, failed: 1, recorded: all,
			want: []string{"a", "b", "c"},
		},
		{
			name:      "The finish time decides, not the creation time.",
			jobs:      []*batchv1.Job{createdFirst, testJob("created-later", succeeded, 20)},
			succeeded: 1, failed: 1, recorded: all,
			want: []string{"created-later"},
		},
		{
			name:      "The time of the Complete condition decides, not that of an earlier condition.",
			jobs:      []*batchv1.Job{criteriaFirst, testJob("completed-at-20", succeeded, 20)},
			succeeded: 1, failed: 1, recorded: all,
			want: []string{"completed-at-20"},
		},
		{
			name:      "A Job whose battle record is not stored is kept, and no newer Job is pruned in its place.",
			jobs:      []*batchv1.Job{testJob("s1", succeeded, 1), testJob("s2", succeeded, 2), testJob("s3", succeeded, 3), testJob("s4", succeeded, 4)},
			succeeded: 2, failed: 1, recorded: only("s2", "s3", "s4"),
			want: []string{"s2"},
		},
		{
			name:      "No Job is pruned while no battle record is stored.",
			jobs:      []*batchv1.Job{testJob("s1", succeeded, 1), testJob("f1", failed, 2), testJob("f2", failed, 3)},
			succeeded: 0, failed: 0, recorded: only(),
			want: []string{},
		},
		{
			name: "Jobs being deleted are not pruned again and do not count toward a limit.",
			jobs: []*batchv1.Job{
				deleting(testJob("s1", succeeded, 1), true), testJob("s2", succeeded, 2), testJob("s3", succeeded, 3), testJob("s4", succeeded, 4),
				deleting(testJob("f1", failed, 1), false), testJob("f2", failed, 2),
			},
			succeeded: 2, failed: 1, recorded: all,
			want: []string{"s2"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			order := names(tc.jobs)
			got := names(JobsToDelete(tc.jobs, tc.succeeded, tc.failed, tc.recorded))
			if tc.compareAsSortedSets {
				slices.Sort(got)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("JobsToDelete (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(order, names(tc.jobs)); diff != "" {
				t.Errorf("JobsToDelete reordered its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestJobsToDeleteAsksOnlyAboutJobsBeyondTheLimit(t *testing.T) {
	jobs := []*batchv1.Job{testJob("s1", succeeded, 1), testJob("s2", succeeded, 2), testJob("s3", succeeded, 3), testJob("r", running, 0)}
	var asked []string
	JobsToDelete(jobs, 2, 1, func(j *batchv1.Job) bool { asked = append(asked, j.Name); return true })
	if diff := cmp.Diff([]string{"s1"}, asked); diff != "" {
		t.Errorf("recorded was asked about (-want +got):\n%s", diff)
	}
}

func reactionSpec() livev1alpha1.BattleReactionSpec {
	return livev1alpha1.BattleReactionSpec{
		Match: livev1alpha1.BattleMatch{
			EndReasons:  []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp},
			Outcomes:    []livev1alpha1.Outcome{livev1alpha1.OutcomeWin},
			Rooms:       []livev1alpha1.RoomID{"live_room_1001"},
			MinTopScore: ptr.To[int64](100),
			Expression:  `battle.durationMs >= 60000`,
		},
		RunFor:                     livev1alpha1.RunForEachWinner,
		StartingAfter:              &metav1.Time{Time: t0},
		MaxRunningJobs:             2,
		SuccessfulJobsHistoryLimit: ptr.To[int32](3),
		FailedJobsHistoryLimit:     ptr.To[int32](1),
		JobTemplate:                ptr.To(testTemplate()),
	}
}

func TestCriteriaHashIgnoresTheOrderOfSets(t *testing.T) {
	a, b := reactionSpec(), reactionSpec()
	a.Match.EndReasons = []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp, livev1alpha1.EndReasonAllHostsExited}
	b.Match.EndReasons = []livev1alpha1.EndReason{livev1alpha1.EndReasonAllHostsExited, livev1alpha1.EndReasonTimeUp}
	a.Match.Rooms = []livev1alpha1.RoomID{"x", "y"}
	b.Match.Rooms = []livev1alpha1.RoomID{"y", "x"}
	a.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeWin, livev1alpha1.OutcomeDraw}
	b.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw, livev1alpha1.OutcomeWin}
	if CriteriaHash(&a) != CriteriaHash(&b) {
		t.Errorf("reordering the sets of a match changed its hash")
	}
	if a.Match.EndReasons[0] != livev1alpha1.EndReasonTimeUp {
		t.Errorf("CriteriaHash sorted the spec's own list")
	}
	a.RunFor, b.RunFor = "", livev1alpha1.RunForBattle
	if CriteriaHash(&a) != CriteriaHash(&b) {
		t.Errorf("runFor empty and Battle (its default) hash differently")
	}
}

func TestCountsFromComparesWholeSeconds(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 11, 23, 9, 0, 0, 500_000_000, time.UTC))
	if !CountsFrom(start, metav1.NewTime(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))) {
		t.Errorf("a battle stored in the same second as a window starting at .5s must count")
	}
	if CountsFrom(start, metav1.NewTime(time.Date(2026, 11, 23, 8, 59, 59, 999_000_000, time.UTC))) {
		t.Errorf("a battle stored the second before must not count")
	}
}

func TestCriteriaHash(t *testing.T) {
	base := CriteriaHash(ptr.To(reactionSpec()))
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(base) {
		t.Errorf("CriteriaHash = %q, want 16 hex digits", base)
	}
	cases := []struct {
		name    string
		edit    func(*livev1alpha1.BattleReactionSpec)
		changes bool
	}{
		{"No edit keeps the hash.", func(*livev1alpha1.BattleReactionSpec) {}, false},
		{"Another end reason changes the hash.", func(s *livev1alpha1.BattleReactionSpec) {
			s.Match.EndReasons = append(s.Match.EndReasons, livev1alpha1.EndReasonAllHostsExited)
		}, true},
		{"Another outcome changes the hash.", func(s *livev1alpha1.BattleReactionSpec) {
			s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}
		}, true},
		{"Another room changes the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Rooms = []livev1alpha1.RoomID{"live_room_1002"} }, true},
		{"Another minTopScore changes the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.Match.MinTopScore = ptr.To[int64](101) }, true},
		{"Removing minTopScore changes the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.Match.MinTopScore = nil }, true},
		{"Another expression changes the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = `battle.durationMs >= 60001` }, true},
		{"Another runFor changes the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.RunFor = livev1alpha1.RunForEachRoom }, true},
		{"Suspending keeps the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.Suspend = true }, false},
		{"Another Job template keeps the hash.", func(s *livev1alpha1.BattleReactionSpec) {
			s.JobTemplate.Spec.Template.Spec.Containers[0].Image = "example.com/reward:2"
		}, false},
		{"Other history limits keep the hash.", func(s *livev1alpha1.BattleReactionSpec) {
			s.SuccessfulJobsHistoryLimit, s.FailedJobsHistoryLimit = ptr.To[int32](10), nil
		}, false},
		{"Another maxRunningJobs keeps the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.MaxRunningJobs = 0 }, false},
		{"Another startingAfter keeps the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.StartingAfter = &metav1.Time{Time: at(-600)} }, false},
		{"Removing startingAfter keeps the hash.", func(s *livev1alpha1.BattleReactionSpec) { s.StartingAfter = nil }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := reactionSpec()
			tc.edit(&spec)
			before := *spec.DeepCopy()
			got := CriteriaHash(&spec)
			if changed := got != base; changed != tc.changes {
				t.Errorf("CriteriaHash = %q, base %q: changed %v, want %v", got, base, changed, tc.changes)
			}
			if again := CriteriaHash(&spec); again != got {
				t.Errorf("CriteriaHash is not deterministic: %q then %q", got, again)
			}
			if diff := cmp.Diff(before, spec); diff != "" {
				t.Errorf("CriteriaHash changed the spec (-before +after):\n%s", diff)
			}
		})
	}
}

func TestWindowStart(t *testing.T) {
	created := metav1.NewTime(at(0))
	tp := func(n int) *metav1.Time { v := metav1.NewTime(at(n)); return &v }
	cases := []struct {
		name          string
		startingAfter *metav1.Time
		criteria      *livev1alpha1.CriteriaRecord
		want          metav1.Time
	}{
		{"Without startingAfter the window starts at creation.", nil, nil, created},
		{"An earlier startingAfter reaches back before creation.", tp(-60), nil, *tp(-60)},
		{"A later startingAfter starts the window later.", tp(60), nil, *tp(60)},
		{"The reaction's first criteria, with no edit time, leave the window alone.", nil, &livev1alpha1.CriteriaRecord{Hash: "abc"}, created},
		{"A criteria edit after creation starts the window at the edit.", nil, &livev1alpha1.CriteriaRecord{Hash: "abc", Since: tp(30)}, *tp(30)},
		{"A criteria edit after an earlier startingAfter wins.", tp(-60), &livev1alpha1.CriteriaRecord{Hash: "abc", Since: tp(30)}, *tp(30)},
		{"A startingAfter after the criteria edit wins.", tp(90), &livev1alpha1.CriteriaRecord{Hash: "abc", Since: tp(30)}, *tp(90)},
		{"A criteria edit at the same time as startingAfter gives that time.", tp(30), &livev1alpha1.CriteriaRecord{Hash: "abc", Since: tp(30)}, *tp(30)},
		{"A criteria edit before an earlier startingAfter does not move the window.", tp(-60), &livev1alpha1.CriteriaRecord{Hash: "abc", Since: tp(-90)}, *tp(-60)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rx := &livev1alpha1.BattleReaction{
				ObjectMeta: metav1.ObjectMeta{Name: "rx", CreationTimestamp: created},
				Spec:       livev1alpha1.BattleReactionSpec{StartingAfter: tc.startingAfter},
				Status:     livev1alpha1.BattleReactionStatus{Criteria: tc.criteria},
			}
			if got := WindowStart(rx); !got.Equal(&tc.want) {
				t.Errorf("WindowStart = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCountsFrom(t *testing.T) {
	start := metav1.NewTime(time.Date(2025, 11, 22, 9, 0, 0, 0, time.UTC))
	cases := []struct {
		name    string
		arrival time.Time
		want    bool
	}{
		{"A battle stored in the same second as the window starts counts.", start.Time, true},
		{"A battle stored a second later counts.", start.Add(time.Second), true},
		{"A battle stored a day later counts.", start.Add(24 * time.Hour), true},
		{"A battle stored a second earlier does not count.", start.Add(-time.Second), false},
		{"A battle stored a year earlier does not count.", start.AddDate(-1, 0, 0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CountsFrom(start, metav1.NewTime(tc.arrival)); got != tc.want {
				t.Errorf("CountsFrom(%v, %v) = %v, want %v", start, tc.arrival, got, tc.want)
			}
		})
	}
}

func TestCountsFromThroughTheAPIServer(t *testing.T) {
	// Times pass through the API server as RFC 3339 seconds: a reaction created at 09:00:00.9
	// and a battle stored at 09:00:00.2 both read back as 09:00:00, and the battle counts.
	var created, arrived metav1.Time
	for _, c := range []struct {
		t   time.Time
		out *metav1.Time
	}{
		{time.Date(2025, 11, 22, 9, 0, 0, 900_000_000, time.UTC), &created},
		{time.Date(2025, 11, 22, 9, 0, 0, 200_000_000, time.UTC), &arrived},
	} {
		raw, err := metav1.NewTime(c.t).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.out.UnmarshalJSON(raw); err != nil {
			t.Fatal(err)
		}
	}
	rx := &livev1alpha1.BattleReaction{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: created}}
	if !CountsFrom(WindowStart(rx), arrived) {
		t.Errorf("a battle stored in the second the reaction was created does not count: start %v, arrival %v", WindowStart(rx), arrived)
	}
}

func TestRecorded(t *testing.T) {
	br := &livev1alpha1.BattleResult{Status: livev1alpha1.BattleResultStatus{Reactions: []livev1alpha1.ReactionRecord{
		{Reaction: "other", UID: "uid-other", Jobs: 1, FiredAt: metav1.NewTime(t0)},
		{Reaction: "reward-winners", UID: "uid-1", Jobs: 4, FiredAt: metav1.NewTime(t0)},
	}}}
	cases := []struct {
		name      string
		br        *livev1alpha1.BattleResult
		rx, uid   string
		wantFired bool
	}{
		{"A reaction recorded by name and UID has fired.", br, "reward-winners", "uid-1", true},
		{"Another reaction's record is found too.", br, "other", "uid-other", true},
		{"A new reaction of the same name, with another UID, has not fired.", br, "reward-winners", "uid-2", false},
		{"A reaction with another's UID has not fired.", br, "reward-winners", "uid-other", false},
		{"A reaction absent from the records has not fired.", br, "unknown", "uid-1", false},
		{"A battle without records has no reaction fired.", &livev1alpha1.BattleResult{}, "reward-winners", "uid-1", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Recorded(tc.br, tc.rx, tc.uid); got != tc.wantFired {
				t.Errorf("Recorded(%q, %q) = %v, want %v", tc.rx, tc.uid, got, tc.wantFired)
			}
		})
	}
}

func TestLastEdit(t *testing.T) {
	tp := func(n int) *metav1.Time { v := metav1.NewTime(at(n)); return &v }
	entry := func(manager, subresource string, time *metav1.Time) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: subresource, Time: time}
	}
	cases := []struct {
		name   string
		fields []metav1.ManagedFieldsEntry
		want   *metav1.Time
	}{
		{"No managed fields, no edit time.", nil, nil},
		{"One user write is the last edit.", []metav1.ManagedFieldsEntry{entry("kubectl-client-side-apply", "", tp(5))}, tp(5)},
		{"The newest of several user writes is the last edit.", []metav1.ManagedFieldsEntry{
			entry("kubectl-client-side-apply", "", tp(5)), entry("kubectl-edit", "", tp(20)), entry("kubectl-patch", "", tp(10)),
		}, tp(20)},
		{"A newer status write is not an edit.", []metav1.ManagedFieldsEntry{
			entry("kubectl-client-side-apply", "", tp(5)), entry("battle-operator", "status", tp(50)),
		}, tp(5)},
		{"Only status writes give no edit time.", []metav1.ManagedFieldsEntry{entry("battle-operator", "status", tp(50))}, nil},
		{"An entry without a time is skipped.", []metav1.ManagedFieldsEntry{entry("kubectl", "", nil), entry("kubectl-edit", "", tp(3))}, tp(3)},
		{"Entries without times give no edit time.", []metav1.ManagedFieldsEntry{entry("kubectl", "", nil)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rx := &livev1alpha1.BattleReaction{ObjectMeta: metav1.ObjectMeta{Name: "rx", ManagedFields: tc.fields}}
			got := LastEdit(rx)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("LastEdit (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkCriteriaHash is what the battle watch's handler spends per reaction and arriving
// battle to check that a reaction's index was built for the criteria the cache shows.
func BenchmarkCriteriaHash(b *testing.B) {
	spec := reactionSpec()
	b.ReportAllocs()
	for b.Loop() {
		CriteriaHash(&spec)
	}
}
