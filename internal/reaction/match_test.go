package reaction

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/utils/ptr"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

func TestMatches(t *testing.T) {
	const bigCEL = `battle.rooms.exists(r, r.score >= 1000) && battle.durationMs >= 60000`
	all := livev1alpha1.BattleMatch{
		EndReasons:  []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp},
		Outcomes:    []livev1alpha1.Outcome{livev1alpha1.OutcomeWin},
		Rooms:       []livev1alpha1.RoomID{"live_room_3003"},
		MinTopScore: ptr.To[int64](4000),
		Expression:  bigCEL,
	}
	allBut := func(f func(*livev1alpha1.BattleMatch)) livev1alpha1.BattleMatch {
		m := *all.DeepCopy()
		f(&m)
		return m
	}
	cases := []struct {
		name  string
		match livev1alpha1.BattleMatch
		spec  *livev1alpha1.BattleResultSpec
		want  bool
	}{
		// An empty match.
		{"An empty match matches a completed battle with a winner.", livev1alpha1.BattleMatch{}, fourRooms(), true},
		{"An empty match matches a draw.", livev1alpha1.BattleMatch{}, drawBattle(), true},
		{"An empty match matches a battle that never started.", livev1alpha1.BattleMatch{}, neverStarted(), true},
		{"An empty match matches a battle with an unknown end reason.", livev1alpha1.BattleMatch{}, unknownReason(), true},
		{"An empty match matches a battle with only negative scores.", livev1alpha1.BattleMatch{}, negativeScores(), true},

		// endReasons alone.
		{"An end reason matches a battle that ended for it.",
			livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp}}, fourRooms(), true},
		{"End reasons that do not include the battle's do not match.",
			livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonAllHostsExited, livev1alpha1.EndReasonNeverStarted}}, fourRooms(), false},
		{"Any one of several end reasons matches.",
			livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonAllHostsExited, livev1alpha1.EndReasonNeverStarted}}, neverStarted(), true},
		{"The end reason Unknown matches a battle with an unknown OpType.",
			livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonUnknown}}, unknownReason(), true},
		{"The end reason Unknown does not match an abandoned battle.",
			livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonUnknown}}, abandoned(), false},

		// outcomes alone.
		{"The outcome Draw matches a draw.",
			livev1alpha1.BattleMatch{Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}}, drawBattle(), true},
		{"The outcome Draw does not match a battle with a winner.",
			livev1alpha1.BattleMatch{Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}}, fourRooms(), false},
		{"Any one of several outcomes matches.",
			livev1alpha1.BattleMatch{Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeWin, livev1alpha1.OutcomeNoContest}}, abandoned(), true},
		{"The outcome Win does not match a battle that never started.",
			livev1alpha1.BattleMatch{Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeWin}}, neverStarted(), false},

		// rooms alone.
		{"A room that took part matches.",
			livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"live_room_3003"}}, fourRooms(), true},
		{"One room of several that took part is enough.",
			livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"someone_else", "live_room_4004"}}, fourRooms(), true},
		{"Rooms none of which took part do not match.",
			livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"someone_else", "live_room_5005"}}, fourRooms(), false},
		{"Room IDs are compared exactly, case included.",
			livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"LIVE_ROOM_1001"}}, fourRooms(), false},
		{"A room ID that is a prefix of a room that took part does not match.",
			livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"live_room_100"}}, fourRooms(), false},

		// minTopScore alone.
		{"A top score equal to minTopScore matches.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](4100)}, fourRooms(), true},
		{"A top score one below minTopScore does not match.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](4101)}, fourRooms(), false},
		{"minTopScore looks at the highest score, not the caller's.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](1000)}, fourRooms(), true},
		{"minTopScore zero matches a battle whose top score is zero.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](0)}, neverStarted(), true},
		{"A negative top score meets a negative minTopScore equal to it.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](-20)}, negativeScores(), true},
		{"A negative top score meets a lower negative minTopScore.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](-1000)}, negativeScores(), true},
		{"A negative top score fails a negative minTopScore just above it.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](-19)}, negativeScores(), false},
		{"A negative top score fails minTopScore zero.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](0)}, negativeScores(), false},
		{"A battle without rooms has no top score and fails any minTopScore.",
			livev1alpha1.BattleMatch{MinTopScore: ptr.To[int64](-1000)}, with(negativeScores(), func(s *livev1alpha1.BattleResultSpec) { s.Rooms = nil }), false},

		// Every criterion together.
		{"A battle that meets every criterion matches.", all, fourRooms(), true},
		{"Every criterion but the end reason met is no match.",
			allBut(func(m *livev1alpha1.BattleMatch) {
				m.EndReasons = []livev1alpha1.EndReason{livev1alpha1.EndReasonAllHostsExited}
			}), fourRooms(), false},
		{"Every criterion but the outcome met is no match.",
			allBut(func(m *livev1alpha1.BattleMatch) { m.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw} }), fourRooms(), false},
		{"Every criterion but the rooms met is no match.",
			allBut(func(m *livev1alpha1.BattleMatch) { m.Rooms = []livev1alpha1.RoomID{"live_room_9009"} }), fourRooms(), false},
		{"Every criterion but minTopScore met is no match.",
			allBut(func(m *livev1alpha1.BattleMatch) { m.MinTopScore = ptr.To[int64](5000) }), fourRooms(), false},
		{"Every criterion but the expression met is no match.",
			all, with(fourRooms(), func(s *livev1alpha1.BattleResultSpec) { s.DurationMs = 59999 }), false},

		// CEL expressions.
		{"The documented expression matches a long battle with a score of at least 1000.",
			livev1alpha1.BattleMatch{Expression: bigCEL}, fourRooms(), true},
		{"The documented expression does not match a battle shorter than a minute.",
			livev1alpha1.BattleMatch{Expression: bigCEL}, with(fourRooms(), func(s *livev1alpha1.BattleResultSpec) { s.DurationMs = 59999 }), false},
		{"The documented expression does not match a battle whose scores are all below 1000.",
			livev1alpha1.BattleMatch{Expression: bigCEL}, drawBattle(), false},
		{"An empty winners list matches a draw.",
			livev1alpha1.BattleMatch{Expression: `battle.winners.size() == 0`}, drawBattle(), true},
		{"An absent winners list is an empty list in CEL.",
			livev1alpha1.BattleMatch{Expression: `battle.winners.size() == 0`}, abandoned(), true},
		{"A winners list with a winner is not empty.",
			livev1alpha1.BattleMatch{Expression: `battle.winners.size() == 0`}, fourRooms(), false},
		{"The winners hold the winning room's ID.",
			livev1alpha1.BattleMatch{Expression: `battle.winners == ['live_room_2002'] && battle.rooms.filter(r, r.result == 'Win').map(r, r.roomId) == battle.winners`}, fourRooms(), true},
		{"An end reason compared in CEL matches.",
			livev1alpha1.BattleMatch{Expression: `battle.endReason == 'TimeUp'`}, fourRooms(), true},
		{"An end reason compared in CEL does not match another reason.",
			livev1alpha1.BattleMatch{Expression: `battle.endReason == 'TimeUp'`}, neverStarted(), false},
		{"startsWith and endsWith work on a room ID.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.exists(r, r.roomId.startsWith('live_room_') && r.roomId.endsWith('3003'))`}, fourRooms(), true},
		{"contains works on every room ID.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.all(r, r.roomId.contains('_room_'))`}, fourRooms(), true},
		{"A regular expression and size work on a room ID.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.all(r, r.roomId.matches('^live_room_[0-9]{4}$') && size(r.roomId) == 14)`}, fourRooms(), true},
		{"String functions on room IDs that do not fit do not match.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.exists(r, r.roomId.startsWith('live_room_'))`}, drawBattle(), false},
		{"An Owner_Account sent as a large number is its exact digits as a string.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.exists(r, r.roomId == 'live_room_3003' && r.ownerAccount == '144115245353757792' && type(r.ownerAccount) == string)`}, fourRooms(), true},
		{"An Owner_Account compared with neighbouring digits does not match.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.exists(r, r.ownerAccount == '144115245353757790')`}, fourRooms(), false},
		{"The first room's Owner_Account is visible as a string.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms[0].ownerAccount == '144115245353757792'`},
			with(fourRooms(), func(s *livev1alpha1.BattleResultSpec) { s.Rooms[0], s.Rooms[2] = s.Rooms[2], s.Rooms[0] }), true},
		{"A battle without endedAt has an empty endedAt.",
			livev1alpha1.BattleMatch{Expression: `battle.endedAt == ''`}, neverStarted(), true},
		{"A battle with endedAt has it as an RFC 3339 string.",
			livev1alpha1.BattleMatch{Expression: `battle.endedAt == '2025-11-22T08:46:30Z'`}, fourRooms(), true},
		{"A battle with endedAt does not have an empty endedAt.",
			livev1alpha1.BattleMatch{Expression: `battle.endedAt == ''`}, fourRooms(), false},
		{"Absent optional fields are empty strings.",
			livev1alpha1.BattleMatch{Expression: `battle.clientIP == '' && battle.optPlatform == '' && battle.extraFields == '' && battle.rooms[0].extraFields == ''`}, neverStarted(), true},
		{"A room's extra fields are its JSON text.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.filter(r, r.extraFields != '').map(r, r.extraFields) == ['{"Level":7}']`}, fourRooms(), true},
		{"Integer fields are CEL ints, zero included.",
			livev1alpha1.BattleMatch{Expression: `type(battle.durationMs) == int && battle.opType == 0 && battle.rooms[0].rank == 3 && battle.roomCount == 4 && battle.eventTimeMs == 1763801190877`}, fourRooms(), true},
		{"Booleans are CEL bools.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms[0].caller && !battle.rooms[1].caller`}, fourRooms(), true},
		{"Negative scores compare as negative numbers in CEL.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.all(r, r.score < 0) && battle.rooms.exists(r, r.score == -20)`}, negativeScores(), true},
		{"The other fields are visible in CEL.",
			livev1alpha1.BattleMatch{Expression: `battle.battleId.endsWith('ID0=') && battle.sdkAppId == '1400188888' && battle.clientIP == '203.0.113.7' && battle.optPlatform == 'RESTAPI' && battle.createTime == 1763801000 && battle.startTime == 1763801010 && battle.endTime == 1763801190 && battle.outcome == 'Win'`}, fourRooms(), true},
		{"A quadratic expression over 100 rooms stays within the cost limit.",
			livev1alpha1.BattleMatch{Expression: `battle.rooms.all(a, battle.rooms.exists(b, b.score >= a.score))`}, hundredRooms(), true},
		{"Criteria that fail stop a runtime error of the expression.",
			livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp}, Expression: `battle.rooms[1].score >= 0`}, neverStarted(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(tc.match)
			if err != nil {
				t.Fatalf("Compile(%+v) failed: %v", tc.match, err)
			}
			spec := tc.spec.DeepCopy()
			got, err := m.Matches(tc.spec)
			if err != nil {
				t.Fatalf("Matches failed: %v", err)
			}
			if got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
			if diff := cmp.Diff(spec, tc.spec); diff != "" {
				t.Errorf("Matches changed the battle (-before +after):\n%s", diff)
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	cases := []struct {
		name, expression string
		why              string // part of the error a user reads in the Ready condition
	}{
		{"A syntax error is rejected.", `battle.rooms.exists(r, r.score >=`, "Syntax error"},
		{"An unbalanced quote is rejected.", `battle.endReason == 'TimeUp`, "Syntax error"},
		{"An arithmetic expression is not a bool.", `battle.durationMs + 1`, "gives int, not bool"},
		{"A string literal is not a bool.", `'TimeUp'`, "gives string, not bool"},
		{"A string field is not a bool.", `battle.endReason`, "gives string, not bool"},
		{"A list is not a bool.", `battle.rooms.map(r, r.score > 0)`, "not bool"},
		{"A misspelt field is rejected.", `battle.roomz.size() > 0`, "undefined field 'roomz'"},
		{"A misspelt field of a room is rejected.", `battle.rooms.exists(r, r.scroe >= 1000)`, "undefined field 'scroe'"},
		{"A misspelt field in a branch the sample battle does not take is rejected.", `true || battle.rooms[0].scroe > 0`, "undefined field 'scroe'"},
		{"A conditional whose branches are a bool and an int is rejected.", `battle.rooms[0].roomId != 'live_room_1001' ? true : battle.durationMs`, "no matching overload"},
		{"Comparing an int field with a string is rejected.", `battle.durationMs == '60000'`, "no matching overload"},
		{"A variable other than battle is rejected.", `result.outcome == 'Win'`, "undeclared reference to 'result'"},
		{"An unknown function is rejected.", `battle.rooms.frobnicate()`, "undeclared reference to 'frobnicate'"},
		{"An index beyond the 100 rooms a battle may have is rejected.", `battle.rooms[100].score > 0`, "index out of bounds"},
		{"A cubic expression over the sample battle's 100 rooms exceeds the cost limit.",
			`battle.rooms.all(a, battle.rooms.all(b, battle.rooms.all(c, a.score + b.score + c.score > -1)))`, "cost limit"},
		{"Comparing a string field with a number is rejected.", `battle.endReason > 5`, "no matching overload"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(livev1alpha1.BattleMatch{Expression: tc.expression})
			if !errors.Is(err, ErrInvalidExpression) {
				t.Fatalf("Compile(%q) = %v, want an ErrInvalidExpression", tc.expression, err)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("Compile(%q) = %q, want it to say %q", tc.expression, err, tc.why)
			}
			if m != nil {
				t.Errorf("Compile(%q) returned a matcher with its error", tc.expression)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	cases := []struct {
		name  string
		match livev1alpha1.BattleMatch
	}{
		{"An empty match compiles.", livev1alpha1.BattleMatch{}},
		{"Criteria without an expression compile.", livev1alpha1.BattleMatch{
			EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp}, Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeWin},
			Rooms: []livev1alpha1.RoomID{"a"}, MinTopScore: ptr.To[int64](-5)}},
		{"A constant true compiles.", livev1alpha1.BattleMatch{Expression: `true`}},
		{"An expression false on the sample battle compiles.", livev1alpha1.BattleMatch{Expression: `battle.outcome == 'Draw'`}},
		{"An index within the sample battle's two rooms compiles.", livev1alpha1.BattleMatch{Expression: `battle.rooms[1].score >= 0`}},
		{"An expression over endedAt as a timestamp compiles.", livev1alpha1.BattleMatch{Expression: `timestamp(battle.endedAt) > timestamp('2020-01-01T00:00:00Z')`}},
		{"A dynamic expression that gives a bool on the sample battle compiles.", livev1alpha1.BattleMatch{Expression: `battle.rooms[0].roomId != 'live_room_1001' ? true : dyn(battle.durationMs)`}},
		{"An index that fits a battle of more than two rooms compiles.", livev1alpha1.BattleMatch{Expression: `battle.rooms[2].score > 0`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(tc.match)
			if err != nil || m == nil {
				t.Fatalf("Compile(%+v) = %v, %v, want a matcher", tc.match, m, err)
			}
		})
	}
}

// TestMatchesErrors covers expressions that compile but fail on a particular battle.
func TestMatchesErrors(t *testing.T) {
	cases := []struct {
		name       string
		expression string
		fails      *livev1alpha1.BattleResultSpec
		passes     *livev1alpha1.BattleResultSpec
	}{
		{"An index beyond a one-room battle's rooms is an error on it.",
			`battle.rooms[1].score >= 0`, neverStarted(), fourRooms()},
		{"An index beyond a three-room battle's rooms is an error on it.",
			`battle.roomCount == 2 || battle.rooms[3].score >= 0`, drawBattle(), fourRooms()},
		{"A dynamic expression that gives an int on a battle is an error on it.",
			`battle.rooms[0].roomId != 'live_room_1001' ? true : dyn(battle.durationMs)`, fourRooms(), drawBattle()},
		{"Parsing the empty endedAt of a battle that never ended is an error on it.",
			`timestamp(battle.endedAt) > timestamp('2020-01-01T00:00:00Z')`, neverStarted(), fourRooms()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(livev1alpha1.BattleMatch{Expression: tc.expression})
			if err != nil {
				t.Fatalf("Compile(%q) failed: %v", tc.expression, err)
			}
			if got, err := m.Matches(tc.fails); err == nil || got {
				t.Errorf("Matches on %s = %v, %v, want false and an error", tc.fails.BattleID, got, err)
			}
			if got, err := m.Matches(tc.passes); err != nil || !got {
				t.Errorf("Matches on %s = %v, %v, want true", tc.passes.BattleID, got, err)
			}
		})
	}
}

func TestTopScore(t *testing.T) {
	cases := []struct {
		name   string
		scores []int64
		want   int64
	}{
		{"The top of positive scores is the highest.", []int64{300, 4100, 2750, 0}, 4100},
		{"The top of negative scores is the least negative.", []int64{-50, -20, -70}, -20},
		{"The top may be the first room's.", []int64{-1, -2}, -1},
		{"The top of a single score is that score.", []int64{-7}, -7},
		{"The top of no scores is zero.", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := &livev1alpha1.BattleResultSpec{}
			for _, s := range tc.scores {
				spec.Rooms = append(spec.Rooms, livev1alpha1.BattleRoom{Score: s})
			}
			if got := TopScore(spec); got != tc.want {
				t.Errorf("TopScore(%v) = %d, want %d", tc.scores, got, tc.want)
			}
		})
	}
}

// jsonFields lists the JSON names of a struct type's fields.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonValue is the battle as CEL saw it before battleValue: the spec's JSON decoded, integers
// as int64, absent fields as their zero values. battleValue must give the same, without JSON.
func jsonValue(t *testing.T, spec *livev1alpha1.BattleResultSpec) map[string]any {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	out := integers(v).(map[string]any)
	fillZeros(out, zerosOf(reflect.TypeFor[livev1alpha1.BattleResultSpec]()))
	rooms, _ := out["rooms"].([]any)
	for _, r := range rooms {
		fillZeros(r.(map[string]any), zerosOf(reflect.TypeFor[livev1alpha1.BattleRoom]()))
	}
	return out
}

// zerosOf is the zero value, as CEL sees it, of each field of a struct by JSON name.
func zerosOf(t reflect.Type) map[string]any {
	zeros := map[string]any{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch ft := f.Type; {
		case name == "" || name == "-":
		case ft.Kind() == reflect.String, ft == reflect.TypeFor[*metav1.Time]():
			zeros[name] = ""
		case ft.Kind() == reflect.Bool:
			zeros[name] = false
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Int64:
			zeros[name] = int64(0)
		case ft.Kind() == reflect.Slice:
			zeros[name] = []any{}
		}
	}
	return zeros
}

func fillZeros(v, zeros map[string]any) {
	for k, zero := range zeros {
		if v[k] == nil {
			v[k] = zero
		}
	}
}

// integers turns JSON numbers into int64 where they are integers, float64 otherwise.
func integers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = integers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = integers(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

func TestBattleValue(t *testing.T) {
	cases := []struct {
		name string
		spec *livev1alpha1.BattleResultSpec
	}{
		{"A battle with every field set has every field.", fourRooms()},
		{"A battle with only zero values and a zero room has every field.", &livev1alpha1.BattleResultSpec{Rooms: []livev1alpha1.BattleRoom{{}}}},
		{"A battle without rooms or winners has empty lists.", &livev1alpha1.BattleResultSpec{}},
		{"The sample battle that expressions are tried on has every field.", sampleBattle()},
		{"A draw has every field.", drawBattle()},
		{"A battle that never started has every field.", neverStarted()},
		{"A battle with negative scores has every field.", negativeScores()},
		{"A battle of 100 rooms has every field.", hundredRooms()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := battleValue(tc.spec)
			if diff := cmp.Diff(jsonFields(reflect.TypeFor[livev1alpha1.BattleResultSpec]()), keys(v)); diff != "" {
				t.Errorf("battle fields (-schema +value):\n%s", diff)
			}
			rooms, ok := v["rooms"].([]any)
			if !ok || len(rooms) != len(tc.spec.Rooms) {
				t.Fatalf("rooms = %#v, want %d rooms", v["rooms"], len(tc.spec.Rooms))
			}
			for i, r := range rooms {
				if diff := cmp.Diff(jsonFields(reflect.TypeFor[livev1alpha1.BattleRoom]()), keys(r.(map[string]any))); diff != "" {
					t.Errorf("room %d fields (-schema +value):\n%s", i, diff)
				}
			}
			// The value is what the spec's JSON gives, field for field and type for type.
			if diff := cmp.Diff(jsonValue(t, tc.spec), v); diff != "" {
				t.Errorf("battleValue is not the spec's JSON (-json +value):\n%s", diff)
			}
		})
	}
}

// TestBattleTypeDeclaresEveryField: every field of the value is declared in battleType with
// the CEL type of its value, so what type-checks is what evaluates.
func TestBattleTypeDeclaresEveryField(t *testing.T) {
	v := battleValue(fourRooms())
	room := v["rooms"].([]any)[0].(map[string]any)
	check := func(decl *apiservercel.DeclType, value map[string]any) {
		if len(decl.Fields) != len(value) {
			t.Errorf("%s declares %d fields, the value has %d", decl.TypeName(), len(decl.Fields), len(value))
		}
		for name, f := range decl.Fields {
			got := types.DefaultTypeAdapter.NativeToValue(value[name]).Type().TypeName()
			if want := f.Type.CelType().String(); !strings.HasPrefix(want, got) {
				t.Errorf("%s.%s is declared %s, its value is a %s", decl.TypeName(), name, want, got)
			}
		}
	}
	check(battleType, v)
	check(battleType.Fields["rooms"].Type.ElemType, room)
}

func TestBattleValueTypes(t *testing.T) {
	v := battleValue(fourRooms())
	room := v["rooms"].([]any)[2].(map[string]any)
	got := map[string]any{
		"durationMs":   v["durationMs"],
		"opType":       v["opType"],
		"eventTimeMs":  v["eventTimeMs"],
		"roomCount":    v["roomCount"],
		"endedAt":      v["endedAt"],
		"winners":      v["winners"],
		"score":        room["score"],
		"rank":         room["rank"],
		"ownerAccount": room["ownerAccount"],
		"caller":       room["caller"],
		"extraFields":  v["extraFields"],
	}
	want := map[string]any{
		"durationMs":   int64(180000),
		"opType":       int64(0),
		"eventTimeMs":  int64(1763801190877),
		"roomCount":    int64(4),
		"endedAt":      "2025-11-22T08:46:30Z",
		"winners":      []any{"live_room_2002"},
		"score":        int64(2750),
		"rank":         int64(2),
		"ownerAccount": bigAccount,
		"caller":       false,
		"extraFields":  "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BattleValue types (-want +got):\n%s", diff)
	}
	// The value is the spec's JSON: marshalled, it decodes back to the same spec.
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back livev1alpha1.BattleResultSpec
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fourRooms(), &back); diff != "" {
		t.Errorf("BattleValue is not the spec's JSON (-spec +value):\n%s", diff)
	}
}

// BenchmarkMatch is the cost of matching one battle with an expression: a simple one on a
// 4-room battle, the documented one on a 100-room battle.
func BenchmarkMatch(b *testing.B) {
	for _, bc := range []struct {
		name, expression string
		spec             *livev1alpha1.BattleResultSpec
	}{
		{"Simple4Rooms", `battle.endReason == 'TimeUp'`, fourRooms()},
		{"Documented4Rooms", `battle.rooms.exists(r, r.score >= 1000) && battle.durationMs >= 60000`, fourRooms()},
		{"Documented100Rooms", `battle.rooms.exists(r, r.score >= 1000) && battle.durationMs >= 60000`, hundredRooms()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := Compile(livev1alpha1.BattleMatch{Expression: bc.expression})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Matches(bc.spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
