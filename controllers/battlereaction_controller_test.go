package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/battleops/battle-operator/internal/testutil"
)

// The battle-end fixtures' IDs, by file.
var fixtureBattleIDs = map[string]string{
	"end-battle-official-example.json": "4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=",
	"end-battle-caller-wins.json":      "kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=",
	"end-battle-draw.json":             "ZHJhdy1iYXR0bGUtZXhhbXBsZS0wMDAwMDAwMDAwMDE=",
	"end-battle-four-rooms.json":       "Qm9vayBvZiBiYXR0bGVzIGZvdXIgcm9vbXMgLyArID0=",
	"end-battle-all-hosts-exited.json": "YWxsLWhvc3RzLWV4aXRlZC1leGFtcGxlLTAwMDAwMDE=",
	"end-battle-never-started.json":    "bmV2ZXItc3RhcnRlZC1leGFtcGxlLTAwMDAwMDAwMDE=",
}

// newReaction is a reaction with a plain one-container Job template.
func newReaction(ns, name string, mutate func(*livev1alpha1.BattleReactionSpec)) *livev1alpha1.BattleReaction {
	rx := &livev1alpha1.BattleReaction{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: livev1alpha1.BattleReactionSpec{
			JobTemplate: &batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "growth"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "reward", Image: "busybox:1.37",
						Command: []string{"sh", "-c", `echo "$BATTLE_ID" "$GREETING"`},
						Env:     []corev1.EnvVar{{Name: "GREETING", Value: "battle $(BATTLE_ID) won"}},
					}},
				}}},
			},
		},
	}
	if mutate != nil {
		mutate(&rx.Spec)
	}
	return rx
}

func createReaction(t *testing.T, rx *livev1alpha1.BattleReaction) *livev1alpha1.BattleReaction {
	t.Helper()
	if err := k8sClient.Create(context.Background(), rx); err != nil {
		t.Fatalf("creating reaction %s: %v", rx.Name, err)
	}
	return rx
}

// eventually polls check until it returns nil, and fails the test with its last error.
func eventually(t *testing.T, what string, check func(ctx context.Context) error) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, what, check)
}

// reactionJobs lists the Jobs of a reaction by its label, sorted by name.
func reactionJobs(ctx context.Context, ns, name string) ([]batchv1.Job, error) {
	var list batchv1.JobList
	if err := k8sClient.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{reaction.LabelReaction: name}); err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

func getReaction(ctx context.Context, rx *livev1alpha1.BattleReaction) (*livev1alpha1.BattleReaction, error) {
	var got livev1alpha1.BattleReaction
	err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rx), &got)
	return &got, err
}

// setSuspend sets the reaction's spec.suspend.
func setSuspend(t *testing.T, rx *livev1alpha1.BattleReaction, suspend bool) {
	t.Helper()
	editSpec(t, rx, func(s *livev1alpha1.BattleReactionSpec) { s.Suspend = suspend })
}

// editSpec updates the reaction's spec with edit, reading it again after a conflict.
func editSpec(t *testing.T, rx *livev1alpha1.BattleReaction, edit func(*livev1alpha1.BattleReactionSpec)) {
	t.Helper()
	eventually(t, "editing reaction "+rx.Name, func(ctx context.Context) error {
		got, err := getReaction(ctx, rx)
		if err != nil {
			return err
		}
		edit(&got.Spec)
		return k8sClient.Update(ctx, got)
	})
}

// holdRecord holds back the reaction's record of the named battle (the package's record hook)
// until release is called or the test ends. held is ready once the record was attempted; it
// fails the test if that takes over 30 s. Tests that use it are not parallel: the hook is the
// package's.
func holdRecord(t *testing.T, namespace, name string) (held <-chan struct{}, release func()) {
	t.Helper()
	return hold(t, &beforeRecord, "record", func(br *livev1alpha1.BattleResult) bool {
		return br.Namespace == namespace && br.Name == name
	})
}

// holdCreate is holdRecord for the create of the named Job (the package's create hook).
func holdCreate(t *testing.T, namespace, name string) (held <-chan struct{}, release func()) {
	t.Helper()
	return hold(t, &beforeCreate, "create", func(job *batchv1.Job) bool {
		return job.Namespace == namespace && job.Name == name
	})
}

// hold sets a package hook that holds back the write of what matches until release is called
// or the test ends; held is ready once that write was attempted.
func hold[T any](t *testing.T, slot *atomic.Pointer[func(context.Context, T)], what string, match func(T) bool) (held <-chan struct{}, release func()) {
	t.Helper()
	attempted, released := make(chan struct{}), make(chan struct{})
	var once, releasing sync.Once
	hook := func(ctx context.Context, obj T) {
		if !match(obj) {
			return
		}
		once.Do(func() { close(attempted) })
		select {
		case <-released:
		case <-ctx.Done():
		}
	}
	slot.Store(&hook)
	release = func() { releasing.Do(func() { close(released) }) }
	t.Cleanup(func() {
		release()
		slot.Store(nil)
	})
	ready := make(chan struct{})
	go func() {
		defer close(ready)
		select {
		case <-attempted:
		case <-released: // the test ended first
		case <-time.After(30 * time.Second):
			t.Errorf("the held %s was never attempted", what)
		}
	}()
	return ready, release
}

// counts is a reaction's status as a person reads it.
type counts struct{ Started, Succeeded, Failed, Running, Waiting int64 }

func countsOf(rx *livev1alpha1.BattleReaction) counts {
	s := rx.Status
	return counts{s.JobsStarted, s.JobsSucceeded, s.JobsFailed, s.JobsRunning, s.WaitingBattles}
}

