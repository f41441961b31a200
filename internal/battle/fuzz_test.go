package battle

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	v1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/testutil"
)

// fuzzSeeds are hand-written edge bodies added to the fixtures.
var fuzzSeeds = []string{
	``,
	`{}`,
	`null`,
	`[]`,
	`{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1"}}`,
	`{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Score":-3},{"RoomId":"r2","Score":-3},{"RoomId":"r3","Score":-9}]}`,
	`{"BattleId":"b","OpType":3,"FromRoomInfo":{"RoomId":"r1","Score":9223372036854775807,"Owner_Account":-0.5e-3},"ToRoomList":[{"RoomId":"r2","Score":-9223372036854775808}]}`,
	`{"BattleId":"b","OpType":0,"EndTime":-62135596800,"FromRoomInfo":{"RoomId":"r1"}}`,
	`{"BattleId":"b","OpType":0,"EndTime":1763801190877,"FromRoomInfo":{"RoomId":"r1"}}`,
	`{"BattleId":"b","OpType":0,"EndTime":-9223372036854775808,"FromRoomInfo":{"RoomId":"r1"}}`,
	`{"BattleId":"b","OpType":0,"EndTime":9223372036854775807,"FromRoomInfo":{"RoomId":"r1"}}`,
	`{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1"},"ToRoomList":[{"RoomId":"r1"}]}`,
	`{"BattleId":"b","OpType":0,"BattleId":"b","FromRoomInfo":{"RoomId":"r1"}}`,
	`{"\u0042attleId":"\ud800","OpType":0, "x" : { "y" :[ 1 ,2 ] } ,"\u0041b":"\u2028<&>","FromRoomInfo":{"RoomId":"\u0000","z":null}}`,
	`{"BattleId":"b","OpType":1.0,"FromRoomInfo":{"RoomId":"r1"}}`,
	`{"BattleId":"b","OpType":0,"ToRoomList":{"RoomId":"r1"}}`,
	`{"BattleId":"b","OpType":0,"ToRoomList":[null,1,"x",[]]}`,
	`{"BattleId":"b"} {}`,
	"{\"BattleId\":\"\xff\"}",
	`{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","Owner_Account":true}}`,
	`{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1"},"k":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
}

func FuzzDecode(f *testing.F) {
	for _, name := range testutil.Fixtures(f) {
		f.Add(testutil.Fixture(f, name))
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := Parse(data)
		if err != nil {
			mustBeFieldError(t, "Parse", err)
			if body != nil {
				t.Fatal("Parse returned a body with its error")
			}
			return
		}
		_, _ = body.Command()
		e, err := body.EndBattle()
		if err != nil {
			mustBeFieldError(t, "EndBattle", err)
			if e != nil {
				t.Fatal("EndBattle returned a result with its error")
			}
			return
		}
		checkEndBattle(t, e)
		spec := Spec(e, Delivery{SDKAppID: "1400000001", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"})
		checkSpec(t, e, spec)
		checkReencodes(t, spec)
	})
}

// checkReencodes: the Live.CallbackAfterEndBattle body an HTTP reaction sends for a battle
// (EndBattleBody) decodes back to the same battle.
func checkReencodes(t *testing.T, spec v1.BattleResultSpec) {
	t.Helper()
	encoded, err := EndBattleBody(&spec)
	if err != nil {
		t.Fatalf("EndBattleBody: %v", err)
	}
	body, err := Parse(encoded)
	if err != nil {
		t.Fatalf("the re-encoded body does not parse: %v\n%s", err, encoded)
	}
	again, err := body.EndBattle()
	if err != nil {
		t.Fatalf("the re-encoded body does not decode: %v\n%s", err, encoded)
	}
	if diff := Differences(spec, Spec(again, Delivery{})); len(diff) > 0 {
		t.Fatalf("the re-encoded body differs in %v:\n%s", diff, encoded)
	}
}

func mustBeFieldError(t *testing.T, what string, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%s error %v (%T) is not a *FieldError", what, err, err)
	}
	if fe.Reason == "" {
		t.Fatalf("%s error for %q has no reason", what, fe.Field)
	}
}

// isObjectText reports whether s is the JSON text of one object.
func isObjectText(s string) bool {
	var m map[string]json.RawMessage
	return strings.HasPrefix(s, "{") && json.Valid([]byte(s)) && json.Unmarshal([]byte(s), &m) == nil
}

func checkEndBattle(t *testing.T, e *EndBattle) {
	t.Helper()
	if e.BattleID == "" || len(e.BattleID) > MaxBattleIDLength {
		t.Fatalf("BattleID %q: want 1 to %d bytes", e.BattleID, MaxBattleIDLength)
	}
	if n := len(e.Rooms); n < 1 || n > MaxRooms {
		t.Fatalf("%d rooms, want 1 to %d", n, MaxRooms)
	}
	seen := map[string]bool{}
	for i, r := range e.Rooms {
		if r.RoomID == "" || len(r.RoomID) > MaxRoomIDLength {
			t.Fatalf("room %d: RoomID %q, want 1 to %d bytes", i, r.RoomID, MaxRoomIDLength)
		}
		if seen[r.RoomID] {
			t.Fatalf("room %q appears twice", r.RoomID)
		}
		seen[r.RoomID] = true
		if r.Caller && i != 0 {
			t.Fatalf("room %d (%q) is the caller but not first", i, r.RoomID)
		}
		if len(r.OwnerAccount) > MaxAccountLength {
			t.Fatalf("room %q: OwnerAccount of %d bytes", r.RoomID, len(r.OwnerAccount))
		}
		if r.Extra != "" && !isObjectText(r.Extra) {
			t.Fatalf("room %q: Extra %q is not JSON object text", r.RoomID, r.Extra)
		}
	}
	if e.Extra != "" && !isObjectText(e.Extra) {
		t.Fatalf("Extra %q is not JSON object text", e.Extra)
	}
}

func checkSpec(t *testing.T, e *EndBattle, spec v1.BattleResultSpec) {
	t.Helper()
	if spec.BattleID != e.BattleID || spec.OpType != e.OpType || spec.EndTime != e.EndTime {
		t.Fatalf("spec does not carry the battle's BattleId, OpType and EndTime as sent")
	}
	if int(spec.RoomCount) != len(spec.Rooms) || len(spec.Rooms) != len(e.Rooms) {
		t.Fatalf("roomCount %d, %d rooms in spec, %d decoded", spec.RoomCount, len(spec.Rooms), len(e.Rooms))
	}
	if spec.EndReason != Reason(e.OpType) {
		t.Fatalf("endReason %q for OpType %d", spec.EndReason, e.OpType)
	}
	if spec.Winners == nil {
		t.Fatal("winners is nil; the CRD requires a list")
	}

	top := spec.Rooms[0].Score
	for _, r := range spec.Rooms {
		top = max(top, r.Score)
	}
	atTop := 0
	var winners []v1.RoomID
	for i, r := range spec.Rooms {
		if r.RoomID != v1.RoomID(e.Rooms[i].RoomID) || r.Score != e.Rooms[i].Score || r.Caller != e.Rooms[i].Caller {
			t.Fatalf("room %d of the spec is not room %d of the battle", i, i)
		}
		higher := int32(0)
		for _, o := range spec.Rooms {
			if o.Score > r.Score {
				higher++
			}
		}
		if r.Rank != higher+1 {
			t.Fatalf("room %q: rank %d, but %d rooms scored higher", r.RoomID, r.Rank, higher)
		}
		if r.Score == top {
			atTop++
		}
		if r.Result == v1.RoomResultWin {
			winners = append(winners, r.RoomID)
		}
	}
	if diff := cmp.Diff(winners, spec.Winners, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("winners are not the rooms whose result is Win (-Win rooms +winners):\n%s", diff)
	}
	for _, r := range spec.Rooms {
		var want v1.RoomResult
		switch {
		case spec.EndReason != v1.EndReasonTimeUp:
			want = v1.RoomResultNoContest
		case r.Score != top:
			want = v1.RoomResultLoss
		case atTop == 1:
			want = v1.RoomResultWin
		default:
			want = v1.RoomResultDraw
		}
		if r.Result != want {
			t.Fatalf("room %q (score %d, top %d shared by %d, %s): result %q, want %q", r.RoomID, r.Score, top, atTop, spec.EndReason, r.Result, want)
		}
	}
	var wantOutcome v1.Outcome
	switch {
	case spec.EndReason != v1.EndReasonTimeUp:
		wantOutcome = v1.OutcomeNoContest
	case atTop == 1:
		wantOutcome = v1.OutcomeWin
	default:
		wantOutcome = v1.OutcomeDraw
	}
	if spec.Outcome != wantOutcome {
		t.Fatalf("outcome %q, want %q", spec.Outcome, wantOutcome)
	}
	if (spec.Outcome == v1.OutcomeWin) != (len(spec.Winners) == 1) || len(spec.Winners) > 1 {
		t.Fatalf("outcome %q with %d winners", spec.Outcome, len(spec.Winners))
	}

	if e.EndTime == 0 && spec.EndedAt != nil {
		t.Fatalf("endedAt %v for EndTime 0", spec.EndedAt)
	}
	if spec.EndedAt != nil {
		if !spec.EndedAt.Time.Equal(time.Unix(e.EndTime, 0)) || spec.EndedAt.Location() != time.UTC {
			t.Fatalf("endedAt %v is not EndTime %d in UTC", spec.EndedAt, e.EndTime)
		}
	}

	// What is written to the API server must read back as the same spec.
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatalf("marshalling the spec: %v", err)
	}
	var back v1.BattleResultSpec
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("the marshalled spec does not unmarshal: %v\n%s", err, data)
	}
	if diff := cmp.Diff(spec, back); diff != "" {
		t.Fatalf("the spec changed through JSON (-before +after):\n%s", diff)
	}
}
