package reaction

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// runRooms lists the room IDs of runs, "" for a run for the whole battle.
func runRooms(runs []Run) []string {
	out := []string{}
	for _, r := range runs {
		if r.Room == nil {
			out = append(out, "")
		} else {
			out = append(out, string(r.Room.RoomID))
		}
	}
	return out
}

func TestRuns(t *testing.T) {
	cases := []struct {
		name   string
		runFor livev1alpha1.RunFor
		spec   *livev1alpha1.BattleResultSpec
		want   []string
	}{
		{"Battle runs once for a battle with a winner.", livev1alpha1.RunForBattle, fourRooms(), []string{""}},
		{"Battle runs once for a draw.", livev1alpha1.RunForBattle, drawBattle(), []string{""}},
		{"Battle runs once for a battle that never started.", livev1alpha1.RunForBattle, neverStarted(), []string{""}},
		{"An unset runFor runs once for the battle.", "", fourRooms(), []string{""}},
		{"EachRoom runs once per room, in the battle's order.", livev1alpha1.RunForEachRoom, fourRooms(),
			[]string{"live_room_1001", "live_room_2002", "live_room_3003", "live_room_4004"}},
		{"EachRoom runs for every room of a draw.", livev1alpha1.RunForEachRoom, drawBattle(), []string{"a", "b", "c"}},
		{"EachRoom runs for every room of a battle that was not completed.", livev1alpha1.RunForEachRoom, abandoned(), []string{"x", "y"}},
		{"EachRoom runs once for a one-room battle.", livev1alpha1.RunForEachRoom, neverStarted(), []string{"solo"}},
		{"EachWinner runs for the winning room only.", livev1alpha1.RunForEachWinner, fourRooms(), []string{"live_room_2002"}},
		{"EachWinner runs for a winner with a negative score.", livev1alpha1.RunForEachWinner, negativeScores(), []string{"n2"}},
		{"EachWinner runs for nobody on a draw.", livev1alpha1.RunForEachWinner, drawBattle(), []string{}},
		{"EachWinner runs for nobody on an abandoned battle.", livev1alpha1.RunForEachWinner, abandoned(), []string{}},
		{"EachWinner runs for nobody on a battle that never started.", livev1alpha1.RunForEachWinner, neverStarted(), []string{}},
		{"EachWinner runs for nobody on a battle with an unknown end reason.", livev1alpha1.RunForEachWinner, unknownReason(), []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runs := Runs(tc.runFor, tc.spec)
			if diff := cmp.Diff(tc.want, runRooms(runs)); diff != "" {
				t.Errorf("Runs(%q) rooms (-want +got):\n%s", tc.runFor, diff)
			}
			// A per-room run carries the whole room, as the battle has it.
			for _, r := range runs {
				if r.Room == nil {
					continue
				}
				var found bool
				for _, room := range tc.spec.Rooms {
					if room.RoomID == r.Room.RoomID {
						found = true
						if diff := cmp.Diff(room, *r.Room); diff != "" {
							t.Errorf("run room %s (-battle +run):\n%s", room.RoomID, diff)
						}
					}
				}
				if !found {
					t.Errorf("run for room %s, which is not in the battle", r.Room.RoomID)
				}
			}
		})
	}
}

var hashSuffix = regexp.MustCompile(`-[0-9a-f]{20}$`)