// waitForCounts waits until the reaction's status, for its current generation, shows want.
func waitForCounts(t *testing.T, rx *livev1alpha1.BattleReaction, want counts) *livev1alpha1.BattleReaction {
	t.Helper()
	var got *livev1alpha1.BattleReaction
	eventually(t, "reaction status", func(ctx context.Context) error {
		var err error
		if got, err = getReaction(ctx, rx); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
		}
		if diff := cmp.Diff(want, countsOf(got)); diff != "" {
			return fmt.Errorf("counts (-want +got):\n%s", diff)
		}
		return nil
	})
	return got
}

// waitForJobs waits until the reaction has exactly the Jobs named.
func waitForJobs(t *testing.T, ns, name string, want []string) []batchv1.Job {
	t.Helper()
	want = append([]string(nil), want...)
	sort.Strings(want)
	var jobs []batchv1.Job
	eventually(t, "the reaction's Jobs", func(ctx context.Context) error {
		var err error
		if jobs, err = reactionJobs(ctx, ns, name); err != nil {
			return err
		}
		var got []string
		for _, j := range jobs {
			got = append(got, j.Name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("jobs (-want +got):\n%s", diff)
		}
		return nil
	})
	return jobs
}

// finishJob sets a Job's status by hand, as the Job controller would (envtest runs none).
func finishJob(t *testing.T, job *batchv1.Job, succeeded bool) {
	t.Helper()
	eventually(t, "finishing Job "+job.Name, func(ctx context.Context) error {
		var j batchv1.Job
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), &j); err != nil {
			return err
		}
		now := metav1.Now()
		j.Status.StartTime = &now
		if succeeded {
			j.Status.CompletionTime = &now
			j.Status.Succeeded = 1
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			}
		} else {
			j.Status.Failed = 1
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "BackoffLimitExceeded"},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "BackoffLimitExceeded"},
			}
		}
		return k8sClient.Status().Update(ctx, &j)
	})
}

func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func sendFixtures(t *testing.T, app *testApp) {
	t.Helper()
	for _, f := range endBattleFixtures {
		app.send(t, testutil.Fixture(t, f))
	}
}

// TestEachWinnerRunsOnceWithTheBattlesData: a reward-winners reaction gets one Job per winning
// room, with the battle in its environment, labels, owner and finalizer, and records the battle.
func TestEachWinnerRunsOnceWithTheBattlesData(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "reward-winners", func(s *livev1alpha1.BattleReactionSpec) {
		s.RunFor = livev1alpha1.RunForEachWinner
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeWin}
	}))
	sendFixtures(t, app)
	sendFixtures(t, app) // duplicates change nothing

	callerWins, fourRooms := battle.Name(fixtureBattleIDs["end-battle-caller-wins.json"]), battle.Name(fixtureBattleIDs["end-battle-four-rooms.json"])
	nameFor := func(br, room string) string {
		return reaction.JobName("reward-winners", br, &livev1alpha1.BattleRoom{RoomID: livev1alpha1.RoomID(room)})
	}
	jobs := waitForJobs(t, app.namespace, "reward-winners", []string{nameFor(callerWins, "live_room_1001"), nameFor(fourRooms, "live_room_2002")})
	got := waitForCounts(t, rx, counts{Started: 2, Running: 2})

	var job batchv1.Job
	for _, j := range jobs {
		if j.Name == nameFor(fourRooms, "live_room_2002") {
			job = j
		}
	}
	if ref := metav1.GetControllerOf(&job); ref == nil || ref.UID != got.UID || ref.Kind != "BattleReaction" {
		t.Errorf("Job controller reference = %+v, want the reaction", ref)
	}
	if !strings.Contains(strings.Join(job.Finalizers, ","), reaction.Finalizer) {
		t.Errorf("Job finalizers = %v, want %s", job.Finalizers, reaction.Finalizer)
	}
	wantLabels := map[string]string{"team": "growth", reaction.LabelReaction: "reward-winners", reaction.LabelBattleResult: fourRooms, reaction.LabelRoom: "live_room_2002"}
	for k, v := range wantLabels {
		if job.Labels[k] != v {
			t.Errorf("Job label %s = %q, want %q", k, job.Labels[k], v)
		}
	}
	env := envOf(job.Spec.Template.Spec.Containers[0])
	wantEnv := map[string]string{
		"BATTLE_ID": fixtureBattleIDs["end-battle-four-rooms.json"], "BATTLE_RESULT": fourRooms, "BATTLE_NAMESPACE": app.namespace,
		"BATTLE_END_REASON": "TimeUp", "BATTLE_OUTCOME": "Win", "BATTLE_WINNER_ROOMS": "live_room_2002",
		"ROOM_ID": "live_room_2002", "ROOM_SCORE": "4100", "ROOM_RESULT": "Win", "ROOM_RANK": "1", "ROOM_OWNER_ACCOUNT": "host_bob",
		"GREETING": "battle $(BATTLE_ID) won",
	}
	for k, v := range wantEnv {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if c := job.Spec.Template.Spec.Containers[0]; c.Env[len(c.Env)-1].Name != "GREETING" {
		t.Errorf("the template's own variables must come after the battle's, got %v", c.Env)
	}
	var spec livev1alpha1.BattleResultSpec
	if err := json.Unmarshal([]byte(env["BATTLE_JSON"]), &spec); err != nil || spec.BattleID != fixtureBattleIDs["end-battle-four-rooms.json"] || len(spec.Rooms) != 4 {
		t.Errorf("BATTLE_JSON = %.80s... (%v), want the battle's spec", env["BATTLE_JSON"], err)
	}
	// kubectl get jobs -l live.battleops.io/battle-result=<name> lists a battle's Jobs.
	var byBattle batchv1.JobList
	if err := k8sClient.List(context.Background(), &byBattle, client.InNamespace(app.namespace), client.MatchingLabels{reaction.LabelBattleResult: callerWins}); err != nil || len(byBattle.Items) != 1 {
		t.Errorf("Jobs labelled with the caller-wins battle: %d (%v), want 1", len(byBattle.Items), err)
	}

	var br livev1alpha1.BattleResult
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: app.namespace, Name: fourRooms}, &br); err != nil {
		t.Fatal(err)
	}
	if len(br.Status.Reactions) != 1 || br.Status.Reactions[0].Reaction != "reward-winners" || br.Status.Reactions[0].UID != string(got.UID) || br.Status.Reactions[0].Jobs != 1 {
		t.Errorf("BattleResult status.reactions = %+v, want one record of reward-winners", br.Status.Reactions)
	}
	if got.Status.LastFired == nil || (got.Status.LastFired.BattleResult != fourRooms && got.Status.LastFired.BattleResult != callerWins) {
		t.Errorf("lastFired = %+v, want one of the winning battles", got.Status.LastFired)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, livev1alpha1.ConditionReady) {
		t.Errorf("Ready = %+v, want True", meta.FindStatusCondition(got.Status.Conditions, livev1alpha1.ConditionReady))
	}
}

