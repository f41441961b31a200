package reaction

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// The battles below are built by hand, the way the receiver stores them.

// bigAccount is the Owner_Account that test/fixtures/end-battle-four-rooms.json sends as a JSON
// number too large for a float64 to hold exactly.
const bigAccount = "144115245353757792"

// fourRooms is test/fixtures/end-battle-four-rooms.json as stored: live_room_2002 wins.
func fourRooms() *livev1alpha1.BattleResultSpec {
	ended := metav1.Unix(1763801190, 0)
	return &livev1alpha1.BattleResultSpec{
		BattleID:    "Qm9vayBvZiBiYXR0bGVzIGZvdXIgcm9vbXMgLyArID0=",
		SDKAppID:    "1400188888",
		ClientIP:    "203.0.113.7",
		OptPlatform: "RESTAPI",
		OpType:      0,
		EndReason:   livev1alpha1.EndReasonTimeUp,
		DurationMs:  180000,
		CreateTime:  1763801000,
		StartTime:   1763801010,
		EndTime:     1763801190,
		EndedAt:     &ended,
		EventTimeMs: 1763801190877,
		Rooms: []livev1alpha1.BattleRoom{
			{RoomID: "live_room_1001", Score: 300, OwnerAccount: "host_alice", Caller: true, Result: livev1alpha1.RoomResultLoss, Rank: 3},
			{RoomID: "live_room_2002", Score: 4100, OwnerAccount: "host_bob", Result: livev1alpha1.RoomResultWin, Rank: 1},
			{RoomID: "live_room_3003", Score: 2750, OwnerAccount: bigAccount, Result: livev1alpha1.RoomResultLoss, Rank: 2, ExtraFields: `{"Level":7}`},
			{RoomID: "live_room_4004", Score: 0, OwnerAccount: "host_dana", Result: livev1alpha1.RoomResultLoss, Rank: 4},
		},
		RoomCount: 4,
		Outcome:   livev1alpha1.OutcomeWin,
		Winners:   []livev1alpha1.RoomID{"live_room_2002"},
	}
}

// drawBattle is a completed battle whose highest score is shared: no winner.
func drawBattle() *livev1alpha1.BattleResultSpec {
	ended := metav1.Unix(1763802000, 0)
	return &livev1alpha1.BattleResultSpec{
		BattleID: "draw-battle", SDKAppID: "1400188888", EndReason: livev1alpha1.EndReasonTimeUp,
		DurationMs: 300000, CreateTime: 1763801700, StartTime: 1763801700, EndTime: 1763802000, EndedAt: &ended,
		Rooms: []livev1alpha1.BattleRoom{
			{RoomID: "a", Score: 9, OwnerAccount: "1", Caller: true, Result: livev1alpha1.RoomResultDraw, Rank: 1},
			{RoomID: "b", Score: 9, OwnerAccount: "2", Result: livev1alpha1.RoomResultDraw, Rank: 1},
			{RoomID: "c", Score: 4, OwnerAccount: "3", Result: livev1alpha1.RoomResultLoss, Rank: 3},
		},
		RoomCount: 3,
		Outcome:   livev1alpha1.OutcomeDraw,
		Winners:   []livev1alpha1.RoomID{},
	}
}

// abandoned is a battle every host left: no contest, no winner.
func abandoned() *livev1alpha1.BattleResultSpec {
	ended := metav1.Unix(1763803000, 0)
	return &livev1alpha1.BattleResultSpec{
		BattleID: "abandoned-battle", SDKAppID: "1400188888", OpType: 1, EndReason: livev1alpha1.EndReasonAllHostsExited,
		DurationMs: 300000, EndTime: 1763803000, EndedAt: &ended,
		Rooms: []livev1alpha1.BattleRoom{
			{RoomID: "x", Score: 50, Caller: true, Result: livev1alpha1.RoomResultNoContest, Rank: 1},
			{RoomID: "y", Score: 10, Result: livev1alpha1.RoomResultNoContest, Rank: 2},
		},
		RoomCount: 2,
		Outcome:   livev1alpha1.OutcomeNoContest,
	}
}

// neverStarted is a one-room battle no host accepted: endTime 0, so no endedAt, and none of
// the optional fields.
func neverStarted() *livev1alpha1.BattleResultSpec {
	return &livev1alpha1.BattleResultSpec{
		BattleID: "never-started", SDKAppID: "1400188888", OpType: 2, EndReason: livev1alpha1.EndReasonNeverStarted,
		DurationMs: 60000,
		Rooms: []livev1alpha1.BattleRoom{
			{RoomID: "solo", Score: 0, OwnerAccount: "host_solo", Caller: true, Result: livev1alpha1.RoomResultNoContest, Rank: 1},
		},
		RoomCount: 1,
		Outcome:   livev1alpha1.OutcomeNoContest,
	}
}

// negativeScores is a completed battle in which every score is below zero; the top is -20.
func negativeScores() *livev1alpha1.BattleResultSpec {
	ended := metav1.Unix(1763804000, 0)
	return &livev1alpha1.BattleResultSpec{
		BattleID: "negative", SDKAppID: "1400188888", EndReason: livev1alpha1.EndReasonTimeUp,
		DurationMs: 120000, EndTime: 1763804000, EndedAt: &ended,
		Rooms: []livev1alpha1.BattleRoom{
			{RoomID: "n1", Score: -50, Caller: true, Result: livev1alpha1.RoomResultLoss, Rank: 2},
			{RoomID: "n2", Score: -20, Result: livev1alpha1.RoomResultWin, Rank: 1},
		},
		RoomCount: 2,
		Outcome:   livev1alpha1.OutcomeWin,
		Winners:   []livev1alpha1.RoomID{"n2"},
	}
}

// unknownReason is a battle with an OpType this operator does not know.
func unknownReason() *livev1alpha1.BattleResultSpec {
	s := abandoned()
	s.BattleID, s.OpType, s.EndReason = "unknown-battle", 7, livev1alpha1.EndReasonUnknown
	return s
}

// hundredRooms is a completed battle of 100 rooms scored 0..99; room r99 wins.
func hundredRooms() *livev1alpha1.BattleResultSpec {
	s := &livev1alpha1.BattleResultSpec{
		BattleID: "hundred", SDKAppID: "1400188888", EndReason: livev1alpha1.EndReasonTimeUp,
		DurationMs: 600000, RoomCount: 100, Outcome: livev1alpha1.OutcomeWin, Winners: []livev1alpha1.RoomID{"r99"},
	}
	for i := range 100 {
		s.Rooms = append(s.Rooms, livev1alpha1.BattleRoom{
			RoomID: livev1alpha1.RoomID("r" + strconv.Itoa(i)), Score: int64(i), Result: livev1alpha1.RoomResultLoss, Rank: int32(100 - i),
		})
	}
	s.Rooms[99].Result = livev1alpha1.RoomResultWin
	return s
}

// with returns a copy of spec changed by f.
func with(spec *livev1alpha1.BattleResultSpec, f func(*livev1alpha1.BattleResultSpec)) *livev1alpha1.BattleResultSpec {
	c := spec.DeepCopy()
	f(c)
	return c
}
