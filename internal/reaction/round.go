package reaction

import (
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Round is what one round of a reaction's firing does: the battles whose missing Jobs it
// creates, in arrival order, and how many matching battles still wait for theirs.
type Round struct {
	// Battles are the battles planned, each with its missing Jobs.
	Battles []Planned
	// Waiting counts the matching battles not planned whole, in this round or an earlier one.
	Waiting int64
	// Err is a Job template that does not make a Job: the planning stopped at that battle.
	Err error
}

// Planned is one battle of a round.
type Planned struct {
	Battle *livev1alpha1.BattleResult
	// Runs is how many Jobs the battle gets in all.
	Runs int32
	// Missing are its Jobs that do not exist yet, each with the reaction as its controller and
	// the accounting Finalizer.
	Missing []*batchv1.Job
	// Partial says that not all its missing Jobs fit (maxRunningJobs, or the round's limit):
	// the rest follow when slots free, and the battle is not recorded yet.
	Partial bool
}

// RoundInput is what a round is planned from.
type RoundInput struct {
	Reaction *livev1alpha1.BattleReaction
	// Due are the matching battles not recorded, in arrival order.
	Due []*livev1alpha1.BattleResult
	// Jobs are the reaction's Jobs, by name: those that exist (or were just created).
	Jobs map[string]*batchv1.Job
	// MaxJobs bounds the Jobs one round creates.
	MaxJobs int
	// Planned says that a battle was planned whole in an earlier round of the same reconcile.
	Planned func(name string) bool
	// Pending says that a battle is still in the reaction's index (not deleted since it was read).
	Pending func(name string) bool
}

// PlanRound plans a round: in arrival order, each due battle not planned whole before gets the
// Jobs it misses, while maxRunningJobs (counting the unfinished Jobs) and in.MaxJobs allow. The
// first battle that does not fit whole gets the Jobs that fit and ends the round. It reads
// nothing but its input.
func PlanRound(in RoundInput) Round {
	rx := in.Reaction
	running := 0
	for _, job := range in.Jobs {
		if finished, _ := Finished(job); !finished && job.DeletionTimestamp == nil {
			running++
		}
	}
	owner := metav1.NewControllerRef(rx, livev1alpha1.GroupVersion.WithKind("BattleReaction"))

	var round Round
	jobs := 0
	for n, br := range in.Due {
		if in.Planned(br.Name) || !in.Pending(br.Name) {
			continue
		}
		runs := Runs(rx.Spec.RunFor, &br.Spec)
		p := Planned{Battle: br, Runs: int32(len(runs))}
		for _, run := range runs {
			if _, ok := in.Jobs[JobName(rx.Name, br.Name, run.Room)]; ok {
				continue
			}
			if (rx.Spec.MaxRunningJobs > 0 && running >= int(rx.Spec.MaxRunningJobs)) || jobs >= in.MaxJobs {
				p.Partial = true
				break
			}
			job, err := NewJob(rx, br, run)
			if err != nil {
				round.Err = err
				break
			}
			job.Finalizers = append(job.Finalizers, Finalizer)
			job.OwnerReferences = append(job.OwnerReferences, *owner)
			p.Missing = append(p.Missing, job)
			jobs++
			running++
		}
		if round.Err == nil && !p.Partial {
			round.Battles = append(round.Battles, p)
			continue
		}
		// This battle and those after it wait, unless planned whole before.
		for _, rest := range in.Due[n:] {
			if !in.Planned(rest.Name) {
				round.Waiting++
			}
		}
		if p.Partial && len(p.Missing) > 0 {
			round.Battles = append(round.Battles, p) // some of its Jobs now
		}
		break
	}
	return round
}