// TestExactlyOnceAcrossPruneDeletionRestartAndDuplicates: finished Jobs are pruned by the
// history limits and counted once; neither a pruned Job, nor one deleted by hand, runs again,
// also after a manager restart and repeated callbacks.
func TestExactlyOnceAcrossPruneDeletionRestartAndDuplicates(t *testing.T) {
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "every-completed-battle", func(s *livev1alpha1.BattleReactionSpec) {
		s.Match.EndReasons = []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp}
		s.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
		s.FailedJobsHistoryLimit = ptr.To[int32](0)
	}))
	sendFixtures(t, app)
	var want []string
	for _, f := range []string{"end-battle-official-example.json", "end-battle-caller-wins.json", "end-battle-draw.json", "end-battle-four-rooms.json"} {
		want = append(want, reaction.JobName(rx.Name, battle.Name(fixtureBattleIDs[f]), nil))
	}
	jobs := waitForJobs(t, app.namespace, rx.Name, want)
	waitForCounts(t, rx, counts{Started: 4, Running: 4})

	// Two succeed, one fails, one is deleted by hand while running.
	finishJob(t, &jobs[0], true)
	finishJob(t, &jobs[1], true)
	finishJob(t, &jobs[2], false)
	if err := k8sClient.Delete(context.Background(), &jobs[3], client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	// Limits 1 and 0: one succeeded Job stays (the newer one), the failed one goes.
	waitForCounts(t, rx, counts{Started: 4, Succeeded: 2, Failed: 1})
	left := waitForJobs(t, app.namespace, rx.Name, []string{jobs[0].Name, jobs[1].Name}[1:2])
	if len(left[0].Finalizers) == 0 {
		t.Errorf("the kept Job lost its finalizer")
	}

	stopManager()
	sendFixtures(t, app)
	_, endedBefore, err := reconciles()
	if err != nil {
		t.Fatal(err)
	}
	if err := startManager(); err != nil {
		t.Fatal(err)
	}
	sendFixtures(t, app)
	// Once the new manager has done what it would do, check it did nothing.
	waitStartedThenIdle(t, endedBefore)
	waitForJobs(t, app.namespace, rx.Name, []string{left[0].Name})
	got := waitForCounts(t, rx, counts{Started: 4, Succeeded: 2, Failed: 1})
	if len(got.Status.Accounting.Leaving) != 0 {
		t.Errorf("accounting.leaving = %v, want empty once the Jobs are gone", got.Status.Accounting.Leaving)
	}
}

// TestSuspendAndResume: a suspended reaction creates nothing; on resume the battles that
// arrived meanwhile get their Jobs.
func TestSuspendAndResume(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "paused", func(s *livev1alpha1.BattleReactionSpec) {
		s.Suspend = true
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}
	}))
	sendFixtures(t, app)
	got := waitForCounts(t, rx, counts{Waiting: 2})
	if c := meta.FindStatusCondition(got.Status.Conditions, livev1alpha1.ConditionReady); c == nil || c.Reason != livev1alpha1.ReasonSuspended {
		t.Errorf("Ready = %+v, want reason Suspended", c)
	}
	waitForJobs(t, app.namespace, rx.Name, nil)

	got.Spec.Suspend = false
	if err := k8sClient.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	waitForJobs(t, app.namespace, rx.Name, []string{
		reaction.JobName(rx.Name, battle.Name(fixtureBattleIDs["end-battle-official-example.json"]), nil),
		reaction.JobName(rx.Name, battle.Name(fixtureBattleIDs["end-battle-draw.json"]), nil),
	})
	waitForCounts(t, rx, counts{Started: 2, Running: 2})
}

// TestMaxRunningJobsQueuesInArrivalOrder: over the limit Jobs wait, and start in the order
// their battles arrived as slots free.
func TestMaxRunningJobsQueuesInArrivalOrder(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "one-at-a-time", func(s *livev1alpha1.BattleReactionSpec) {
		s.MaxRunningJobs = 1
		s.RunFor = livev1alpha1.RunForEachRoom
		s.Match.EndReasons = []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp}
		s.Suspend = true // all battles queued first, so the order is the stored arrival order alone
		s.SuccessfulJobsHistoryLimit = ptr.To[int32](10)
	}))
	sendFixtures(t, app)
	waitForCounts(t, rx, counts{Waiting: 4})
	setSuspend(t, rx, false)

	// The order the battles arrived in, as the API server recorded it.
	var brs livev1alpha1.BattleResultList
	if err := k8sClient.List(context.Background(), &brs, client.InNamespace(app.namespace)); err != nil {
		t.Fatal(err)
	}
	sort.Slice(brs.Items, func(i, j int) bool {
		a, b := brs.Items[i].CreationTimestamp, brs.Items[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return brs.Items[i].Name < brs.Items[j].Name
	})
	var order []string // expected Job names, in order
	for _, br := range brs.Items {
		if br.Spec.EndReason != livev1alpha1.EndReasonTimeUp {
			continue
		}
		for i := range br.Spec.Rooms {
			order = append(order, reaction.JobName(rx.Name, br.Name, &br.Spec.Rooms[i]))
		}
	}
	if len(order) != 10 { // 2 + 2 + 2 + 4 rooms
		t.Fatalf("expected 10 room runs, have %d", len(order))
	}
	for i := range order {
		jobs := waitForJobs(t, app.namespace, rx.Name, order[:i+1])
		waitForCounts(t, rx, counts{Started: int64(i + 1), Succeeded: int64(i), Running: 1, Waiting: int64(len(brs.Items) - 2 - battlesDone(brs.Items, order[:i+1], rx.Name))})
		for _, j := range jobs {
			if j.Name == order[i] {
				finishJob(t, &j, true)
			}
		}
	}
	waitForCounts(t, rx, counts{Started: 10, Succeeded: 10})
}

