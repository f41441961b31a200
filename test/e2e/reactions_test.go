//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/battleops/battle-operator/internal/testutil"
)

// The app ID startDev gives dev.sh (DEV_APP_ID).
const devAppID = "1400000042"

// Labels and annotations the reaction controller puts on its Jobs.
const (
	reactionLabel      = "live.battleops.io/reaction"
	battleResultLabel  = "live.battleops.io/battle-result"
	roomIDAnnotation   = "live.battleops.io/room-id"
	battleIDAnnotation = "live.battleops.io/battle-id"
)

// fixtureWinners are the winning rooms of each battle-end fixture, worked out by hand from
// the rules in design.md (the highest score alone wins a TimeUp battle; a shared highest
// score is a draw; other end reasons are NoContest), not by the operator.
var fixtureWinners = map[string][]string{
	"end-battle-official-example.json": nil, // TimeUp, 0-0: a draw
	"end-battle-caller-wins.json":      {"live_room_1001"},
	"end-battle-four-rooms.json":       {"live_room_2002"},
	"end-battle-draw.json":             nil, // TimeUp, 777-777
	"end-battle-all-hosts-exited.json": nil, // NoContest
	"end-battle-never-started.json":    nil, // NoContest
}

// sentBattle is a fixture as sent, with what it should give.
type sentBattle struct {
	file, battleID string
	timeUp         bool     // OpType 0
	rooms          []string // every room, caller first
	winners        []string
}

// readFixtures reads test/fixtures/end-battle-*.json.
func (d *devRun) readFixtures(t *testing.T) ([]sentBattle, [][]byte) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(d.root, "test", "fixtures", "end-battle-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var battles []sentBattle
	var bodies [][]byte
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cb struct {
			BattleID     string `json:"BattleId"`
			OpType       int
			FromRoomInfo struct {
				RoomID string `json:"RoomId"`
			}
			ToRoomList []struct {
				RoomID string `json:"RoomId"`
			}
		}
		if err := json.Unmarshal(body, &cb); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		winners, ok := fixtureWinners[filepath.Base(f)]
		if !ok {
			t.Fatalf("fixture %s is new: add its winners to fixtureWinners", filepath.Base(f))
		}
		b := sentBattle{file: filepath.Base(f), battleID: cb.BattleID, timeUp: cb.OpType == 0,
			rooms: []string{cb.FromRoomInfo.RoomID}, winners: winners}
		for _, r := range cb.ToRoomList {
			b.rooms = append(b.rooms, r.RoomID)
		}
		battles = append(battles, b)
		bodies = append(bodies, body)
	}
	return battles, bodies
}

