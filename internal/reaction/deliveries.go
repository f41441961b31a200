package reaction

import (
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