// battlesDone counts the TimeUp battles all of whose room Jobs are among created.
func battlesDone(brs []livev1alpha1.BattleResult, created []string, rx string) int {
	have := map[string]bool{}
	for _, n := range created {
		have[n] = true
	}
	done := 0
	for _, br := range brs {
		if br.Spec.EndReason != livev1alpha1.EndReasonTimeUp {
			continue
		}
		all := true
		for i := range br.Spec.Rooms {
			all = all && have[reaction.JobName(rx, br.Name, &br.Spec.Rooms[i])]
		}
		if all {
			done++
		}
	}
	return done
}

func warningEvent(ctx context.Context, ns, name, reason string) error {
	var list eventsv1.EventList
	if err := k8sClient.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason && e.Type == corev1.EventTypeWarning {
			return nil
		}
	}
	return fmt.Errorf("no Warning Event %s on %s among %d Events", reason, name, len(list.Items))
}

// TestInvalidExpressionAndTemplate: a spec the user must fix sets Ready=False with a reason and
// a Warning Event and creates no Job; fixing it recovers.
func TestInvalidExpressionAndTemplate(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	app := newTestApp(t)
	badCEL := createReaction(t, newReaction(app.namespace, "bad-expression", func(s *livev1alpha1.BattleReactionSpec) {
		s.Match.Expression = "battle.roomz.exists(r, r.score > 0)"
	}))
	badTemplate := createReaction(t, newReaction(app.namespace, "bad-template", func(s *livev1alpha1.BattleReactionSpec) {
		s.JobTemplate.Spec.Template.Spec.Containers[0].Name = "Not_A_DNS_Label"
	}))
	sendFixtures(t, app)

	for _, c := range []struct {
		rx     *livev1alpha1.BattleReaction
		reason string
	}{{badCEL, livev1alpha1.ReasonInvalidExpression}, {badTemplate, livev1alpha1.ReasonInvalidJobTemplate}} {
		eventually(t, c.rx.Name+" not Ready", func(ctx context.Context) error {
			got, err := getReaction(ctx, c.rx)
			if err != nil {
				return err
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, livev1alpha1.ConditionReady)
			if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != c.reason || cond.ObservedGeneration != got.Generation {
				return fmt.Errorf("Ready = %+v, want False %s", cond, c.reason)
			}
			return warningEvent(ctx, app.namespace, c.rx.Name, c.reason)
		})
		waitForJobs(t, app.namespace, c.rx.Name, nil)
	}
	got, _ := getReaction(context.Background(), badCEL)
	if msg := meta.FindStatusCondition(got.Status.Conditions, livev1alpha1.ConditionReady).Message; !strings.Contains(msg, "roomz") {
		t.Errorf("the message %q should name the problem", msg)
	}

	// Fix the template: the template is not a match criterion, so the battles already stored count.
	eventually(t, "fixing the template", func(ctx context.Context) error {
		rx, err := getReaction(ctx, badTemplate)
		if err != nil {
			return err
		}
		rx.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Name = "fixed"
		return k8sClient.Update(ctx, rx)
	})
	waitForCounts(t, badTemplate, counts{Started: 6, Running: 6})

	// Fix the expression: it is a new criterion, so it applies to battles arriving after the edit.
	nextSecond() // arrival and edit times have a one-second resolution
	eventually(t, "fixing the expression", func(ctx context.Context) error {
		rx, err := getReaction(ctx, badCEL)
		if err != nil {
			return err
		}
		rx.Spec.Match.Expression = "battle.rooms.exists(r, r.score > 0)"
		return k8sClient.Update(ctx, rx)
	})
	fixed := waitForCounts(t, badCEL, counts{})
	if !meta.IsStatusConditionTrue(fixed.Status.Conditions, livev1alpha1.ConditionReady) {
		t.Fatalf("Ready = %+v after the fix", meta.FindStatusCondition(fixed.Status.Conditions, livev1alpha1.ConditionReady))
	}
	nextSecond() // arrival times have a one-second resolution
	late := randomBattle{id: "after-the-fix=", opType: 0, endTime: 1763900000, rooms: []string{"x", "y"}, scores: []int64{5, 3}, accounts: []string{"a", "b"}}
	app.send(t, late.body())
	waitForJobs(t, app.namespace, badCEL.Name, []string{reaction.JobName(badCEL.Name, battle.Name(late.id), nil)})
}

// TestStartingAfter: battles stored before a reaction was created do not count, unless its
// startingAfter says so.
func TestStartingAfter(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	app := newTestApp(t)
	sendFixtures(t, app)
	nextSecond() // arrival times have a one-second resolution
	fromNow := createReaction(t, newReaction(app.namespace, "from-now", nil))
	backfill := createReaction(t, newReaction(app.namespace, "backfill", func(s *livev1alpha1.BattleReactionSpec) {
		s.StartingAfter = &metav1.Time{Time: time.Now().Add(-time.Hour)}
		s.Match.EndReasons = []livev1alpha1.EndReason{livev1alpha1.EndReasonNeverStarted}
	}))
	waitForJobs(t, app.namespace, backfill.Name, []string{reaction.JobName(backfill.Name, battle.Name(fixtureBattleIDs["end-battle-never-started.json"]), nil)})
	waitForCounts(t, fromNow, counts{})

	late := randomBattle{id: "late-delivery=", opType: 1, endTime: 1600000000, rooms: []string{"x", "y"}, scores: []int64{5, 3}, accounts: []string{"a", "b"}}
	app.send(t, late.body()) // ended long ago, arrived now: counts
	waitForJobs(t, app.namespace, fromNow.Name, []string{reaction.JobName(fromNow.Name, battle.Name(late.id), nil)})
}

