package v1alpha1

// ConditionReady is the condition type RoomStats and BattleReactions report: whether the
// object is doing what it says.
const ConditionReady = "Ready"

// The reason of a RoomStats's Ready condition.
const (
	// ReasonCounted: the statistics count every battle of the room stored (and those pruned).
	ReasonCounted = "Counted"
)

// ConditionScoreSaturated is True on a RoomStats whose totalScore reached an int64 bound: it
// stays there rather than wrapping around, and is no longer the exact sum. It stays True.
const ConditionScoreSaturated = "ScoreSaturated"

// ReasonInt64Bound is the reason of ScoreSaturated.
const ReasonInt64Bound = "Int64Bound"

// The reasons of a BattleReaction's Ready condition.
const (
	// ReasonActive: the reaction runs a Job for every matching battle (Ready is True).
	ReasonActive = "Active"
	// ReasonSuspended: spec.suspend is true; matching battles wait (Ready is True).
	ReasonSuspended = "Suspended"
	// ReasonInvalidExpression: spec.match.expression does not compile (Ready is False).
	ReasonInvalidExpression = "InvalidExpression"
	// ReasonInvalidJobTemplate: the API server refused a Job made from spec.jobTemplate (Ready
	// is False) until the template changes.
	ReasonInvalidJobTemplate = "InvalidJobTemplate"
)