func TestJobName(t *testing.T) {
	long := strings.Repeat("reward-the-winners-of-the-weekly-league.", 6) + "x" // 241 characters
	cases := []struct {
		name         string
		reaction     string
		battleResult string
		room         *livev1alpha1.BattleRoom
		prefix       string // the readable part before the hash
	}{
		{"A short reaction name is kept as the prefix.", "reward-winners", "br-abc123", nil, "reward-winners"},
		{"A per-room Job has the reaction name as prefix.", "reward-winners", "br-abc123", &livev1alpha1.BattleRoom{RoomID: "live_room_2002"}, "reward-winners"},
		{"Upper case is lowered.", "Reward-Winners", "br-abc123", nil, "reward-winners"},
		{"Dots become dashes.", "team.growth.reward", "br-abc123", nil, "team-growth-reward"},
		{"Runs of other characters become one dash.", "a__b  c//d", "br-abc123", nil, "a-b-c-d"},
		{"Leading and trailing dashes are trimmed.", "-.-reward-.-", "br-abc123", nil, "reward"},
		{"A name of dots only gets a fixed prefix.", "...", "br-abc123", nil, "brx"},
		{"An empty name gets a fixed prefix.", "", "br-abc123", nil, "brx"},
		{"A name of only non-ASCII letters gets a fixed prefix.", "報酬", "br-abc123", nil, "brx"},
		{"Non-ASCII letters are dropped from the prefix.", "報酬-reward", "br-abc123", nil, "reward"},
		{"A name starting with digits keeps them.", "2025-league", "br-abc123", nil, "2025-league"},
		{"A long name is cut to 42 characters.", long, "br-abc123", nil, "reward-the-winners-of-the-weekly-league-re"},
		{"A dash where the name is cut is trimmed.", strings.Repeat("a", 41) + ".bcdef", "br-abc123", nil, strings.Repeat("a", 41)},
		{"A long name with a unicode room ID still fits.", long, strings.Repeat("b", 253), &livev1alpha1.BattleRoom{RoomID: "直播间🎉/房间 #1"}, "reward-the-winners-of-the-weekly-league-re"},
		{"A room ID of 256 characters does not lengthen the name.", "rx", "br", &livev1alpha1.BattleRoom{RoomID: livev1alpha1.RoomID(strings.Repeat("Z", 256))}, "rx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := JobName(tc.reaction, tc.battleResult, tc.room)
			if again := JobName(tc.reaction, tc.battleResult, tc.room); again != got {
				t.Errorf("JobName is not deterministic: %q then %q", got, again)
			}
			if len(got) > 63 {
				t.Errorf("JobName = %q, %d characters, want at most 63", got, len(got))
			}
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("JobName = %q, not a DNS-1123 label: %v", got, errs)
			}
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Errorf("JobName = %q, not a label value: %v", got, errs)
			}
			if !hashSuffix.MatchString(got) {
				t.Fatalf("JobName = %q, want a 20-digit hash at the end", got)
			}
			if prefix := hashSuffix.ReplaceAllString(got, ""); prefix != tc.prefix {
				t.Errorf("JobName = %q, prefix %q, want %q", got, prefix, tc.prefix)
			}
		})
	}
}

func TestJobNameIsStable(t *testing.T) {
	// Job names are how the controller finds a battle's Jobs: they must not change between
	// releases, or an upgrade would run every recent battle's Jobs again.
	cases := []struct {
		name         string
		reaction     string
		battleResult string
		room         *livev1alpha1.BattleRoom
		want         string
	}{
		{"A battle's Job name is stable.", "reward-winners", "br-abc123", nil, "reward-winners-" + "b0122a6240cedf42742c"},
		{"A room's Job name is stable.", "reward-winners", "br-abc123", &livev1alpha1.BattleRoom{RoomID: "live_room_2002"}, "reward-winners-" + "4058c415beb5a309abdb"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := JobName(tc.reaction, tc.battleResult, tc.room); got != tc.want {
				t.Errorf("JobName(%q, %q, %v) = %q, want %q", tc.reaction, tc.battleResult, tc.room, got, tc.want)
			}
		})
	}
}

func TestJobNamesAreDistinct(t *testing.T) {
	room := func(id string) *livev1alpha1.BattleRoom {
		return &livev1alpha1.BattleRoom{RoomID: livev1alpha1.RoomID(id)}
	}
	long := strings.Repeat("r", 100)
	type key struct {
		reaction, battleResult string
		room                   *livev1alpha1.BattleRoom
	}
	cases := []struct {
		name string
		a, b key
	}{
		{"Two rooms of one battle get different Jobs.", key{"rx", "br-1", room("live_room_1001")}, key{"rx", "br-1", room("live_room_2002")}},
		{"A room's Job differs from the battle's Job.", key{"rx", "br-1", room("live_room_1001")}, key{"rx", "br-1", nil}},
		{"Room IDs differing in case get different Jobs.", key{"rx", "br-1", room("Room")}, key{"rx", "br-1", room("room")}},
		{"Unicode room IDs get different Jobs.", key{"rx", "br-1", room("房间1")}, key{"rx", "br-1", room("房间2")}},
		{"Two battles get different Jobs.", key{"rx", "br-1", nil}, key{"rx", "br-2", nil}},
		{"Two battles get different Jobs for the same room.", key{"rx", "br-1", room("a")}, key{"rx", "br-2", room("a")}},
		{"Two reactions get different Jobs for one battle.", key{"rx-a", "br-1", nil}, key{"rx-b", "br-1", nil}},
		{"Reactions with the same prefix get different Jobs.", key{"Reward.Winners", "br-1", nil}, key{"reward-winners", "br-1", nil}},
		{"Long reactions differing after the cut get different Jobs.", key{long + "a", "br-1", nil}, key{long + "b", "br-1", nil}},
		{"Moving a character from the reaction to the battle changes the name.", key{"ab", "c", nil}, key{"a", "bc", nil}},
		{"Moving a character from the battle to the room changes the name.", key{"rx", "br-ab", room("c")}, key{"rx", "br-a", room("bc")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := JobName(tc.a.reaction, tc.a.battleResult, tc.a.room)
			b := JobName(tc.b.reaction, tc.b.battleResult, tc.b.room)
			if a == b {
				t.Errorf("JobName(%v) == JobName(%v) == %q", tc.a, tc.b, a)
			}
		})
	}
}

