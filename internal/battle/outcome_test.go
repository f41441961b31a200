package battle

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	v1 "github.com/battleops/battle-operator/api/v1alpha1"
)

func TestReason(t *testing.T) {
	tests := []struct {
		name   string
		opType int64
		want   v1.EndReason
	}{
		{name: "OpType 0 means the battle ran its full time.", opType: 0, want: v1.EndReasonTimeUp},
		{name: "OpType 1 means every host left.", opType: 1, want: v1.EndReasonAllHostsExited},
		{name: "OpType 2 means the battle never started.", opType: 2, want: v1.EndReasonNeverStarted},
		{name: "OpType 3, not documented yet, is Unknown.", opType: 3, want: v1.EndReasonUnknown},
		{name: "A negative OpType is Unknown.", opType: -1, want: v1.EndReasonUnknown},
		{name: "The largest OpType is Unknown.", opType: math.MaxInt64, want: v1.EndReasonUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason(tt.opType); got != tt.want {
				t.Errorf("Reason(%d) = %q, want %q", tt.opType, got, tt.want)
			}
		})
	}
}

func TestRanks(t *testing.T) {
	tests := []struct {
		name   string
		scores []int64
		want   []int32
	}{
		{name: "Two rooms sharing the top score both rank 1 and the next ranks 3.", scores: []int64{9, 9, 4}, want: []int32{1, 1, 3}},
		{name: "Rooms that all score the same all rank 1.", scores: []int64{5, 5, 5, 5}, want: []int32{1, 1, 1, 1}},
		{name: "A single room ranks 1.", scores: []int64{7}, want: []int32{1}},
		{name: "A single room scoring 0 ranks 1.", scores: []int64{0}, want: []int32{1}},
		{name: "Negative scores rank below higher ones, ties included.", scores: []int64{-3, -1, -3, -10}, want: []int32{2, 1, 2, 4}},
		{name: "Scores given highest first rank 1, 2, 3.", scores: []int64{30, 20, 10}, want: []int32{1, 2, 3}},
		{name: "Scores given lowest first rank 3, 2, 1, in payload order.", scores: []int64{10, 20, 30}, want: []int32{3, 2, 1}},
		{name: "Ties in the middle and at the top of unsorted scores skip the ranks they fill.", scores: []int64{5, 9, 5, 1, 9}, want: []int32{3, 1, 3, 5, 1}},
		{name: "The int64 extremes rank in order.", scores: []int64{math.MinInt64, math.MaxInt64, 0}, want: []int32{3, 1, 2}},
		{name: "No scores give no ranks.", scores: []int64{}, want: []int32{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.scores)
			got := Ranks(in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Ranks(%v) mismatch (-want +got):\n%s", tt.scores, diff)
			}
			if diff := cmp.Diff(tt.scores, in); diff != "" {
				t.Errorf("Ranks changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	const (
		win = v1.RoomResultWin
		los = v1.RoomResultLoss
		drw = v1.RoomResultDraw
		nc  = v1.RoomResultNoContest
	)
	tests := []struct {
		name        string
		reason      v1.EndReason
		scores      []int64
		wantResults []v1.RoomResult
		wantOutcome v1.Outcome
	}{
		{name: "A TimeUp battle is won by the one room on the highest score.", reason: v1.EndReasonTimeUp, scores: []int64{300, 4100, 2750, 0}, wantResults: []v1.RoomResult{los, win, los, los}, wantOutcome: v1.OutcomeWin},
		{name: "A TimeUp battle whose caller scores highest is won by the caller.", reason: v1.EndReasonTimeUp, scores: []int64{1520, 980}, wantResults: []v1.RoomResult{win, los}, wantOutcome: v1.OutcomeWin},
		{name: "Two of three rooms sharing the top score draw and the third loses.", reason: v1.EndReasonTimeUp, scores: []int64{50, 80, 80}, wantResults: []v1.RoomResult{los, drw, drw}, wantOutcome: v1.OutcomeDraw},
		{name: "A TimeUp battle at 0-0 is a draw.", reason: v1.EndReasonTimeUp, scores: []int64{0, 0}, wantResults: []v1.RoomResult{drw, drw}, wantOutcome: v1.OutcomeDraw},
		{name: "A TimeUp battle with a single room is won by it.", reason: v1.EndReasonTimeUp, scores: []int64{0}, wantResults: []v1.RoomResult{win}, wantOutcome: v1.OutcomeWin},
		{name: "With only negative scores the least negative room wins.", reason: v1.EndReasonTimeUp, scores: []int64{-5, -2, -9}, wantResults: []v1.RoomResult{los, win, los}, wantOutcome: v1.OutcomeWin},
		{name: "Negative scores tied at the top draw.", reason: v1.EndReasonTimeUp, scores: []int64{-2, -7, -2}, wantResults: []v1.RoomResult{drw, los, drw}, wantOutcome: v1.OutcomeDraw},
		{name: "An AllHostsExited battle is NoContest for every room whatever the scores.", reason: v1.EndReasonAllHostsExited, scores: []int64{120, 45}, wantResults: []v1.RoomResult{nc, nc}, wantOutcome: v1.OutcomeNoContest},
		{name: "A NeverStarted battle is NoContest for every room.", reason: v1.EndReasonNeverStarted, scores: []int64{0, 0, 0}, wantResults: []v1.RoomResult{nc, nc, nc}, wantOutcome: v1.OutcomeNoContest},
		{name: "A battle that ended for an Unknown reason is NoContest for every room.", reason: v1.EndReasonUnknown, scores: []int64{10, 3}, wantResults: []v1.RoomResult{nc, nc}, wantOutcome: v1.OutcomeNoContest},
		{name: "A single room that never started is NoContest, not a win.", reason: v1.EndReasonNeverStarted, scores: []int64{5}, wantResults: []v1.RoomResult{nc}, wantOutcome: v1.OutcomeNoContest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results, outcome := Judge(tt.reason, tt.scores)
			if diff := cmp.Diff(tt.wantResults, results); diff != "" {
				t.Errorf("results mismatch (-want +got):\n%s", diff)
			}
			if outcome != tt.wantOutcome {
				t.Errorf("outcome = %q, want %q", outcome, tt.wantOutcome)
			}
		})
	}
}

// endedAt is the endedAt Spec must give for a Unix time.
func endedAt(sec int64) *metav1.Time {
	t := metav1.NewTime(time.Unix(sec, 0).UTC())
	return &t
}

func TestSpec(t *testing.T) {
	delivery := Delivery{SDKAppID: "1400000001", ClientIP: "203.0.113.7", OptPlatform: "RESTAPI"}
	tests := []struct {
		name     string
		fixture  string
		delivery Delivery
		want     v1.BattleResultSpec
	}{
		{
			name:     "The four-rooms battle is won by live_room_2002 and ranks rooms in payload order, caller first.",
			fixture:  "end-battle-four-rooms.json",
			delivery: delivery,
			want: v1.BattleResultSpec{
				BattleID:    "Qm9vayBvZiBiYXR0bGVzIGZvdXIgcm9vbXMgLyArID0=",
				SDKAppID:    "1400000001",
				ClientIP:    "203.0.113.7",
				OptPlatform: "RESTAPI",
				OpType:      0,
				EndReason:   v1.EndReasonTimeUp,
				DurationMs:  180000,
				CreateTime:  1763801000,
				StartTime:   1763801010,
				EndTime:     1763801190,
				EndedAt:     endedAt(1763801190),
				EventTimeMs: 1763801190877,
				Rooms: []v1.BattleRoom{
					{RoomID: "live_room_1001", Score: 300, OwnerAccount: "host_alice", Caller: true, Result: v1.RoomResultLoss, Rank: 3},
					{RoomID: "live_room_2002", Score: 4100, OwnerAccount: "host_bob", Result: v1.RoomResultWin, Rank: 1},
					{RoomID: "live_room_3003", Score: 2750, OwnerAccount: "144115245353757792", Result: v1.RoomResultLoss, Rank: 2},
					{RoomID: "live_room_4004", Score: 0, OwnerAccount: "host_dana", Result: v1.RoomResultLoss, Rank: 4},
				},
				RoomCount: 4,
				Outcome:   v1.OutcomeWin,
				Winners:   []v1.RoomID{"live_room_2002"},
			},
		},
		{
			name:    "The official example is a 0-0 draw with no winners.",
			fixture: "end-battle-official-example.json",
			want: v1.BattleResultSpec{
				BattleID:    "4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=",
				EndReason:   v1.EndReasonTimeUp,
				DurationMs:  30000,
				CreateTime:  1739956115,
				StartTime:   1739956115,
				EndTime:     1739956145,
				EndedAt:     endedAt(1739956145),
				EventTimeMs: 1739956146119,
				Rooms: []v1.BattleRoom{
					{RoomID: "pk-3", OwnerAccount: "144115245353757792", Caller: true, Result: v1.RoomResultDraw, Rank: 1},
					{RoomID: "pk-5", OwnerAccount: "144115245442327522", Result: v1.RoomResultDraw, Rank: 1},
				},
				RoomCount: 2,
				Outcome:   v1.OutcomeDraw,
				Winners:   []v1.RoomID{},
			},
		},
		{
			name:     "A battle that never started is NoContest for both rooms.",
			fixture:  "end-battle-never-started.json",
			delivery: Delivery{SDKAppID: "1400000001"},
			want: v1.BattleResultSpec{
				BattleID:    "bmV2ZXItc3RhcnRlZC1leGFtcGxlLTAwMDAwMDAwMDE=",
				SDKAppID:    "1400000001",
				OpType:      2,
				EndReason:   v1.EndReasonNeverStarted,
				DurationMs:  300000,
				CreateTime:  1763804000,
				StartTime:   0,
				EndTime:     1763804010,
				EndedAt:     endedAt(1763804010),
				EventTimeMs: 1763804010021,
				Rooms: []v1.BattleRoom{
					{RoomID: "live_room_1001", OwnerAccount: "host_alice", Caller: true, Result: v1.RoomResultNoContest, Rank: 1},
					{RoomID: "live_room_4004", OwnerAccount: "host_dana", Result: v1.RoomResultNoContest, Rank: 1},
				},
				RoomCount: 2,
				Outcome:   v1.OutcomeNoContest,
				Winners:   []v1.RoomID{},
			},
		},
		{
			name:     "A battle every host left is NoContest although the caller scored more.",
			fixture:  "end-battle-all-hosts-exited.json",
			delivery: Delivery{SDKAppID: "1400000001", OptPlatform: "Android"},
			want: v1.BattleResultSpec{
				BattleID:    "YWxsLWhvc3RzLWV4aXRlZC1leGFtcGxlLTAwMDAwMDE=",
				SDKAppID:    "1400000001",
				OptPlatform: "Android",
				OpType:      1,
				EndReason:   v1.EndReasonAllHostsExited,
				DurationMs:  300000,
				CreateTime:  1763803000,
				StartTime:   1763803002,
				EndTime:     1763803095,
				EndedAt:     endedAt(1763803095),
				EventTimeMs: 1763803095550,
				Rooms: []v1.BattleRoom{
					{RoomID: "live_room_2002", Score: 120, OwnerAccount: "host_bob", Caller: true, Result: v1.RoomResultNoContest, Rank: 1},
					{RoomID: "live_room_3003", Score: 45, OwnerAccount: "144115245353757792", Result: v1.RoomResultNoContest, Rank: 2},
				},
				RoomCount: 2,
				Outcome:   v1.OutcomeNoContest,
				Winners:   []v1.RoomID{},
			},
		},
		{
			name:     "The caller-wins battle names the caller as the only winner.",
			fixture:  "end-battle-caller-wins.json",
			delivery: delivery,
			want: v1.BattleResultSpec{
				BattleID:    "kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=",
				SDKAppID:    "1400000001",
				ClientIP:    "203.0.113.7",
				OptPlatform: "RESTAPI",
				EndReason:   v1.EndReasonTimeUp,
				DurationMs:  300000,
				CreateTime:  1763800000,
				StartTime:   1763800003,
				EndTime:     1763800303,
				EndedAt:     endedAt(1763800303),
				EventTimeMs: 1763800303412,
				Rooms: []v1.BattleRoom{
					{RoomID: "live_room_1001", Score: 1520, OwnerAccount: "host_alice", Caller: true, Result: v1.RoomResultWin, Rank: 1},
					{RoomID: "live_room_2002", Score: 980, OwnerAccount: "host_bob", Result: v1.RoomResultLoss, Rank: 2},
				},
				RoomCount: 2,
				Outcome:   v1.OutcomeWin,
				Winners:   []v1.RoomID{"live_room_1001"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Spec(decodeFixture(t, tt.fixture), tt.delivery)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Spec mismatch (-want +got):\n%s", diff)
			}
			if got.EndedAt != nil && got.EndedAt.Location() != time.UTC {
				t.Errorf("endedAt is in %v, want UTC", got.EndedAt.Location())
			}
			// winners is a required list: it must be written as [], never null or left out.
			data, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("marshalling the spec: %v", err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(data, &fields); err != nil {
				t.Fatalf("unmarshalling the spec: %v", err)
			}
			if w := string(fields["winners"]); !strings.HasPrefix(w, "[") {
				t.Errorf("winners is written as %q, want a JSON array", w)
			}
		})
	}
}

func TestSpecFromBody(t *testing.T) {
	tests := []struct {
		name string
		e    EndBattle
		want v1.BattleResultSpec
	}{
		{
			name: "An EndTime of 0 leaves endedAt unset.",
			e:    EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1", Caller: true}}},
			want: v1.BattleResultSpec{
				BattleID: "b", EndReason: v1.EndReasonTimeUp, RoomCount: 1, Outcome: v1.OutcomeWin,
				Rooms:   []v1.BattleRoom{{RoomID: "r1", Caller: true, Result: v1.RoomResultWin, Rank: 1}},
				Winners: []v1.RoomID{"r1"},
			},
		},
		{
			name: "Unknown members of the body and of rooms are copied to extraFields unchanged.",
			e: EndBattle{
				BattleID: "b", OpType: 7, EndTime: 1, Extra: `{"Future": 1}`,
				Rooms: []Room{{RoomID: "r1", Score: -4, Extra: `{"Gift":"rose"}`}, {RoomID: "r2", Score: -4}},
			},
			want: v1.BattleResultSpec{
				BattleID: "b", OpType: 7, EndReason: v1.EndReasonUnknown, EndTime: 1, EndedAt: endedAt(1),
				RoomCount: 2, Outcome: v1.OutcomeNoContest, ExtraFields: `{"Future": 1}`,
				Rooms: []v1.BattleRoom{
					{RoomID: "r1", Score: -4, Result: v1.RoomResultNoContest, Rank: 1, ExtraFields: `{"Gift":"rose"}`},
					{RoomID: "r2", Score: -4, Result: v1.RoomResultNoContest, Rank: 1},
				},
				Winners: []v1.RoomID{},
			},
		},
		{
			name: "A battle without a caller has no room marked as caller and is judged the same way.",
			e:    EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1", Score: 1}, {RoomID: "r2", Score: 1}, {RoomID: "r3", Score: 3}}},
			want: v1.BattleResultSpec{
				BattleID: "b", EndReason: v1.EndReasonTimeUp, RoomCount: 3, Outcome: v1.OutcomeWin,
				Rooms: []v1.BattleRoom{
					{RoomID: "r1", Score: 1, Result: v1.RoomResultLoss, Rank: 2},
					{RoomID: "r2", Score: 1, Result: v1.RoomResultLoss, Rank: 2},
					{RoomID: "r3", Score: 3, Result: v1.RoomResultWin, Rank: 1},
				},
				Winners: []v1.RoomID{"r3"},
			},
		},
		{
			name: "An EndTime that is not a representable date (milliseconds by mistake) leaves endedAt unset and keeps endTime.",
			e:    EndBattle{BattleID: "b", EndTime: 253402300800000, Rooms: []Room{{RoomID: "r1"}}},
			want: v1.BattleResultSpec{
				BattleID: "b", EndReason: v1.EndReasonTimeUp, EndTime: 253402300800000, RoomCount: 1, Outcome: v1.OutcomeWin,
				Rooms:   []v1.BattleRoom{{RoomID: "r1", Result: v1.RoomResultWin, Rank: 1}},
				Winners: []v1.RoomID{"r1"},
			},
		},
		{
			name: "The last second of year 9999 is still given as endedAt.",
			e:    EndBattle{BattleID: "b", EndTime: 253402300799, Rooms: []Room{{RoomID: "r1"}}},
			want: v1.BattleResultSpec{
				BattleID: "b", EndReason: v1.EndReasonTimeUp, EndTime: 253402300799, EndedAt: endedAt(253402300799), RoomCount: 1, Outcome: v1.OutcomeWin,
				Rooms:   []v1.BattleRoom{{RoomID: "r1", Result: v1.RoomResultWin, Rank: 1}},
				Winners: []v1.RoomID{"r1"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Spec(&tt.e, Delivery{})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Spec mismatch (-want +got):\n%s", diff)
			}
			// What the API server stores must read back as the same battle.
			data, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("marshalling the spec: %v", err)
			}
			var back v1.BattleResultSpec
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("the spec does not read back: %v\n%s", err, data)
			}
			if diff := cmp.Diff(got, back); diff != "" {
				t.Errorf("the spec changed through JSON (-before +after):\n%s", diff)
			}
		})
	}
}

func TestSpecEndedAtIsUTC(t *testing.T) {
	// endedAt must not depend on the operator's time zone.
	old := time.Local
	time.Local = time.FixedZone("UTC+8", 8*3600)
	defer func() { time.Local = old }()
	got := Spec(&EndBattle{BattleID: "b", EndTime: 1739956145, Rooms: []Room{{RoomID: "r1"}}}, Delivery{})
	if got.EndedAt == nil {
		t.Fatal("endedAt is unset")
	}
	if got.EndedAt.Location() != time.UTC {
		t.Errorf("endedAt is in %v, want UTC", got.EndedAt.Location())
	}
	if want := "2025-02-19T09:09:05Z"; got.EndedAt.Format(time.RFC3339) != want {
		t.Errorf("endedAt = %s, want %s", got.EndedAt.Format(time.RFC3339), want)
	}
}

func TestName(t *testing.T) {
	fixtureIDs := []string{
		"kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=",
		"4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=",
		"Qm9vayBvZiBiYXR0bGVzIGZvdXIgcm9vbXMgLyArID0=",
	}

	t.Run("Names are a fixed function of the BattleId, stable across releases.", func(t *testing.T) {
		for id, want := range map[string]string{
			"kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=":  "br-0f4b86e17f06af2a840841950c7eb1fe",
			"4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=": "br-b8c2d5cd81885cafc362a18d932477a9",
		} {
			if got := Name(id); got != want {
				t.Errorf("Name(%q) = %q, want %q", id, got, want)
			}
			if got := Name(id); got != want {
				t.Errorf("second Name(%q) = %q, want %q", id, got, want)
			}
		}
	})

	valid := []struct {
		name string
		id   string
	}{
		{name: "A fixture BattleId with '/', '+' and '=' gives a valid object name.", id: fixtureIDs[0]},
		{name: "A BattleId of the maximum length gives a valid object name.", id: strings.Repeat("A/+=", MaxBattleIDLength/4)},
		{name: "A BattleId of non-ASCII text gives a valid object name.", id: "战斗/😀+="},
		{name: "A BattleId with upper-case letters only gives a valid object name.", id: "ABCDEF"},
		{name: "A BattleId of dots and dashes gives a valid object name.", id: "..--.."},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got := Name(tt.id)
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("Name(%q) = %q is not a valid object name: %v", tt.id, got, errs)
			}
			if len(got) > 63 {
				t.Errorf("Name(%q) = %q is %d characters, want at most 63", tt.id, got, len(got))
			}
			if !strings.HasPrefix(got, NamePrefix) {
				t.Errorf("Name(%q) = %q does not start with %q", tt.id, got, NamePrefix)
			}
		})
	}

	distinct := []struct {
		name string
		a, b string
	}{
		{name: "BattleIds that differ only in case get different names.", a: "kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=", b: "KJ8V2QW+LM4/ZX7RT1YP0NC3HS5UA9EB6DF8GI2KJ4="},
		{name: "BattleIds that differ in one letter's case get different names.", a: "abc=", b: "abC="},
		{name: "BattleIds that differ only in '/' versus '+' get different names.", a: "ab/cd=", b: "ab+cd="},
		{name: "BattleIds that differ only in a trailing '=' get different names.", a: "abcd", b: "abcd="},
		{name: "Different fixtures get different names.", a: fixtureIDs[1], b: fixtureIDs[2]},
	}
	for _, tt := range distinct {
		t.Run(tt.name, func(t *testing.T) {
			if Name(tt.a) == Name(tt.b) {
				t.Errorf("Name(%q) and Name(%q) are both %q", tt.a, tt.b, Name(tt.a))
			}
		})
	}
}