// TestDeletedReactionReleasesItsJobs: Jobs of a deleted reaction lose their finalizer, so the
// garbage collector (absent in envtest: deleted by hand here) can remove them.
func TestDeletedReactionReleasesItsJobs(t *testing.T) {
	t.Parallel() // its own namespace: it runs with the others that do not restart the manager
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "short-lived", nil))
	app.send(t, testutil.Fixture(t, "end-battle-four-rooms.json"))
	jobs := waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, battle.Name(fixtureBattleIDs["end-battle-four-rooms.json"]), nil)})
	if err := k8sClient.Delete(context.Background(), rx); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Delete(context.Background(), &jobs[0], client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Job to go", func(ctx context.Context) error {
		var j batchv1.Job
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(&jobs[0]), &j)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("Job still there (finalizers %v, err %v)", j.Finalizers, err)
	})
}

// examinedSnapshot is the histogram of battles examined per reaction reconcile: how many
// reconciles there were, and how many of them examined at most 10 battles.
func examinedSnapshot(t *testing.T) (reconciles, small uint64, battles float64) {
	t.Helper()
	var m dto.Metric
	if err := reactionBattlesExamined.Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == 10 {
			small = b.GetCumulativeCount()
		}
	}
	return h.GetSampleCount(), small, h.GetSampleSum()
}

// TestReactionCostFollowsTrafficNotHistory: with a few hundred battles stored that a reaction
// already settled (fired for, or not matching), one new matching battle costs its reconciles
// only that battle, not a walk over the history, and gets exactly its Job.
func TestReactionCostFollowsTrafficNotHistory(t *testing.T) {
	const draws, wins = 300, 10
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "winners-only", func(s *livev1alpha1.BattleReactionSpec) {
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeWin}
		s.SuccessfulJobsHistoryLimit = ptr.To[int32](100)
	}))
	waitForCounts(t, rx, counts{})
	nextSecond() // arrival times have a one-second resolution

	battleOf := func(id string, scores ...int64) randomBattle {
		return randomBattle{id: id, opType: 0, endTime: 1763900000, rooms: []string{"a", "b"}, scores: scores, accounts: []string{"1", "2"}}
	}
	var want []string
	for i := range draws { // do not match: settled when they arrive
		app.send(t, battleOf(fmt.Sprintf("history-draw-%d=", i), 7, 7).body())
	}
	for i := range wins { // match: fired for and recorded
		b := battleOf(fmt.Sprintf("history-win-%d=", i), 9, 3)
		app.send(t, b.body())
		want = append(want, reaction.JobName(rx.Name, battle.Name(b.id), nil))
	}
	waitForJobs(t, app.namespace, rx.Name, want)
	waitForCounts(t, rx, counts{Started: wins, Running: wins})
	waitIdle(t) // the reconciles that follow (Job events, the status write) pass

	reconciles, small, examined := examinedSnapshot(t)
	fresh := battleOf("the-new-one=", 12, 5)
	app.send(t, fresh.body())
	want = append(want, reaction.JobName(rx.Name, battle.Name(fresh.id), nil))
	waitForJobs(t, app.namespace, rx.Name, want)
	waitForCounts(t, rx, counts{Started: wins + 1, Running: wins + 1})
	eventually(t, "the new battle's record", func(ctx context.Context) error {
		var br livev1alpha1.BattleResult
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: app.namespace, Name: battle.Name(fresh.id)}, &br); err != nil {
			return err
		}
		if !reaction.Recorded(&br, rx.Name, string(rx.UID)) {
			return fmt.Errorf("status.reactions = %+v", br.Status.Reactions)
		}
		return nil
	})
	waitIdle(t)
	reconcilesAfter, smallAfter, examinedAfter := examinedSnapshot(t)

	n := reconcilesAfter - reconciles
	if n == 0 {
		t.Fatal("no reaction reconcile examined a battle")
	}
	if big := n - (smallAfter - small); big > 0 {
		t.Errorf("%d of %d reconciles examined more than 10 battles (%v in all) with %d stored: the cost follows history",
			big, n, examinedAfter-examined, draws+wins+1)
	}
	if got := examinedAfter - examined; got > 20 {
		t.Errorf("the reconciles examined %v battles for one arrival, want a handful", got)
	}
	t.Logf("%d reconciles examined %v battles for one arrival among %d stored", n, examinedAfter-examined, draws+wins+1)
}

// TestSuspendedReactionDropsDeletedBattles: a battle a reaction waits for that is deleted (by
// retention or by hand) stops counting as waiting, and gets no Job when the reaction resumes.
func TestSuspendedReactionDropsDeletedBattles(t *testing.T) {
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "paused-draws", func(s *livev1alpha1.BattleReactionSpec) {
		s.Suspend = true
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}
	}))
	sendFixtures(t, app)
	waitForCounts(t, rx, counts{Waiting: 2})

	deleted := battle.Name(fixtureBattleIDs["end-battle-draw.json"])
	if err := k8sClient.Delete(context.Background(), &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Namespace: app.namespace, Name: deleted}}); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, rx, counts{Waiting: 1})

	setSuspend(t, rx, false)
	kept := reaction.JobName(rx.Name, battle.Name(fixtureBattleIDs["end-battle-official-example.json"]), nil)
	waitForJobs(t, app.namespace, rx.Name, []string{kept})
	got := waitForCounts(t, rx, counts{Started: 1, Running: 1})
	if got.Status.LastFired == nil || got.Status.LastFired.Job != kept {
		t.Errorf("lastFired = %+v, want the kept battle's Job %s", got.Status.LastFired, kept)
	}
	waitIdle(t) // nothing more comes
	waitForJobs(t, app.namespace, rx.Name, []string{kept})
}