func TestLabelValue(t *testing.T) {
	cases := []struct {
		name string
		in   string
		kept bool
	}{
		{"A DNS label is kept.", "reward-winners", true},
		{"Upper case, dots and underscores are kept.", "Live_Room.1001-A", true},
		{"63 characters are kept.", strings.Repeat("a", 63), true},
		{"A Job name is kept.", JobName(strings.Repeat("x", 100), "br", nil), true},
		{"An empty value is kept.", "", true},
		{"64 characters are hashed.", strings.Repeat("a", 64), false},
		{"A BattleId with '=' and '/' is hashed.", "Qm9vayBvZiBiYXR0bGVzIGZvdXIgcm9vbXMgLyArID0=", false},
		{"A space is hashed.", "live room", false},
		{"Unicode is hashed.", "直播间🎉", false},
		{"A leading dash is hashed.", "-room", false},
		{"A trailing dot is hashed.", "room.", false},
		{"A trailing underscore is hashed.", "room_", false},
	}
	seen := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := LabelValue(tc.in)
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
				t.Errorf("LabelValue(%q) = %q, not a label value: %v", tc.in, got, errs)
			}
			if kept := got == tc.in; kept != tc.kept {
				t.Errorf("LabelValue(%q) = %q, kept %v, want kept %v", tc.in, got, kept, tc.kept)
			}
			if !tc.kept && !regexp.MustCompile(`^h-[0-9a-f]{40}$`).MatchString(got) {
				t.Errorf("LabelValue(%q) = %q, want h- and 40 hex digits", tc.in, got)
			}
			if again := LabelValue(tc.in); again != got {
				t.Errorf("LabelValue(%q) is not deterministic: %q then %q", tc.in, got, again)
			}
			if other, ok := seen[got]; ok {
				t.Errorf("LabelValue(%q) == LabelValue(%q) == %q", tc.in, other, got)
			}
			seen[got] = tc.in
		})
	}
}

func TestLabelValueHashesAreDistinct(t *testing.T) {
	pairs := []struct {
		name string
		a, b string
	}{
		{"Room IDs that differ only in a unicode character hash apart.", "房间1", "房间2"},
		{"Long values that differ only at the end hash apart.", strings.Repeat("a", 100) + "1", strings.Repeat("a", 100) + "2"},
		{"BattleIds that differ only in padding hash apart.", "QUJD=", "QUJD=="},
	}
	for _, tc := range pairs {
		t.Run(tc.name, func(t *testing.T) {
			if a, b := LabelValue(tc.a), LabelValue(tc.b); a == b {
				t.Errorf("LabelValue(%q) == LabelValue(%q) == %q", tc.a, tc.b, a)
			}
		})
	}
}

// fourRoomsResult is the four-room battle as stored, under the receiver's kind of name.
func fourRoomsResult() *livev1alpha1.BattleResult {
	return &livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Name: "br-qm9vaybvzibiyxr0bgvz-4f1d2c", Namespace: "battles"},
		Spec:       *fourRooms(),
	}
}

func reactionFor(template batchv1.JobTemplateSpec) *livev1alpha1.BattleReaction {
	return &livev1alpha1.BattleReaction{
		ObjectMeta: metav1.ObjectMeta{Name: "reward-winners", Namespace: "growth", UID: "rx-uid-1"},
		Spec:       livev1alpha1.BattleReactionSpec{RunFor: livev1alpha1.RunForEachRoom, JobTemplate: &template},
	}
}

