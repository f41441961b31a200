package reaction

import (
	"maps"
	"slices"
	"strings"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// DefaultMaxInFlight bounds an HTTP reaction's runs in flight when its maxRunningJobs is 0.
const DefaultMaxInFlight = 100

// DeliveryInput is what an HTTP reaction's next deliveries are planned from.
type DeliveryInput struct {
	Reaction *livev1alpha1.BattleReaction
	// Due are the matching battles not recorded, in arrival order.
	Due []*livev1alpha1.BattleResult
	// Busy says that a battle's runs are in flight, finished but not counted, or counted
	// and being recorded: nothing starts for it.
	Busy func(name string) bool
	// InFlight is the number of the reaction's runs in flight.
	InFlight int
	// MaxRuns bounds the runs started at once.
	MaxRuns int
}

// DeliveryPlan is what to start: battles, each with all its runs.
type DeliveryPlan struct {
	Start []Delivery
	// Waiting counts the due battles neither busy nor started.
	Waiting int64
}

// Delivery is one battle's runs.
type Delivery struct {
	Battle *livev1alpha1.BattleResult
	Runs   []Run
}

// PlanDeliveries starts, in arrival order, each due battle that is not busy with all its runs,
// while the runs in flight stay within maxRunningJobs (DefaultMaxInFlight when 0) and the
// runs started within in.MaxRuns. The first battle that does not fit waits, and so do those
// after it; a battle with more runs than the limit starts alone, when nothing is in flight. A
// battle with no runs (a draw for EachWinner) starts with none: it is recorded at once. A
// suspended reaction starts nothing. It reads nothing but its input.
func PlanDeliveries(in DeliveryInput) DeliveryPlan {
	rx := in.Reaction
	limit := int(rx.Spec.MaxRunningJobs)
	if limit <= 0 {
		limit = DefaultMaxInFlight
	}
	var plan DeliveryPlan
	inFlight, started, blocked := in.InFlight, 0, rx.Spec.Suspend
	for _, br := range in.Due {
		if in.Busy(br.Name) {
			continue
		}
		if blocked {
			plan.Waiting++
			continue
		}
		runs := Runs(rx.Spec.RunFor, &br.Spec)
		fits := inFlight+len(runs) <= limit && started+len(runs) <= in.MaxRuns
		if !fits && (inFlight > 0 || started > 0) {
			blocked = true
			plan.Waiting++
			continue
		}
		plan.Start = append(plan.Start, Delivery{Battle: br, Runs: runs})
		inFlight += len(runs)
		started += len(runs)
	}
	return plan
}

// FinishedBattle is a battle whose runs all finished: what they came to, and the battle as fired
// when one was delivered.
type FinishedBattle struct {
	Record livev1alpha1.DeliveryRecord
	Fired  *livev1alpha1.FiredBattle
}

// CountInput is what an HTTP reaction's next status write counts: step 2 of a battle's record
// (its runs finish; the status counts them and lists the battle as being recorded; the record
// is written from that list).
type CountInput struct {
	// Stored are the counts the stored status holds (nil when none).
	Stored *livev1alpha1.DeliveryCounts
	// Recording are the battles the stored status lists that are still to be recorded.
	Recording []livev1alpha1.DeliveryRecord
	// Finished are the battles whose runs finished here, not known to be counted.
	Finished map[string]FinishedBattle
	// Counted says that the stored status counts a battle already (it lists it, or listed
	// it before its record was written).
	Counted func(name string) bool
	// InFlight is the number of runs in flight.
	InFlight int
	// MaxRecording bounds the battles listed as being recorded.
	MaxRecording int
}

// Count is the counts to write, and what they count.
type Count struct {
	Counts *livev1alpha1.DeliveryCounts
	// LastFired is the latest battle delivered among those counted now (nil when none).
	LastFired *livev1alpha1.FiredBattle
	// Counting are the finished battles this write counts; CountedBefore those the stored
	// status counts already. Both are done with once the write is stored.
	Counting, CountedBefore []string
}

// CountDeliveries adds the finished battles to the stored counts, in name order, each once: a
// battle the stored status counts already is not counted again (a write that failed but was
// applied), and a battle past MaxRecording waits for a later write. The list of battles being
// recording is sorted by name. It reads nothing but its input.
func CountDeliveries(in CountInput) Count {
	counts := &livev1alpha1.DeliveryCounts{}
	if in.Stored != nil {
		*counts = *in.Stored
	}
	counts.Recording = slices.Clone(in.Recording)
	counts.InFlight = int64(in.InFlight)
	var c Count
	for _, name := range slices.Sorted(maps.Keys(in.Finished)) {
		f := in.Finished[name]
		if in.Counted(name) {
			c.CountedBefore = append(c.CountedBefore, name)
			continue
		}
		if len(counts.Recording) >= in.MaxRecording {
			continue // counted by a later write
		}
		c.Counting = append(c.Counting, name)
		counts.Delivered += int64(f.Record.Delivered)
		counts.Failed += int64(f.Record.Failed)
		counts.Recording = append(counts.Recording, f.Record)
		c.LastFired = LaterFired(c.LastFired, f.Fired)
	}
	slices.SortFunc(counts.Recording, func(a, b livev1alpha1.DeliveryRecord) int {
		return strings.Compare(a.BattleResult, b.BattleResult)
	})
	c.Counts = counts
	return c
}