func TestDifferences(t *testing.T) {
	base := func(t *testing.T) *EndBattle {
		return decodeFixture(t, "end-battle-four-rooms.json")
	}
	delivery := Delivery{SDKAppID: "1400000001", ClientIP: "203.0.113.7", OptPlatform: "RESTAPI"}
	tests := []struct {
		name     string
		change   func(e *EndBattle) // applied to a copy of the battle
		delivery Delivery           // the second delivery's metadata
		want     []string
	}{
		{name: "The same battle delivered twice has no differences.", change: func(*EndBattle) {}, delivery: delivery},
		{name: "The same battle delivered with other query parameters has no differences.", change: func(*EndBattle) {}, delivery: Delivery{SDKAppID: "1400000002", ClientIP: "198.51.100.9", OptPlatform: "iOS"}},
		{name: "A changed score is a difference in rooms.", change: func(e *EndBattle) { e.Rooms[2].Score++ }, delivery: delivery, want: []string{"rooms"}},
		{name: "A changed score that changes the winner is only a difference in rooms.", change: func(e *EndBattle) { e.Rooms[0].Score = 99999 }, delivery: delivery, want: []string{"rooms"}},
		{name: "Rooms in another order are a difference in rooms.", change: func(e *EndBattle) { e.Rooms[1], e.Rooms[2] = e.Rooms[2], e.Rooms[1] }, delivery: delivery, want: []string{"rooms"}},
		{name: "A missing room is a difference in rooms.", change: func(e *EndBattle) { e.Rooms = e.Rooms[:3] }, delivery: delivery, want: []string{"rooms"}},
		{name: "Another owner account is a difference in rooms.", change: func(e *EndBattle) { e.Rooms[2].OwnerAccount = "144115245353757793" }, delivery: delivery, want: []string{"rooms"}},
		{name: "Another caller is a difference in rooms.", change: func(e *EndBattle) { e.Rooms[0].Caller = false }, delivery: delivery, want: []string{"rooms"}},
		{name: "A room with an extra member is a difference in rooms.", change: func(e *EndBattle) { e.Rooms[3].Extra = `{"Level":3}` }, delivery: delivery, want: []string{"rooms"}},
		{name: "An extra body member is a difference in extraFields.", change: func(e *EndBattle) { e.Extra = `{"Future":1}` }, delivery: delivery, want: []string{"extraFields"}},
		{name: "Another BattleId is a difference in battleId.", change: func(e *EndBattle) { e.BattleID += "x" }, delivery: delivery, want: []string{"battleId"}},
		{name: "Another OpType is a difference in opType alone, though the outcome changes too.", change: func(e *EndBattle) { e.OpType = 1 }, delivery: delivery, want: []string{"opType"}},
		{name: "Another EndTime is a difference in endTime.", change: func(e *EndBattle) { e.EndTime++ }, delivery: delivery, want: []string{"endTime"}},
		{
			name: "Every changed battle field is named, in spec order.",
			change: func(e *EndBattle) {
				e.Duration++
				e.CreateTime++
				e.StartTime++
				e.EventTime++
				e.Extra = `{"x":1}`
				e.Rooms[0].RoomID = "other"
			},
			delivery: delivery,
			want:     []string{"durationMs", "createTime", "startTime", "eventTimeMs", "extraFields", "rooms"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := base(t)
			second := base(t)
			tt.change(second)
			a, b := Spec(first, delivery), Spec(second, tt.delivery)
			if diff := cmp.Diff(tt.want, Differences(a, b), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Differences(a, b) mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, Differences(b, a), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Differences(b, a) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