func testTemplate() batchv1.JobTemplateSpec {
	return batchv1.JobTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{"team": "growth", LabelReaction: "spoofed"},
			Annotations: map[string]string{"owner": "growth@example.com"},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](2),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "reward"}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					InitContainers: []corev1.Container{{
						Name: "prepare", Image: "busybox:1.36", Command: []string{"sh", "-c", "echo $(BATTLE_ID)"},
					}},
					Containers: []corev1.Container{
						{
							Name: "reward", Image: "example.com/reward:1", Args: []string{"--battle=$(BATTLE_ID)", "--room=$(ROOM_ID)"},
							Env: []corev1.EnvVar{{Name: "GREETING", Value: "won $(BATTLE_ID)"}, {Name: "MODE", Value: "live"}},
						},
						{Name: "sidecar", Image: "example.com/sidecar:1"},
					},
				},
			},
		},
	}
}

func battleEnv(br *livev1alpha1.BattleResult, winners string) []corev1.EnvVar {
	raw, err := json.Marshal(br.Spec)
	if err != nil {
		panic(err)
	}
	return []corev1.EnvVar{
		{Name: "BATTLE_ID", Value: br.Spec.BattleID},
		{Name: "BATTLE_RESULT", Value: br.Name},
		{Name: "BATTLE_NAMESPACE", Value: br.Namespace},
		{Name: "BATTLE_END_REASON", Value: string(br.Spec.EndReason)},
		{Name: "BATTLE_OUTCOME", Value: string(br.Spec.Outcome)},
		{Name: "BATTLE_WINNER_ROOMS", Value: winners},
		{Name: "BATTLE_JSON", Value: string(raw)},
	}
}

func TestNewJobForARoom(t *testing.T) {
	br := fourRoomsResult()
	rx := reactionFor(testTemplate())
	before := rx.DeepCopy()
	room := &br.Spec.Rooms[2] // live_room_3003, whose Owner_Account came as a large number

	job, err := NewJob(rx, br, Run{Room: room})
	if err != nil {
		t.Fatal(err)
	}

	wantMeta := metav1.ObjectMeta{
		Name:      JobName("reward-winners", br.Name, room),
		Namespace: "growth",
		Labels: map[string]string{
			"team":            "growth",
			LabelReaction:     "reward-winners",
			LabelBattleResult: br.Name,
			LabelRoom:         "live_room_3003",
		},
		Annotations: map[string]string{
			"owner":            "growth@example.com",
			AnnotationBattleID: "Qm9vayBvZiBiYXR0bGVzIGZvdXIgcm9vbXMgLyArID0=",
			AnnotationRoomID:   "live_room_3003",
		},
	}
	if diff := cmp.Diff(wantMeta, job.ObjectMeta); diff != "" {
		t.Errorf("Job metadata (-want +got):\n%s", diff)
	}

	ours := append(battleEnv(br, "live_room_2002"),
		corev1.EnvVar{Name: "ROOM_ID", Value: "live_room_3003"},
		corev1.EnvVar{Name: "ROOM_SCORE", Value: "2750"},
		corev1.EnvVar{Name: "ROOM_RESULT", Value: "Loss"},
		corev1.EnvVar{Name: "ROOM_RANK", Value: "2"},
		corev1.EnvVar{Name: "ROOM_OWNER_ACCOUNT", Value: bigAccount},
	)
	wantSpec := testTemplate().Spec
	pod := &wantSpec.Template.Spec
	pod.InitContainers[0].Env = ours
	pod.Containers[0].Env = append(append([]corev1.EnvVar(nil), ours...), pod.Containers[0].Env...)
	pod.Containers[1].Env = ours
	if diff := cmp.Diff(wantSpec, job.Spec); diff != "" {
		t.Errorf("Job spec (-want +got):\n%s", diff)
	}

	// The names in order, so that the template's own variables may refer to ours.
	var names []string
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		names = append(names, e.Name)
	}
	wantNames := []string{"BATTLE_ID", "BATTLE_RESULT", "BATTLE_NAMESPACE", "BATTLE_END_REASON", "BATTLE_OUTCOME",
		"BATTLE_WINNER_ROOMS", "BATTLE_JSON", "ROOM_ID", "ROOM_SCORE", "ROOM_RESULT", "ROOM_RANK", "ROOM_OWNER_ACCOUNT",
		"GREETING", "MODE"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("env order (-want +got):\n%s", diff)
	}

	// BATTLE_JSON is the battle's spec.
	var back livev1alpha1.BattleResultSpec
	if err := json.Unmarshal([]byte(job.Spec.Template.Spec.Containers[0].Env[6].Value), &back); err != nil {
		t.Fatalf("BATTLE_JSON does not unmarshal: %v", err)
	}
	if diff := cmp.Diff(br.Spec, back); diff != "" {
		t.Errorf("BATTLE_JSON (-spec +unmarshalled):\n%s", diff)
	}
	if !strings.Contains(job.Spec.Template.Spec.Containers[0].Env[6].Value, `"ownerAccount":"144115245353757792"`) {
		t.Errorf("BATTLE_JSON does not hold the Owner_Account as its exact digits in a string")
	}

	if diff := cmp.Diff(before, rx); diff != "" {
		t.Errorf("NewJob changed the reaction (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(fourRoomsResult(), br); diff != "" {
		t.Errorf("NewJob changed the battle (-before +after):\n%s", diff)
	}
}