// TestReactionCriteriaEditedWhileManagerIsDown: new criteria count from the time of the edit,
// not from when a manager first sees it, so a battle that arrived between the edit and the
// manager's start gets its Job.
func TestReactionCriteriaEditedWhileManagerIsDown(t *testing.T) {
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "edited-offline", func(s *livev1alpha1.BattleReactionSpec) {
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}
	}))
	waitForCounts(t, rx, counts{})
	nextSecond() // edit times have a one-second resolution

	stopManager()
	restarted := false
	defer func() {
		if !restarted {
			if err := startManager(); err != nil {
				t.Error(err)
			}
		}
	}()
	editSpec(t, rx, func(s *livev1alpha1.BattleReactionSpec) {
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeWin}
	})
	win := randomBattle{id: "won-while-down=", opType: 0, endTime: 1763900000, rooms: []string{"x", "y"}, scores: []int64{5, 3}, accounts: []string{"a", "b"}}
	app.send(t, win.body())
	nextSecond() // the manager starts a second later than the battle arrived
	restarted = true
	if err := startManager(); err != nil {
		t.Fatal(err)
	}
	waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, battle.Name(win.id), nil)})
	waitForCounts(t, rx, counts{Started: 1, Running: 1})
}

// waitRecorded waits until each named BattleResult of rx's namespace records rx.
func waitRecorded(t *testing.T, rx *livev1alpha1.BattleReaction, names ...string) {
	t.Helper()
	eventually(t, "the battles recorded", func(ctx context.Context) error {
		for _, name := range names {
			var br livev1alpha1.BattleResult
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: rx.Namespace, Name: name}, &br); err != nil {
				return err
			}
			if !reaction.Recorded(&br, rx.Name, string(rx.UID)) {
				return fmt.Errorf("BattleResult %s not recorded: %+v", name, br.Status.Reactions)
			}
		}
		return nil
	})
}

// firstDrawHeld creates a reaction to draws, sends a first draw (the official example), waits
// for its Job and holds back its record (holdRecord: the test is not parallel). It returns the
// names of the first draw and of a second one (end-battle-draw.json, not sent), and the release.
func firstDrawHeld(t *testing.T, name string, edits ...func(*livev1alpha1.BattleReactionSpec)) (app *testApp, rx *livev1alpha1.BattleReaction, first, second string, release func()) {
	t.Helper()
	app = newTestApp(t)
	rx = createReaction(t, newReaction(app.namespace, name, func(s *livev1alpha1.BattleReactionSpec) {
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}
		for _, edit := range edits {
			edit(s)
		}
	}))
	first = battle.Name(fixtureBattleIDs["end-battle-official-example.json"])
	second = battle.Name(fixtureBattleIDs["end-battle-draw.json"])
	held, release := holdRecord(t, app.namespace, first)
	app.send(t, testutil.Fixture(t, "end-battle-official-example.json"))
	waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, first, nil)})
	<-held
	return app, rx, first, second, release
}

// TestBattleArrivingWhileRecordsAreWrittenGetsItsJob: a battle that arrives while the reaction's
// records of earlier battles are still being written gets its Job without waiting for them (the
// Job is created in the same reconcile, while the writes are in flight), and both battles are
// recorded once the writes go through.
func TestBattleArrivingWhileRecordsAreWrittenGetsItsJob(t *testing.T) {
	// The record of the first battle is held back until the second battle's Job exists.
	app, rx, first, second, releaseRecords := firstDrawHeld(t, "no-waiting")

	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, first, nil), reaction.JobName(rx.Name, second, nil)})
	var br livev1alpha1.BattleResult
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: app.namespace, Name: first}, &br); err != nil {
		t.Fatal(err)
	}
	if len(br.Status.Reactions) != 0 {
		t.Fatalf("the first battle was recorded while its record was held: %+v", br.Status.Reactions)
	}

	releaseRecords()
	waitRecorded(t, rx, first, second)
	if got := waitForCounts(t, rx, counts{Started: 2, Running: 2}); got.Status.LastFired == nil {
		t.Error("lastFired is not set")
	}
}

// TestBattleArrivingWhileAJobIsCreatedGetsItsJob: a battle that arrives while the create of an
// earlier battle's Job is in flight gets its own Job without waiting for that create, and both
// battles are recorded once it returns. Not parallel: it sets the package's create hook.
func TestBattleArrivingWhileAJobIsCreatedGetsItsJob(t *testing.T) {
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "creates-in-flight", func(s *livev1alpha1.BattleReactionSpec) {
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}
	}))
	first := battle.Name(fixtureBattleIDs["end-battle-official-example.json"])
	second := battle.Name(fixtureBattleIDs["end-battle-draw.json"])
	held, release := holdCreate(t, app.namespace, reaction.JobName(rx.Name, first, nil))
	app.send(t, testutil.Fixture(t, "end-battle-official-example.json"))
	<-held

	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, second, nil)})

	release()
	waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, first, nil), reaction.JobName(rx.Name, second, nil)})
	waitRecorded(t, rx, first, second)
	waitForCounts(t, rx, counts{Started: 2, Running: 2})
}

