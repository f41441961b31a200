package reaction

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Labels every reaction Job carries. Values that do not fit a label value are hashed.
const (
	LabelReaction     = "live.battleops.io/reaction"
	LabelBattleResult = "live.battleops.io/battle-result"
	LabelRoom         = "live.battleops.io/room"
	// AnnotationRoomID holds a per-room Job's room ID exactly, since the label may be hashed.
	AnnotationRoomID = "live.battleops.io/room-id"
	// AnnotationBattleID holds the battle's BattleId.
	AnnotationBattleID = "live.battleops.io/battle-id"
)

// Run is one Job a battle gets from a reaction: for the battle as a whole (Room nil) or for
// one of its rooms.
type Run struct {
	Room *livev1alpha1.BattleRoom
}

// Runs lists the Jobs a matching battle gets: one for the battle, one per room, or one per
// winning room (none on a draw or a battle that was not completed).
func Runs(runFor livev1alpha1.RunFor, spec *livev1alpha1.BattleResultSpec) []Run {
	switch runFor {
	case livev1alpha1.RunForEachRoom:
		runs := make([]Run, 0, len(spec.Rooms))
		for i := range spec.Rooms {
			runs = append(runs, Run{Room: &spec.Rooms[i]})
		}
		return runs
	case livev1alpha1.RunForEachWinner:
		var runs []Run
		for i := range spec.Rooms {
			if spec.Rooms[i].Result == livev1alpha1.RoomResultWin {
				runs = append(runs, Run{Room: &spec.Rooms[i]})
			}
		}
		return runs
	default:
		return []Run{{}}
	}
}

var notDNSLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// JobName is the name of a reaction's Job for a battle (and room): a readable prefix of the
// reaction's name and a hash of (reaction, BattleResult, room), at most 63 characters, so a
// Job's name is also a valid label value (the Job controller labels pods with it).
func JobName(reaction, battleResult string, room *livev1alpha1.BattleRoom) string {
	sum := runHash(reaction, battleResult, room)[:20]
	prefix := strings.Trim(notDNSLabel.ReplaceAllString(strings.ToLower(reaction), "-"), "-")
	if len(prefix) > 42 {
		prefix = strings.TrimRight(prefix[:42], "-")
	}
	if prefix == "" {
		return "brx-" + sum
	}
	return prefix + "-" + sum
}

// runHash is the hex SHA-256 of a run: of a reaction (its name or UID), a battle and, for a
// per-room run, a room, separated by NUL bytes.
func runHash(reaction, battleResult string, room *livev1alpha1.BattleRoom) string {
	h := sha256.New()
	h.Write([]byte(reaction))
	h.Write([]byte{0})
	h.Write([]byte(battleResult))
	if room != nil {
		h.Write([]byte{0})
		h.Write([]byte(room.RoomID))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// LabelValue is v when it is a valid label value, else a hash of it that is one.
func LabelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "h-" + hex.EncodeToString(sum[:])[:40]
}

// Env is the battle (and room) as environment variables, in a fixed order.
func Env(br *livev1alpha1.BattleResult, room *livev1alpha1.BattleRoom) ([]corev1.EnvVar, error) {
	spec, err := json.Marshal(br.Spec)
	if err != nil {
		return nil, err
	}
	winners := make([]string, len(br.Spec.Winners))
	for i, w := range br.Spec.Winners {
		winners[i] = string(w)
	}
	env := []corev1.EnvVar{
		{Name: "BATTLE_ID", Value: br.Spec.BattleID},
		{Name: "BATTLE_RESULT", Value: br.Name},
		{Name: "BATTLE_NAMESPACE", Value: br.Namespace},
		{Name: "BATTLE_END_REASON", Value: string(br.Spec.EndReason)},
		{Name: "BATTLE_OUTCOME", Value: string(br.Spec.Outcome)},
		{Name: "BATTLE_WINNER_ROOMS", Value: strings.Join(winners, ",")},
		{Name: "BATTLE_JSON", Value: string(spec)},
	}
	if room != nil {
		env = append(env,
			corev1.EnvVar{Name: "ROOM_ID", Value: string(room.RoomID)},
			corev1.EnvVar{Name: "ROOM_SCORE", Value: strconv.FormatInt(room.Score, 10)},
			corev1.EnvVar{Name: "ROOM_RESULT", Value: string(room.Result)},
			corev1.EnvVar{Name: "ROOM_RANK", Value: strconv.FormatInt(int64(room.Rank), 10)},
			corev1.EnvVar{Name: "ROOM_OWNER_ACCOUNT", Value: room.OwnerAccount},
		)
	}
	return env, nil
}

// NewJob builds a reaction's Job for a battle (and room) from the reaction's template: its
// deterministic name, the reaction's and the battle's labels, and the battle's environment
// first in every container (so the template's own variables may refer to it with $(...)).
// The caller sets the owner reference.
func NewJob(rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult, run Run) (*batchv1.Job, error) {
	if rx.Spec.JobTemplate == nil {
		return nil, fmt.Errorf("the reaction has no job template")
	}
	tmpl := rx.Spec.JobTemplate.DeepCopy()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        JobName(rx.Name, br.Name, run.Room),
			Namespace:   rx.Namespace,
			Labels:      map[string]string{},
			Annotations: map[string]string{},
		},
		Spec: tmpl.Spec,
	}
	for k, v := range tmpl.Labels {
		job.Labels[k] = v
	}
	for k, v := range tmpl.Annotations {
		job.Annotations[k] = v
	}
	job.Labels[LabelReaction] = LabelValue(rx.Name)
	job.Labels[LabelBattleResult] = LabelValue(br.Name)
	job.Annotations[AnnotationBattleID] = br.Spec.BattleID
	if run.Room != nil {
		job.Labels[LabelRoom] = LabelValue(string(run.Room.RoomID))
		job.Annotations[AnnotationRoomID] = string(run.Room.RoomID)
	}
	env, err := Env(br, run.Room)
	if err != nil {
		return nil, err
	}
	pod := &job.Spec.Template.Spec
	for i := range pod.InitContainers {
		pod.InitContainers[i].Env = append(append([]corev1.EnvVar(nil), env...), pod.InitContainers[i].Env...)
	}
	for i := range pod.Containers {
		pod.Containers[i].Env = append(append([]corev1.EnvVar(nil), env...), pod.Containers[i].Env...)
	}
	if len(pod.Containers) == 0 {
		return nil, fmt.Errorf("the job template has no containers")
	}
	return job, nil
}

// Finished says whether a Job has finished, and whether it succeeded.
func Finished(job *batchv1.Job) (finished, succeeded bool) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true
		case batchv1.JobFailed:
			return true, false
		}
	}
	return false, false
}

// finishedAt is when a finished Job finished, for ordering the history.
func finishedAt(job *batchv1.Job) metav1.Time {
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return c.LastTransitionTime
		}
	}
	return job.CreationTimestamp
}

// SampleJob is the Job the reaction would run for a sample battle (every field set, 100 rooms;
// a per-room reaction's first run): what admission creates with a dry run, so that the API
// server's Job validation judges the template before any battle arrives.
func SampleJob(rx *livev1alpha1.BattleReaction) (*batchv1.Job, error) {
	br := &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Name: "sample", Namespace: rx.Namespace}, Spec: *sampleBattle()}
	runs := Runs(rx.Spec.RunFor, &br.Spec)
	if len(runs) == 0 {
		runs = []Run{{}}
	}
	return NewJob(rx, br, runs[0])
}