func TestNewJobDoesNotShareWithTheTemplate(t *testing.T) {
	rx := reactionFor(testTemplate())
	before := rx.DeepCopy()
	br := fourRoomsResult()
	job, err := NewJob(rx, br, Run{Room: &br.Spec.Rooms[1]})
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewJob(rx, br, Run{Room: &br.Spec.Rooms[1]})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever the controller does to a Job (finalizers, owner references, defaults) stays in it.
	job.Labels["team"] = "changed"
	job.Annotations["owner"] = "changed"
	job.Spec.Template.Labels["app"] = "changed"
	job.Spec.Template.Spec.Containers[0].Env[0].Value = "changed"
	job.Spec.Template.Spec.Containers[0].Env[13].Value = "changed"
	job.Spec.Template.Spec.Containers[0].Args[0] = "changed"
	*job.Spec.BackoffLimit = 9
	if diff := cmp.Diff(before, rx); diff != "" {
		t.Errorf("changing the Job changed the reaction's template (-before +after):\n%s", diff)
	}
	if got := job.Spec.Template.Spec.Containers[1].Env[0].Value; got != br.Spec.BattleID {
		t.Errorf("changing one container's env changed another's: BATTLE_ID = %q", got)
	}
	if got := job.Spec.Template.Spec.InitContainers[0].Env[0].Value; got != br.Spec.BattleID {
		t.Errorf("changing a container's env changed the init container's: BATTLE_ID = %q", got)
	}
	if got := second.Spec.Template.Spec.Containers[0].Env[0].Value; got != br.Spec.BattleID {
		t.Errorf("changing one Job changed another: BATTLE_ID = %q", got)
	}
}