// TestJobsDoNotWaitBehindRecords: with as many records in flight as a reconcile makes at once
// (fireConcurrency, each held), a battle arriving gets its Job at once: creates and records do
// not take turns. Every battle is recorded once the records return. Not parallel: it sets the
// package's record hook.
func TestJobsDoNotWaitBehindRecords(t *testing.T) {
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "records-in-flight", nil))
	var attempts atomic.Int32
	_, release := hold(t, &beforeRecord, "record", func(br *livev1alpha1.BattleResult) bool {
		if br.Namespace != app.namespace {
			return false
		}
		attempts.Add(1)
		return true
	})
	battleAt := func(i int) randomBattle {
		return randomBattle{id: fmt.Sprintf("held-record/%02d", i), opType: 0, endTime: 1763800000 + int64(i),
			rooms: []string{"a", "b"}, scores: []int64{2, 1}, accounts: []string{"x", "y"}}
	}
	// Sent at once, they take a second or two; the reconcile that fires for them cannot end
	// with their records held.
	var names []string
	var bodies [][]byte
	for i := range fireConcurrency {
		bodies = append(bodies, battleAt(i).body())
		names = append(names, battle.Name(battleAt(i).id))
	}
	sendAll(t, app, bodies)
	eventually(t, "every record held", func(context.Context) error {
		if n := attempts.Load(); n != fireConcurrency {
			return fmt.Errorf("%d records attempted, want %d", n, fireConcurrency)
		}
		return nil
	})
	app.send(t, battleAt(fireConcurrency).body())
	names = append(names, battle.Name(battleAt(fireConcurrency).id))
	waitForJobCount(t, app.namespace, rx.Name, fireConcurrency+1)

	release()
	waitRecorded(t, rx, names...)
	waitForCounts(t, rx, counts{Started: fireConcurrency + 1, Running: fireConcurrency + 1})
}

// TestABusyFiringWritesItsStatusAndGoesOn: a reconcile whose writes stay in flight (a record
// held back) for longer than a firing window does not stop planning to drain them: it writes
// its status as things are (the Job it created counted) and a battle arriving after that gets
// its Job at once. Not parallel: it sets the package's record hook and shortens the window.
func TestABusyFiringWritesItsStatusAndGoesOn(t *testing.T) {
	setFiringWindows(t, 300*time.Millisecond, time.Minute)
	app, rx, first, second, releaseRecords := firstDrawHeld(t, "busy-firing")

	// The status is written while the first battle's record is held: a checkpoint.
	waitForCounts(t, rx, counts{Started: 1, Running: 1})
	// Planning goes on past the window: the draw's Job, while the record is still held.
	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, first, nil), reaction.JobName(rx.Name, second, nil)})
	waitForCounts(t, rx, counts{Started: 2, Running: 2})

	releaseRecords()
	waitRecorded(t, rx, first, second)
}

// TestABusyFiringPlansWaitingBattlesWhenJobsFinish: under maxRunningJobs 1, a battle waits
// for the running Job of the one before; when that Job finishes while the firing is still
// busy (the first battle's record held), the next checkpoint sees it finished and plans the
// waiting battle, without waiting for the record. Not parallel: hooks and windows.
func TestABusyFiringPlansWaitingBattlesWhenJobsFinish(t *testing.T) {
	setFiringWindows(t, 300*time.Millisecond, time.Minute)
	app, rx, first, second, releaseRecords := firstDrawHeld(t, "busy-one-at-a-time", func(s *livev1alpha1.BattleReactionSpec) { s.MaxRunningJobs = 1 })
	jobs := waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, first, nil)})
	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	waitForCounts(t, rx, counts{Started: 1, Running: 1, Waiting: 1}) // written by a checkpoint

	finishJob(t, &jobs[0], true)
	waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, first, nil), reaction.JobName(rx.Name, second, nil)})
	releaseRecords()
	waitRecorded(t, rx, first, second)
}

// setFiringWindows shortens the firing window and the longest firing until the test ends.
func setFiringWindows(t *testing.T, window, most time.Duration) {
	t.Helper()
	firingWindowsOverride.Store(&[2]time.Duration{window, most})
	t.Cleanup(func() { firingWindowsOverride.Store(nil) })
}

// TestEditStopsAFiringReconcile: a reconcile that keeps firing while its writes are in flight
// stops when the reaction is edited, so a battle arriving after an edit of the criteria is
// judged by the new criteria, not by the spec the reconcile started with. Not parallel: it
// sets the package's record hook (holdRecord) and its edit hook.
func TestEditStopsAFiringReconcile(t *testing.T) {
	// The first battle's record is held: the reconcile that created its Job stays in flight.
	app, rx, first, second, releaseRecords := firstDrawHeld(t, "edited-while-firing")
	halted := make(chan struct{})
	var once sync.Once
	hook := func(edited *livev1alpha1.BattleReaction) {
		if edited.Namespace == app.namespace {
			once.Do(func() { close(halted) })
		}
	}
	haltedByEdit.Store(&hook)
	t.Cleanup(func() { haltedByEdit.Store(nil) })

	// Draws no longer match; then, a second later (edit and arrival times have a one-second
	// resolution), a draw arrives while the first reconcile is still in flight.
	editSpec(t, rx, func(s *livev1alpha1.BattleReactionSpec) {
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeWin}
	})
	nextSecond()
	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	// The arrival wakes the held reconcile, which finds the reaction edited before it plans.
	select {
	case <-halted:
	case <-time.After(time.Minute):
		t.Fatal("the reconcile in flight went on planning after the edit")
	}

	releaseRecords()
	waitIdle(t)
	waitForJobs(t, app.namespace, rx.Name, []string{reaction.JobName(rx.Name, first, nil)})
	var br livev1alpha1.BattleResult
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: app.namespace, Name: second}, &br); err != nil {
		t.Fatal(err)
	}
	if len(br.Status.Reactions) != 0 {
		t.Errorf("the draw that arrived after the edit was fired for: %+v", br.Status.Reactions)
	}
}

