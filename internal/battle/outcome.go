package battle

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Reason names an OpType. Values Tencent may add later are Unknown.
func Reason(opType int64) livev1alpha1.EndReason {
	switch opType {
	case 0:
		return livev1alpha1.EndReasonTimeUp
	case 1:
		return livev1alpha1.EndReasonAllHostsExited
	case 2:
		return livev1alpha1.EndReasonNeverStarted
	default:
		return livev1alpha1.EndReasonUnknown
	}
}

// Ranks returns the competition rank of each score, highest first: scores 9, 9, 4 rank 1, 1, 3.
func Ranks(scores []int64) []int32 {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	ranks := make([]int32, len(scores))
	for pos, i := range order {
		if pos > 0 && scores[order[pos-1]] == scores[i] {
			ranks[i] = ranks[order[pos-1]]
		} else {
			ranks[i] = int32(pos + 1)
		}
	}
	return ranks
}

// Judge applies the battle outcome rules: a TimeUp battle is won by the room alone on the
// highest score, drawn by the rooms that share it, and lost by every other room; any other
// end reason is NoContest for every room. It returns each room's result and the outcome.
func Judge(reason livev1alpha1.EndReason, scores []int64) ([]livev1alpha1.RoomResult, livev1alpha1.Outcome) {
	results := make([]livev1alpha1.RoomResult, len(scores))
	if reason != livev1alpha1.EndReasonTimeUp || len(scores) == 0 {
		for i := range results {
			results[i] = livev1alpha1.RoomResultNoContest
		}
		return results, livev1alpha1.OutcomeNoContest
	}
	top, atTop := scores[0], 0
	for _, s := range scores {
		if s > top {
			top = s
		}
	}
	for _, s := range scores {
		if s == top {
			atTop++
		}
	}
	onTop, outcome := livev1alpha1.RoomResultWin, livev1alpha1.OutcomeWin
	if atTop > 1 {
		onTop, outcome = livev1alpha1.RoomResultDraw, livev1alpha1.OutcomeDraw
	}
	for i, s := range scores {
		if s == top {
			results[i] = onTop
		} else {
			results[i] = livev1alpha1.RoomResultLoss
		}
	}
	return results, outcome
}

// Delivery is what the delivery's query parameters said, as opposed to the battle's body.
type Delivery struct {
	SDKAppID    string
	ClientIP    string
	OptPlatform string
}

// Spec turns a battle-end callback into a BattleResult spec, outcome included.
func Spec(e *EndBattle, d Delivery) livev1alpha1.BattleResultSpec {
	reason := Reason(e.OpType)
	scores := make([]int64, len(e.Rooms))
	for i, r := range e.Rooms {
		scores[i] = r.Score
	}
	results, outcome := Judge(reason, scores)
	ranks := Ranks(scores)

	spec := livev1alpha1.BattleResultSpec{
		BattleID:    e.BattleID,
		SDKAppID:    d.SDKAppID,
		ClientIP:    d.ClientIP,
		OptPlatform: d.OptPlatform,
		OpType:      e.OpType,
		EndReason:   reason,
		DurationMs:  e.Duration,
		CreateTime:  e.CreateTime,
		StartTime:   e.StartTime,
		EndTime:     e.EndTime,
		EventTimeMs: e.EventTime,
		Rooms:       make([]livev1alpha1.BattleRoom, len(e.Rooms)),
		RoomCount:   int32(len(e.Rooms)),
		Outcome:     outcome,
		Winners:     []livev1alpha1.RoomID{},
		ExtraFields: e.Extra,
	}
	// endedAt only for an EndTime that RFC 3339 can write (years 0 to 9999, and not the instant
	// metav1.Time writes as null): any other would not read back, and the API server refuses it.
	if t := time.Unix(e.EndTime, 0).UTC(); e.EndTime != 0 && !t.IsZero() && t.Year() >= 0 && t.Year() <= 9999 {
		mt := metav1.NewTime(t)
		spec.EndedAt = &mt
	}
	for i, r := range e.Rooms {
		spec.Rooms[i] = livev1alpha1.BattleRoom{
			RoomID:       livev1alpha1.RoomID(r.RoomID),
			Score:        r.Score,
			OwnerAccount: r.OwnerAccount,
			Caller:       r.Caller,
			Result:       results[i],
			Rank:         ranks[i],
			ExtraFields:  r.Extra,
		}
		if results[i] == livev1alpha1.RoomResultWin {
			spec.Winners = append(spec.Winners, livev1alpha1.RoomID(r.RoomID))
		}
	}
	return spec
}

// NamePrefix starts every BattleResult name.
const NamePrefix = "br-"

// Name is the BattleResult name of a BattleId: a pure function of the BattleId alone, so
// every delivery of a battle maps to the same object. BattleIds are not valid object names
// (they hold '/', '+', '='), so the name is a hash: 128 bits of SHA-256, in hex.
func Name(battleID string) string {
	sum := sha256.Sum256([]byte(battleID))
	return NamePrefix + hex.EncodeToString(sum[:16])
}

// Differences lists the spec fields in which two BattleResult specs describe different
// battles; none when they describe the same one. The delivery metadata (sdkAppId, clientIP,
// optPlatform) may differ between deliveries of one battle and is not compared, nor are the
// fields computed from the rest (endReason, endedAt, outcome, results, ranks, winners).
func Differences(a, b livev1alpha1.BattleResultSpec) []string {
	var diff []string
	add := func(field string, same bool) {
		if !same {
			diff = append(diff, field)
		}
	}
	add("battleId", a.BattleID == b.BattleID)
	add("opType", a.OpType == b.OpType)
	add("durationMs", a.DurationMs == b.DurationMs)
	add("createTime", a.CreateTime == b.CreateTime)
	add("startTime", a.StartTime == b.StartTime)
	add("endTime", a.EndTime == b.EndTime)
	add("eventTimeMs", a.EventTimeMs == b.EventTimeMs)
	add("extraFields", a.ExtraFields == b.ExtraFields)
	sameRooms := len(a.Rooms) == len(b.Rooms)
	for i := 0; sameRooms && i < len(a.Rooms); i++ {
		ra, rb := a.Rooms[i], b.Rooms[i]
		sameRooms = ra.RoomID == rb.RoomID && ra.Score == rb.Score && ra.OwnerAccount == rb.OwnerAccount &&
			ra.Caller == rb.Caller && ra.ExtraFields == rb.ExtraFields
	}
	add("rooms", sameRooms)
	return diff
}