func TestNewJob(t *testing.T) {
	draw := &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Name: "br-draw", Namespace: "battles"}, Spec: *drawBattle()}
	never := &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Name: "br-never", Namespace: "battles"}, Spec: *neverStarted()}
	odd := &livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("b", 70), Namespace: "battles"},
		Spec: *with(fourRooms(), func(s *livev1alpha1.BattleResultSpec) {
			s.Rooms[1].RoomID, s.Winners = "直播间 2002", []livev1alpha1.RoomID{"直播间 2002"}
		}),
	}
	cases := []struct {
		name        string
		reaction    string
		br          *livev1alpha1.BattleResult
		room        *livev1alpha1.BattleRoom
		labels      map[string]string
		annotations map[string]string
		env         []corev1.EnvVar
	}{
		{"A Job for a battle has no room label and no room variables.", "reward-winners", fourRoomsResult(), nil,
			map[string]string{"team": "growth", LabelReaction: "reward-winners", LabelBattleResult: fourRoomsResult().Name},
			map[string]string{"owner": "growth@example.com", AnnotationBattleID: fourRooms().BattleID},
			battleEnv(fourRoomsResult(), "live_room_2002")},
		{"A draw has no winner rooms.", "reward-winners", draw, nil,
			map[string]string{"team": "growth", LabelReaction: "reward-winners", LabelBattleResult: "br-draw"},
			map[string]string{"owner": "growth@example.com", AnnotationBattleID: "draw-battle"},
			battleEnv(draw, "")},
		{"A room of a draw has the result Draw and rank 1.", "reward-winners", draw, &draw.Spec.Rooms[1],
			map[string]string{"team": "growth", LabelReaction: "reward-winners", LabelBattleResult: "br-draw", LabelRoom: "b"},
			map[string]string{"owner": "growth@example.com", AnnotationBattleID: "draw-battle", AnnotationRoomID: "b"},
			append(battleEnv(draw, ""),
				corev1.EnvVar{Name: "ROOM_ID", Value: "b"}, corev1.EnvVar{Name: "ROOM_SCORE", Value: "9"},
				corev1.EnvVar{Name: "ROOM_RESULT", Value: "Draw"}, corev1.EnvVar{Name: "ROOM_RANK", Value: "1"},
				corev1.EnvVar{Name: "ROOM_OWNER_ACCOUNT", Value: "2"})},
		{"A room of a battle that never started is NoContest with score 0.", "reward-winners", never, &never.Spec.Rooms[0],
			map[string]string{"team": "growth", LabelReaction: "reward-winners", LabelBattleResult: "br-never", LabelRoom: "solo"},
			map[string]string{"owner": "growth@example.com", AnnotationBattleID: "never-started", AnnotationRoomID: "solo"},
			append(battleEnv(never, ""),
				corev1.EnvVar{Name: "ROOM_ID", Value: "solo"}, corev1.EnvVar{Name: "ROOM_SCORE", Value: "0"},
				corev1.EnvVar{Name: "ROOM_RESULT", Value: "NoContest"}, corev1.EnvVar{Name: "ROOM_RANK", Value: "1"},
				corev1.EnvVar{Name: "ROOM_OWNER_ACCOUNT", Value: "host_solo"})},
		{"A negative score is written with its sign.", "reward-winners",
			&livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Name: "br-neg", Namespace: "battles"}, Spec: *negativeScores()},
			&negativeScores().Rooms[0],
			map[string]string{"team": "growth", LabelReaction: "reward-winners", LabelBattleResult: "br-neg", LabelRoom: "n1"},
			map[string]string{"owner": "growth@example.com", AnnotationBattleID: "negative", AnnotationRoomID: "n1"},
			append(battleEnv(&livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Name: "br-neg", Namespace: "battles"}, Spec: *negativeScores()}, "n2"),
				corev1.EnvVar{Name: "ROOM_ID", Value: "n1"}, corev1.EnvVar{Name: "ROOM_SCORE", Value: "-50"},
				corev1.EnvVar{Name: "ROOM_RESULT", Value: "Loss"}, corev1.EnvVar{Name: "ROOM_RANK", Value: "2"},
				corev1.EnvVar{Name: "ROOM_OWNER_ACCOUNT", Value: ""})},
		{"Names and room IDs that are not label values are hashed in labels and kept in annotations.", strings.Repeat("r", 70), odd, &odd.Spec.Rooms[1],
			map[string]string{"team": "growth", LabelReaction: LabelValue(strings.Repeat("r", 70)), LabelBattleResult: LabelValue(strings.Repeat("b", 70)), LabelRoom: LabelValue("直播间 2002")},
			map[string]string{"owner": "growth@example.com", AnnotationBattleID: fourRooms().BattleID, AnnotationRoomID: "直播间 2002"},
			append(battleEnv(odd, "直播间 2002"),
				corev1.EnvVar{Name: "ROOM_ID", Value: "直播间 2002"}, corev1.EnvVar{Name: "ROOM_SCORE", Value: "4100"},
				corev1.EnvVar{Name: "ROOM_RESULT", Value: "Win"}, corev1.EnvVar{Name: "ROOM_RANK", Value: "1"},
				corev1.EnvVar{Name: "ROOM_OWNER_ACCOUNT", Value: "host_bob"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rx := reactionFor(testTemplate())
			rx.Name = tc.reaction
			job, err := NewJob(rx, tc.br, Run{Room: tc.room})
			if err != nil {
				t.Fatal(err)
			}
			if want := JobName(tc.reaction, tc.br.Name, tc.room); job.Name != want {
				t.Errorf("Job name = %q, want %q", job.Name, want)
			}
			if job.Namespace != "growth" {
				t.Errorf("Job namespace = %q, want the reaction's, growth", job.Namespace)
			}
			if diff := cmp.Diff(tc.labels, job.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			for k, v := range job.Labels {
				if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
					t.Errorf("label %s=%q is not a label value: %v", k, v, errs)
				}
			}
			if diff := cmp.Diff(tc.annotations, job.Annotations); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
			pod := job.Spec.Template.Spec
			if diff := cmp.Diff(tc.env, pod.InitContainers[0].Env); diff != "" {
				t.Errorf("init container env (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.env, pod.Containers[1].Env); diff != "" {
				t.Errorf("second container env (-want +got):\n%s", diff)
			}
			wantFirst := append(append([]corev1.EnvVar(nil), tc.env...), testTemplate().Spec.Template.Spec.Containers[0].Env...)
			if diff := cmp.Diff(wantFirst, pod.Containers[0].Env); diff != "" {
				t.Errorf("first container env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewJobRejectsATemplateWithoutContainers(t *testing.T) {
	cases := []struct {
		name     string
		template batchv1.JobTemplateSpec
	}{
		{"An empty template is rejected.", batchv1.JobTemplateSpec{}},
		{"A template with only init containers is rejected.", batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}}}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := fourRoomsResult()
			rx := reactionFor(tc.template)
			before := rx.DeepCopy()
			if job, err := NewJob(rx, br, Run{}); err == nil {
				t.Errorf("NewJob = %v, want an error", job.Name)
			}
			if diff := cmp.Diff(before, rx); diff != "" {
				t.Errorf("NewJob changed the reaction (-before +after):\n%s", diff)
			}
		})
	}
}

// jobWith is a Job with the given status conditions.
func jobWith(name string, conds ...batchv1.JobCondition) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: batchv1.JobStatus{Conditions: conds}}
}