// TestJobDeletedBeforeItsBattleIsRecordedIsNotCreatedAgain: a battle whose per-room Jobs are
// created a few at a time (maxRunningJobs) is not recorded until all exist; a Job of it
// deleted by hand meanwhile keeps its finalizer (it stays, deleting) until the battle is
// recorded, so it is not created a second time. Every room runs once.
func TestJobDeletedBeforeItsBattleIsRecordedIsNotCreatedAgain(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "half-started", func(s *livev1alpha1.BattleReactionSpec) {
		s.RunFor, s.MaxRunningJobs = livev1alpha1.RunForEachRoom, 1
	}))
	app.send(t, testutil.Fixture(t, "end-battle-four-rooms.json"))
	br := battle.Name(fixtureBattleIDs["end-battle-four-rooms.json"])
	// One Job at a time, rooms in order: the first room's runs. Delete it by hand: it frees
	// its slot, and stays, deleting, while the battle is not recorded.
	deleted := waitForJobs(t, app.namespace, rx.Name, []string{
		reaction.JobName(rx.Name, br, &livev1alpha1.BattleRoom{RoomID: "live_room_1001"})})[0]
	if err := k8sClient.Delete(context.Background(), &deleted, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	waitIdle(t) // whatever the reaction does with the deletion, it has done
	// Finish each Job as it comes; the deleted room must never get a Job again.
	eventually(t, "every room's Job, each once, and the record", func(ctx context.Context) error {
		jobs, err := reactionJobs(ctx, app.namespace, rx.Name)
		if err != nil {
			return err
		}
		for i := range jobs {
			if jobs[i].Name == deleted.Name {
				if jobs[i].DeletionTimestamp == nil {
					t.Fatalf("Job %s was created again after its deletion", deleted.Name)
				}
				continue
			}
			if done, _ := reaction.Finished(&jobs[i]); !done {
				finishJob(t, &jobs[i], true)
			}
		}
		rec, err := recordOf(ctx, app.namespace, br, rx.Name)
		if err == nil && rec.Jobs != 4 {
			err = fmt.Errorf("record %+v", rec)
		}
		return err
	})
	// Recorded: the deleted Job goes now.
	eventually(t, "the deleted Job gone", func(ctx context.Context) error {
		var j batchv1.Job
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(&deleted), &j); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (deleting %v, finalizers %v): %v", j.DeletionTimestamp != nil, j.Finalizers, err)
		}
		return nil
	})
	// The deleted Job counts as started, neither succeeded nor failed.
	waitForCounts(t, rx, counts{Started: 4, Succeeded: 3})
}

// TestReactionRecreatedUnderTheSameNameRunsItsOwnJob: a reaction deleted while its Job still
// exists (the garbage collector has not deleted it yet) and created again under the same name
// is another reaction: it does not take the old Job for its own, but waits until it is gone
// and then runs its own Job and records the battle under its own UID.
func TestReactionRecreatedUnderTheSameNameRunsItsOwnJob(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	old := createReaction(t, newReaction(app.namespace, "same-name", nil))
	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	br := battle.Name(fixtureBattleIDs["end-battle-draw.json"])
	jobs := waitForJobs(t, app.namespace, old.Name, []string{reaction.JobName(old.Name, br, nil)})
	oldJob := jobs[0]
	if err := k8sClient.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the old reaction gone", func(ctx context.Context) error {
		if _, err := getReaction(ctx, old); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	// envtest runs no garbage collector: the old Job stays until the test deletes it.
	renewed := createReaction(t, newReaction(app.namespace, "same-name", func(s *livev1alpha1.BattleReactionSpec) {
		s.StartingAfter = &metav1.Time{Time: time.Unix(0, 0)}
	}))
	eventually(t, "the new reaction waiting for its battle", func(ctx context.Context) error {
		got, err := getReaction(ctx, renewed)
		if err != nil {
			return err
		}
		if got.Status.WaitingBattles != 1 {
			return fmt.Errorf("waiting %d", got.Status.WaitingBattles)
		}
		return nil
	})
	if rec, err := recordOf(context.Background(), app.namespace, br, renewed.Name); err == nil && rec.UID == string(renewed.UID) {
		t.Fatalf("the new reaction recorded the battle with the old reaction's Job: %+v", rec)
	}
	// The garbage collector's turn: the old Job goes, the new reaction runs its own.
	if err := k8sClient.Delete(context.Background(), &oldJob, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new reaction's own Job, recorded", func(ctx context.Context) error {
		var j batchv1.Job
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(&oldJob), &j); err != nil {
			return err
		}
		if ref := metav1.GetControllerOf(&j); ref == nil || ref.UID != renewed.UID {
			return fmt.Errorf("Job %s controlled by %v, want the new reaction %s", j.Name, ref, renewed.UID)
		}
		rec, err := recordOf(ctx, app.namespace, br, renewed.Name)
		if err == nil && rec.UID != string(renewed.UID) {
			err = fmt.Errorf("record %+v", rec)
		}
		return err
	})
}

// TestConcurrentDeliveriesOfABattleMakeOneJob: twenty deliveries of one battle at once,
// interleaved with other battles, store one BattleResult and run one Job for it.
func TestConcurrentDeliveriesOfABattleMakeOneJob(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	rx := createReaction(t, newReaction(app.namespace, "once", nil))
	rng := rand.New(rand.NewPCG(23, 29))
	same := newRandomBattle(rng, 0)
	var others []randomBattle
	for i := 1; i <= 10; i++ {
		others = append(others, newRandomBattle(rng, i))
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { app.send(t, same.body()) })
		if i%2 == 0 {
			b := others[i/2]
			wg.Go(func() { app.send(t, b.body()) })
		}
	}
	wg.Wait()
	var want []string
	for _, b := range append(others, same) {
		want = append(want, reaction.JobName(rx.Name, battle.Name(b.id), nil))
	}
	waitForJobs(t, app.namespace, rx.Name, want)
	waitIdle(t)
	waitForJobs(t, app.namespace, rx.Name, want) // still one each
	var list livev1alpha1.BattleResultList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(app.namespace)); err != nil || len(list.Items) != 11 {
		t.Fatalf("%d BattleResults (%v), want 11", len(list.Items), err)
	}
	waitForCounts(t, rx, counts{Started: 11, Running: 11})
}
