package reaction

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Finalizer is set on every reaction Job so that its deletion, by the history limit, by hand
// or by the garbage collector, is counted in the reaction's lifetime counts before it goes.
const Finalizer = "live.battleops.io/job-accounting"

// Counts are a reaction's Job counts: lifetime (started, succeeded, failed) and now (running).
type Counts struct {
	Started, Succeeded, Failed, Running int64
}

// Account computes a reaction's Job counts from its Jobs and the counts of Jobs already gone.
// A Job being deleted that still carries the Finalizer is counted into the returned
// accounting (once: its name is kept in Leaving until it is gone), and returned in release:
// after the status holding the new accounting is written, its finalizer may be removed.
func Account(acc livev1alpha1.JobAccounting, jobs []*batchv1.Job) (next livev1alpha1.JobAccounting, counts Counts, release []*batchv1.Job) {
	next = livev1alpha1.JobAccounting{Started: acc.Started, Succeeded: acc.Succeeded, Failed: acc.Failed}
	exists := map[string]bool{}
	var leaving []string
	for _, job := range jobs {
		exists[job.Name] = true
		counted := slices.Contains(acc.Leaving, job.Name)
		if job.DeletionTimestamp != nil && slices.Contains(job.Finalizers, Finalizer) {
			if !counted {
				next.Started++
				if finished, ok := Finished(job); finished && ok {
					next.Succeeded++
				} else if finished {
					next.Failed++
				}
			}
			leaving = append(leaving, job.Name)
			release = append(release, job)
			continue
		}
		if counted && job.DeletionTimestamp != nil {
			leaving = append(leaving, job.Name) // counted, finalizer gone, not yet deleted
			continue
		}
		// Not being deleted: a live Job, even one named like a counted Job that is gone (a
		// deletion never ends, so this is a new Job of the same name).
		counts.Started++
		switch finished, ok := Finished(job); {
		case finished && ok:
			counts.Succeeded++
		case finished:
			counts.Failed++
		default:
			counts.Running++
		}
	}
	sort.Strings(leaving)
	next.Leaving = slices.Compact(leaving)
	counts.Started += next.Started
	counts.Succeeded += next.Succeeded
	counts.Failed += next.Failed
	return next, counts, release
}

// JobsToDelete picks the finished Jobs beyond the history limits, oldest first: all but the
// newest succeededLimit succeeded and failedLimit failed Jobs. A Job is pruned only when
// recorded says its battle's record of the reaction is stored, so a pruned Job never runs again.
func JobsToDelete(jobs []*batchv1.Job, succeededLimit, failedLimit int32, recorded func(*batchv1.Job) bool) []*batchv1.Job {
	var succeeded, failed []*batchv1.Job
	for _, job := range jobs {
		if job.DeletionTimestamp != nil {
			continue
		}
		switch finished, ok := Finished(job); {
		case finished && ok:
			succeeded = append(succeeded, job)
		case finished:
			failed = append(failed, job)
		}
	}
	var out []*batchv1.Job
	for _, group := range []struct {
		jobs  []*batchv1.Job
		limit int32
	}{{succeeded, succeededLimit}, {failed, failedLimit}} {
		sort.SliceStable(group.jobs, func(i, j int) bool {
			a, b := finishedAt(group.jobs[i]), finishedAt(group.jobs[j])
			if !a.Equal(&b) {
				return a.Before(&b)
			}
			return group.jobs[i].Name < group.jobs[j].Name
		})
		excess := len(group.jobs) - int(max(group.limit, 0))
		for _, job := range group.jobs[:max(excess, 0)] {
			if recorded(job) {
				out = append(out, job)
			}
		}
	}
	return out
}

// CriteriaHash identifies the criteria that decide which battles fire: match and runFor.
// The lists are sets: their order does not change the hash.
func CriteriaHash(spec *livev1alpha1.BattleReactionSpec) string {
	match := *spec.Match.DeepCopy()
	slices.Sort(match.EndReasons)
	slices.Sort(match.Outcomes)
	slices.Sort(match.Rooms)
	runFor := spec.RunFor
	if runFor == "" {
		runFor = livev1alpha1.RunForBattle
	}
	raw, _ := json.Marshal(struct {
		Match  livev1alpha1.BattleMatch `json:"match"`
		RunFor livev1alpha1.RunFor      `json:"runFor"`
	}{match, runFor})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// WindowStart is the arrival time from which battles count for a reaction: startingAfter, or
// the reaction's creation, or, when later, the last edit of its criteria.
func WindowStart(rx *livev1alpha1.BattleReaction) metav1.Time {
	start := rx.CreationTimestamp
	if rx.Spec.StartingAfter != nil {
		start = *rx.Spec.StartingAfter
	}
	if c := rx.Status.Criteria; c != nil && c.Since != nil && c.Since.After(start.Time) {
		start = *c.Since
	}
	return start
}

// CountsFrom says whether a battle that arrived at arrival counts for a reaction whose window
// starts at start. Times have a one-second resolution: a battle stored in the same second as
// the reaction was created (or edited) counts.
func CountsFrom(start, arrival metav1.Time) bool {
	return !arrival.Truncate(time.Second).Before(start.Truncate(time.Second))
}

// Recorded says whether the reaction (by name and UID) already fired for the battle.
func Recorded(br *livev1alpha1.BattleResult, name, uid string) bool {
	for _, r := range br.Status.Reactions {
		if r.Reaction == name && r.UID == uid {
			return true
		}
	}
	return false
}

// LastEdit is when the reaction's spec or metadata was last written by a user: the newest
// managedFields time outside the status subresource.
func LastEdit(rx *livev1alpha1.BattleReaction) *metav1.Time {
	var last *metav1.Time
	for _, mf := range rx.ManagedFields {
		if mf.Subresource != "" || mf.Time == nil {
			continue
		}
		if last == nil || mf.Time.After(last.Time) {
			last = mf.Time
		}
	}
	return last
}