func cond(typ batchv1.JobConditionType, status corev1.ConditionStatus, at time.Time) batchv1.JobCondition {
	return batchv1.JobCondition{Type: typ, Status: status, LastTransitionTime: metav1.NewTime(at)}
}

func TestFinished(t *testing.T) {
	at := time.Date(2025, 11, 22, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name                string
		job                 *batchv1.Job
		finished, succeeded bool
	}{
		{"A Job without conditions is running.", jobWith("j"), false, false},
		{"A Job with Complete True succeeded.", jobWith("j",
			cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, at), cond(batchv1.JobComplete, corev1.ConditionTrue, at)), true, true},
		{"A Job with Failed True failed.", jobWith("j",
			cond(batchv1.JobFailureTarget, corev1.ConditionTrue, at), cond(batchv1.JobFailed, corev1.ConditionTrue, at)), true, false},
		{"A Job with Complete False is running.", jobWith("j", cond(batchv1.JobComplete, corev1.ConditionFalse, at)), false, false},
		{"A Job with Failed Unknown is running.", jobWith("j", cond(batchv1.JobFailed, corev1.ConditionUnknown, at)), false, false},
		{"A Job whose success criteria are met but not yet Complete is running.", jobWith("j", cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, at)), false, false},
		{"A Job with a failure target but not yet Failed is running.", jobWith("j", cond(batchv1.JobFailureTarget, corev1.ConditionTrue, at)), false, false},
		{"A suspended Job is running.", jobWith("j", cond(batchv1.JobSuspended, corev1.ConditionTrue, at)), false, false},
		{"A Job that failed after a Complete False condition failed.", jobWith("j",
			cond(batchv1.JobComplete, corev1.ConditionFalse, at), cond(batchv1.JobFailed, corev1.ConditionTrue, at)), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			finished, succeeded := Finished(tc.job)
			if finished != tc.finished || succeeded != tc.succeeded {
				t.Errorf("Finished = %v, %v, want %v, %v", finished, succeeded, tc.finished, tc.succeeded)
			}
		})
	}
}

func TestEnvWinnerRooms(t *testing.T) {
	cases := []struct {
		name    string
		winners []livev1alpha1.RoomID
		want    string
	}{
		{"One winner is its room ID.", []livev1alpha1.RoomID{"live_room_2002"}, "live_room_2002"},
		{"Several winner rooms are separated by commas alone.", []livev1alpha1.RoomID{"a", "b b", "c"}, "a,b b,c"},
		{"An empty winners list is an empty value.", []livev1alpha1.RoomID{}, ""},
		{"An absent winners list is an empty value.", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := fourRoomsResult()
			br.Spec.Winners = tc.winners
			env, err := Env(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range env {
				if e.Name == "BATTLE_WINNER_ROOMS" {
					got = append(got, e.Value)
				}
			}
			if diff := cmp.Diff([]string{tc.want}, got); diff != "" {
				t.Errorf("BATTLE_WINNER_ROOMS (-want +got):\n%s", diff)
			}
		})
	}
}