// sendFixtures posts every battle-end fixture to the receiver, as Tencent would.
func (d *devRun) sendFixtures(t *testing.T) []sentBattle {
	t.Helper()
	battles, bodies := d.readFixtures(t)
	for i, body := range bodies {
		resp, err := http.Post(testutil.CallbackURL("http://"+d.callback, devAppID), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var answer struct{ ErrorCode int }
		err = json.NewDecoder(resp.Body).Decode(&answer)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || answer.ErrorCode != 0 {
			t.Fatalf("%s: HTTP %d, ErrorCode %d (%v)", battles[i].file, resp.StatusCode, answer.ErrorCode, err)
		}
	}
	return battles
}

// reactionManifest is a BattleReaction in namespace default that counts every battle ever
// stored (startingAfter long ago), so it reacts to the fixtures whichever subtest sent them
// first; podLabels, when not empty, is the YAML of its pod template's labels.
func reactionManifest(name, runFor, match, podLabels string) string {
	podMeta := ""
	if podLabels != "" {
		podMeta = "\n        metadata:\n          labels:\n            " + podLabels
	}
	return fmt.Sprintf(`apiVersion: live.battleops.io/v1alpha1
kind: BattleReaction
metadata:
  name: %s
  namespace: default
spec:
  match: %s
  runFor: %s
  startingAfter: "2000-01-01T00:00:00Z"
  jobTemplate:
    spec:
      backoffLimit: 0
      template:%s
        spec:
          restartPolicy: Never
          containers:
          - name: react
            image: busybox:1.37
            command: ["echo", "battle=$(BATTLE_ID)", "room=$(ROOM_ID)"]
`, name, match, runFor, podMeta)
}

// What kubectl shows of the objects the subtests look at.
type (
	objectMeta struct {
		Name              string            `json:"name"`
		Generation        int64             `json:"generation"`
		Labels            map[string]string `json:"labels"`
		Annotations       map[string]string `json:"annotations"`
		DeletionTimestamp *string           `json:"deletionTimestamp"`
	}
	condition struct {
		Type, Status, Reason, Message string
	}
	battleResultJSON struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			BattleID  string   `json:"battleId"`
			EndReason string   `json:"endReason"`
			Outcome   string   `json:"outcome"`
			Winners   []string `json:"winners"`
		} `json:"spec"`
		Status struct {
			Reactions []struct {
				Reaction string `json:"reaction"`
				UID      string `json:"uid"`
				Jobs     int    `json:"jobs"`
			} `json:"reactions"`
		} `json:"status"`
	}
	roomStatsJSON struct {
		Spec struct {
			SDKAppID string `json:"sdkAppId"`
			RoomID   string `json:"roomId"`
		} `json:"spec"`
	}
	reactionJSON struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			FailedJobsHistoryLimit     *int `json:"failedJobsHistoryLimit"`
			SuccessfulJobsHistoryLimit *int `json:"successfulJobsHistoryLimit"`
		} `json:"spec"`
		Status struct {
			ObservedGeneration int64       `json:"observedGeneration"`
			JobsStarted        int         `json:"jobsStarted"`
			JobsSucceeded      int         `json:"jobsSucceeded"`
			JobsFailed         int         `json:"jobsFailed"`
			JobsRunning        int         `json:"jobsRunning"`
			WaitingBattles     int         `json:"waitingBattles"`
			Conditions         []condition `json:"conditions"`
			Deliveries         *struct {
				Delivered, Failed, InFlight int
			} `json:"deliveries"`
		} `json:"status"`
	}
	jobJSON struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			Template struct {
				Metadata objectMeta `json:"metadata"`
				Spec     struct {
					Containers []struct {
						Env []struct{ Name, Value string } `json:"env"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
		Status struct {
			Conditions []condition `json:"conditions"`
		} `json:"status"`
	}
)

func (j *jobJSON) finished() string {
	for _, c := range j.Status.Conditions {
		if (c.Type == "Complete" || c.Type == "Failed") && c.Status == "True" {
			return c.Type
		}
	}
	return ""
}

func (j *jobJSON) env(name string) (string, bool) {
	if len(j.Spec.Template.Spec.Containers) == 0 {
		return "", false
	}
	for _, e := range j.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func (r *reactionJSON) ready() string {
	for _, c := range r.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status + " (" + c.Reason + ": " + c.Message + ")"
		}
	}
	return "none"
}

// getList runs kubectl get … -o json and decodes its items.
func getList[T any](t *testing.T, d *devRun, args ...string) []T {
	t.Helper()
	var list struct{ Items []T }
	out := d.kubectl(t, "", append(append([]string{"get"}, args...), "-o", "json")...)
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("kubectl get %s: %v", strings.Join(args, " "), err)
	}
	return list.Items
}

// testReactionsRunJobs applies two BattleReactions, one rewarding each winner and one whose
// Jobs always fail, sends the fixtures, and waits until the operator has done all it should:
// the battles and their rooms stored, a Job per winner run to Complete with the battle in its
// environment, a failed Job per TimeUp battle of which only the newest is kept, and both
// reactions' lifetime counts right.
func (d *devRun) testReactionsRunJobs(t *testing.T) {
	const winnersRx, failsRx = "e2e-reward-winners", "e2e-always-fails"
	start := time.Now()
	d.kubectlApply(t, reactionManifest(winnersRx, "EachWinner", "{outcomes: [Win]}", ""))
	d.kubectlApply(t, reactionManifest(failsRx, "Battle", "{endReasons: [TimeUp]}", fmt.Sprintf("%s: %q", failLabel, failValue)))
	battles := d.sendFixtures(t)

	byID := map[string]sentBattle{}
	wantWins, wantTimeUp := 0, 0
	rooms := map[string]bool{}
	for _, b := range battles {
		byID[b.battleID] = b
		wantWins += len(b.winners)
		if b.timeUp {
			wantTimeUp++
		}
		for _, r := range b.rooms {
			rooms[r] = true
		}
	}
	if wantWins != 2 || wantTimeUp != 4 {
		t.Errorf("the fixtures have %d winning rooms and %d TimeUp battles; this test was written for 2 and 4", wantWins, wantTimeUp)
	}

	// check returns what is not (yet) as it should be, and each reaction's counts.
	check := func() (missing []string, counts map[string]reactionJSON) {
		brs := getList[battleResultJSON](t, d, "battleresults", "-n", "default")
		stored := map[string]battleResultJSON{} // by BattleId
		for _, br := range brs {
			stored[br.Spec.BattleID] = br
		}
		brName := map[string]string{} // BattleId → BattleResult name
		for _, b := range battles {
			br, ok := stored[b.battleID]
			if !ok {
				missing = append(missing, fmt.Sprintf("no BattleResult for %s (%s)", b.file, b.battleID))
				continue
			}
			brName[b.battleID] = br.Metadata.Name
			if w := br.Spec.Winners; !slices.Equal(w, b.winners) && (len(w) > 0 || len(b.winners) > 0) {
				missing = append(missing, fmt.Sprintf("BattleResult %s (%s) has winners %v, want %v", br.Metadata.Name, b.file, w, b.winners))
			}
			if (br.Spec.EndReason == "TimeUp") != b.timeUp {
				missing = append(missing, fmt.Sprintf("BattleResult %s (%s) has endReason %s", br.Metadata.Name, b.file, br.Spec.EndReason))
			}
			var recorded []string
			for _, r := range br.Status.Reactions {
				if r.Reaction == winnersRx || r.Reaction == failsRx {
					recorded = append(recorded, fmt.Sprintf("%s:%d", r.Reaction, r.Jobs))
				}
			}
			var want []string
			if len(b.winners) > 0 {
				want = append(want, fmt.Sprintf("%s:%d", winnersRx, len(b.winners)))
			}
			if b.timeUp {
				want = append(want, failsRx+":1")
			}
			sort.Strings(recorded)
			sort.Strings(want)
			if !slices.Equal(recorded, want) {
				missing = append(missing, fmt.Sprintf("BattleResult %s (%s) records reactions %v, want %v", br.Metadata.Name, b.file, recorded, want))
			}
		}

		statsRooms := map[string]bool{}
		for _, rs := range getList[roomStatsJSON](t, d, "roomstats", "-n", "default") {
			if rs.Spec.SDKAppID == devAppID {
				statsRooms[rs.Spec.RoomID] = true
			}
		}
		for room := range rooms {
			if !statsRooms[room] {
				missing = append(missing, "no RoomStats for room "+room)
			}
		}

		counts = map[string]reactionJSON{}
		for _, rx := range getList[reactionJSON](t, d, "battlereactions", "-n", "default") {
			counts[rx.Metadata.Name] = rx
		}
		for _, want := range []struct {
			name                                     string
			started, succeeded, failed, jobsExisting int
			finished                                 string
		}{
			{winnersRx, wantWins, wantWins, 0, wantWins, "Complete"}, // successfulJobsHistoryLimit 3 keeps both
			{failsRx, wantTimeUp, 0, wantTimeUp, 1, "Failed"},        // failedJobsHistoryLimit 1
		} {
			rx, ok := counts[want.name]
			if !ok {
				missing = append(missing, "no BattleReaction "+want.name)
				continue
			}
			s := rx.Status
			if s.ObservedGeneration != rx.Metadata.Generation || s.JobsStarted != want.started || s.JobsSucceeded != want.succeeded ||
				s.JobsFailed != want.failed || s.JobsRunning != 0 || s.WaitingBattles != 0 {
				missing = append(missing, fmt.Sprintf("BattleReaction %s: generation %d observed %d, started %d succeeded %d failed %d running %d waiting %d; want started %d succeeded %d failed %d running 0 waiting 0",
					want.name, rx.Metadata.Generation, s.ObservedGeneration, s.JobsStarted, s.JobsSucceeded, s.JobsFailed, s.JobsRunning, s.WaitingBattles,
					want.started, want.succeeded, want.failed))
			}
			if !strings.HasPrefix(rx.ready(), "True ") {
				missing = append(missing, fmt.Sprintf("BattleReaction %s is not Ready: %s", want.name, rx.ready()))
			}

			jobs := getList[jobJSON](t, d, "jobs", "-n", "default", "-l", reactionLabel+"="+want.name)
			if len(jobs) != want.jobsExisting {
				var names []string
				for _, j := range jobs {
					names = append(names, fmt.Sprintf("%s(%s)", j.Metadata.Name, j.finished()))
				}
				missing = append(missing, fmt.Sprintf("BattleReaction %s has %d Jobs %v, want %d", want.name, len(jobs), names, want.jobsExisting))
			}
			for _, j := range jobs {
				missing = append(missing, checkJob(j, want.name, want.finished, byID, brName)...)
			}
		}
		return missing, counts
	}

	var missing []string
	var counts map[string]reactionJSON
	if !testutil.Within(2*time.Minute, 250*time.Millisecond, func(context.Context) bool {
		missing, counts = check()
		return len(missing) == 0
	}) {
		t.Fatalf("after 2 minutes, not as it should be:\n  %s\n%s", strings.Join(missing, "\n  "), d.reactionsDump(t, winnersRx, failsRx))
	}
	t.Logf("%d battles sent; BattleResults, RoomStats, %d reward Jobs Complete and %d failed Jobs counted %v after the reactions were applied",
		len(battles), wantWins, wantTimeUp, time.Since(start).Round(time.Millisecond))

	// Nothing fires twice: a little later, and after the same battles are delivered again,
	// the counts and the Jobs are the same.
	d.sendFixtures(t)
	d.waitIdle(t)
	again, counts2 := check()
	if len(again) != 0 {
		t.Errorf("once all was done, the fixtures delivered again and the manager idle, no longer so:\n  %s\n%s", strings.Join(again, "\n  "), d.reactionsDump(t, winnersRx, failsRx))
	}
	for _, name := range []string{winnersRx, failsRx} {
		if a, b := counts[name].Status.JobsStarted, counts2[name].Status.JobsStarted; a != b {
			t.Errorf("BattleReaction %s started %d Jobs, then %d", name, a, b)
		}
	}
	if limit := counts[failsRx].Spec.FailedJobsHistoryLimit; limit == nil || *limit != 1 {
		t.Errorf("BattleReaction %s: failedJobsHistoryLimit %v, want the default 1", failsRx, limit)
	}
}

// checkJob checks one of a reaction's Jobs: finished as it should, its battle in its labels,
// annotations and environment, and (per-room Jobs) its room a winner of that battle.
func checkJob(j jobJSON, reaction, wantFinished string, byID map[string]sentBattle, brName map[string]string) []string {
	var bad []string
	name := j.Metadata.Name
	if got := j.finished(); got != wantFinished {
		bad = append(bad, fmt.Sprintf("Job %s of %s is %q, want %s", name, reaction, got, wantFinished))
	}
	if j.Metadata.DeletionTimestamp != nil {
		bad = append(bad, fmt.Sprintf("Job %s of %s is being deleted", name, reaction))
	}
	battleID, ok := j.env("BATTLE_ID")
	b, known := byID[battleID]
	if !ok || !known {
		return append(bad, fmt.Sprintf("Job %s of %s: BATTLE_ID %q (set: %v) is no fixture's BattleId", name, reaction, battleID, ok))
	}
	if got := j.Metadata.Annotations[battleIDAnnotation]; got != battleID {
		bad = append(bad, fmt.Sprintf("Job %s: annotation %s %q, want %q", name, battleIDAnnotation, got, battleID))
	}
	if got := j.Metadata.Labels[battleResultLabel]; got != brName[battleID] {
		bad = append(bad, fmt.Sprintf("Job %s: label %s %q, want %q", name, battleResultLabel, got, brName[battleID]))
	}
	if wantFinished == "Failed" {
		if !b.timeUp {
			bad = append(bad, fmt.Sprintf("Job %s of %s is for %s, not a TimeUp battle", name, reaction, b.file))
		}
		if got := j.Spec.Template.Metadata.Labels[failLabel]; got != failValue {
			bad = append(bad, fmt.Sprintf("Job %s: pod template label %s %q, want %q (the reaction's template)", name, failLabel, got, failValue))
		}
		return bad
	}
	room, _ := j.env("ROOM_ID")
	if !slices.Contains(b.winners, room) {
		bad = append(bad, fmt.Sprintf("Job %s of %s: ROOM_ID %q is not a winner of %s (%v)", name, reaction, room, b.file, b.winners))
	}
	if got := j.Metadata.Annotations[roomIDAnnotation]; got != room {
		bad = append(bad, fmt.Sprintf("Job %s: annotation %s %q, want %q", name, roomIDAnnotation, got, room))
	}
	return bad
}

// reactionsDump is the reactions, their Jobs and the end of the manager's log, for a failure.
func (d *devRun) reactionsDump(t *testing.T, names ...string) string {
	t.Helper()
	kubectl := func(args ...string) string { return d.kubectlText(append([]string{"-n", "default"}, args...)...) }
	var b strings.Builder
	for _, name := range names {
		b.WriteString(kubectl("get", "battlereaction", name, "-o", "yaml"))
	}
	b.WriteString(kubectl("get", "battleresults,jobs,pods", "-o", "wide", "--show-labels"))
	log, _ := os.ReadFile(filepath.Join(d.dir, "manager.log"))
	lines := strings.Split(string(log), "\n")
	b.WriteString(fmt.Sprintf("--- last 60 lines of %s:\n", filepath.Join(d.dir, "manager.log")))
	b.WriteString(strings.Join(lines[max(len(lines)-60, 0):], "\n"))
	return b.String()
}

// testDemo runs hack/demo.sh (`make demo`) against the cluster, as a person would right after
// `make dev`: the fixtures are new to the cluster, so the samples' Jobs run. It also checks
// the message when no `make dev` runs.
func (d *devRun) testDemo(t *testing.T) {
	demo := func(env ...string) (string, error) {
		c := exec.Command("bash", "hack/demo.sh")
		c.Dir = d.root
		c.Env = append(os.Environ(), env...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := demo("DEV_DIR=" + t.TempDir()); err == nil || !strings.Contains(out, "make dev is not running") {
		t.Errorf("hack/demo.sh without make dev: %v, want an error that says make dev is not running:\n%s", err, out)
	}

	start := time.Now()
	out, err := demo("DEV_DIR="+d.dir, "DEV_CALLBACK_ADDR="+d.callback, "DEV_APP_ID="+devAppID, "DEV_UPSTREAM_ADDR="+d.upstream)
	if err != nil {
		t.Fatalf("hack/demo.sh: %v\n%s\n%s", err, out, d.reactionsDump(t, "reward-winners", "dev-failing-reaction"))
	}
	t.Logf("hack/demo.sh took %v", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"demo: settled", "battleresult.live.battleops.io/", "roomstats.live.battleops.io/",
		"battlereaction.live.battleops.io/reward-winners", "battlereaction.live.battleops.io/big-battles",
		"battlereaction.live.battleops.io/notify-abandoned", "battlereaction.live.battleops.io/dev-failing-reaction", "job.batch/reward-winners-",
		// The gift checks, forwarded to make dev's upstream, which decided them.
		`"ErrorInfo":"upstream: gift 7 allowed"`, `"ErrorInfo":"upstream: gift 13 is not allowed in this room"`} {
		if !strings.Contains(out, want) {
			t.Errorf("hack/demo.sh printed no %q:\n%s", want, out)
		}
	}
	// What the samples should have done with the six fixtures, when they were the first to see
	// them: 2 winners rewarded, 1 abandoned battle, 2 big battles, 4 TimeUp battles failing.
	want := map[string][3]int{ // started, succeeded, failed
		"reward-winners":       {2, 2, 0},
		"notify-abandoned":     {1, 1, 0},
		"big-battles":          {2, 2, 0},
		"dev-failing-reaction": {4, 0, 4},
	}
	for _, rx := range getList[reactionJSON](t, d, "battlereactions", "-n", "default") {
		w, ok := want[rx.Metadata.Name]
		if !ok {
			continue
		}
		delete(want, rx.Metadata.Name)
		s := rx.Status
		if got := [3]int{s.JobsStarted, s.JobsSucceeded, s.JobsFailed}; got != w || s.JobsRunning != 0 {
			t.Errorf("after the demo, BattleReaction %s: started, succeeded, failed %v, running %d; want %v, 0", rx.Metadata.Name, got, s.JobsRunning, w)
		}
	}
	for name := range want {
		t.Errorf("the demo applied no BattleReaction %s", name)
	}

	// The HTTP reaction (config/samples/notify-backend-http.yaml) passed every battle end to
	// the upstream, as Tencent's callback, once each under its own Idempotency-Key.
	if !strings.Contains(out, "delivered 6 HTTP requests") || !strings.Contains(out, "received 6 HTTP reaction requests") {
		t.Errorf("hack/demo.sh did not report 6 HTTP reaction requests delivered and received:\n%s", out)
	}
	var notify *reactionJSON
	for _, rx := range getList[reactionJSON](t, d, "battlereactions", "-n", "default") {
		if rx.Metadata.Name == "notify-backend" {
			notify = &rx
		}
	}
	if notify == nil || notify.Status.Deliveries == nil || notify.Status.Deliveries.Delivered != 6 || notify.Status.Deliveries.Failed != 0 || notify.Status.Deliveries.InFlight != 0 {
		t.Errorf("after the demo, BattleReaction notify-backend: %+v; want 6 delivered", notify)
	}
	upstreamLog, err := os.ReadFile(filepath.Join(d.dir, "upstream.log"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, line := range strings.Split(string(upstreamLog), "\n") {
		if !strings.Contains(line, `"reaction":true`) {
			continue
		}
		var req struct {
			IdempotencyKey string          `json:"idempotencyKey"`
			Repeat         bool            `json:"repeat"`
			Body           json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal([]byte(line), &req); err != nil {
			t.Fatal(err)
		}
		if req.Repeat || keys[req.IdempotencyKey] || !strings.Contains(string(req.Body), `"CallbackCommand":"Live.CallbackAfterEndBattle"`) {
			t.Errorf("the upstream got a repeated or unexpected reaction request: %s", line)
		}
		keys[req.IdempotencyKey] = true
	}
	if len(keys) != 6 {
		t.Errorf("the upstream got %d distinct reaction requests, want 6 (one per battle)", len(keys))
	}
}
