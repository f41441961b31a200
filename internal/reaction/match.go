// Package reaction holds the pure decisions of BattleReactions: does a battle match, which
// Jobs it gets and how they look, which finished Jobs to prune. The controller gathers the
// world, these functions decide, the controller acts.
package reaction

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// celCostLimit bounds the work one evaluation may do, so a costly expression cannot stall the
// controller. It allows, e.g., comparisons over all 100 rooms of a battle many times over.
const celCostLimit = 1_000_000

// celEnv declares the variable `battle`: a BattleResult's spec, as its JSON.
var celEnv = func() *cel.Env {
	env, err := cel.NewEnv(cel.Variable("battle", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		panic(err)
	}
	return env
}()

// ErrInvalidExpression wraps every reason an expression cannot be used.
var ErrInvalidExpression = errors.New("invalid expression")

// Matcher decides whether a battle matches a reaction's criteria.
type Matcher struct {
	match   livev1alpha1.BattleMatch
	program cel.Program
}

// Compile checks the criteria once, so matching a battle is cheap. An expression that does not
// parse, does not type-check to a bool, or fails on a complete sample battle (a misspelt field
// such as `battle.roomz`) is an ErrInvalidExpression.
func Compile(match livev1alpha1.BattleMatch) (*Matcher, error) {
	m := &Matcher{match: match}
	if match.Expression == "" {
		return m, nil
	}
	ast, iss := celEnv.Compile(match.Expression)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidExpression, iss.Err())
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, fmt.Errorf("%w: it gives %s, not bool", ErrInvalidExpression, t)
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(celCostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidExpression, err)
	}
	m.program = prg
	if _, err := m.eval(sampleBattle()); err != nil {
		return nil, fmt.Errorf("%w: on a sample battle: %v", ErrInvalidExpression, err)
	}
	return m, nil
}

// Matches says whether the battle meets every criterion. An error means the expression failed
// on this battle (for instance a runtime error); the battle then does not match.
func (m *Matcher) Matches(spec *livev1alpha1.BattleResultSpec) (bool, error) {
	if len(m.match.EndReasons) > 0 && !slices.Contains(m.match.EndReasons, spec.EndReason) {
		return false, nil
	}
	if len(m.match.Outcomes) > 0 && !slices.Contains(m.match.Outcomes, spec.Outcome) {
		return false, nil
	}
	if len(m.match.Rooms) > 0 && !slices.ContainsFunc(spec.Rooms, func(r livev1alpha1.BattleRoom) bool {
		return slices.Contains(m.match.Rooms, r.RoomID)
	}) {
		return false, nil
	}
	if m.match.MinTopScore != nil && (len(spec.Rooms) == 0 || TopScore(spec) < *m.match.MinTopScore) {
		return false, nil
	}
	if m.program == nil {
		return true, nil
	}
	return m.eval(spec)
}

func (m *Matcher) eval(spec *livev1alpha1.BattleResultSpec) (bool, error) {
	battle, err := BattleValue(spec)
	if err != nil {
		return false, err
	}
	out, _, err := m.program.Eval(map[string]any{"battle": battle})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the expression gave %v, not a bool", out.Value())
	}
	return b, nil
}

// TopScore is the highest score of the battle's rooms.
func TopScore(spec *livev1alpha1.BattleResultSpec) int64 {
	var top int64
	for i, r := range spec.Rooms {
		if i == 0 || r.Score > top {
			top = r.Score
		}
	}
	return top
}

// BattleValue is the battle as CEL sees it: the spec's JSON, integers as int, every field of
// the schema present (zero values included), so `battle.endTime` works on every battle.
func BattleValue(spec *livev1alpha1.BattleResultSpec) (map[string]any, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	out := integers(v).(map[string]any)
	fillZeros(out, battleZeros)
	rooms, _ := out["rooms"].([]any)
	for _, r := range rooms {
		if room, ok := r.(map[string]any); ok {
			fillZeros(room, roomZeros)
		}
	}
	return out, nil
}

// battleZeros and roomZeros are the zero value, as CEL sees it, of each field of a battle and
// of a room, by JSON name: what a field omitted from the JSON (omitempty) reads as.
var (
	battleZeros = zerosOf(reflect.TypeFor[livev1alpha1.BattleResultSpec]())
	roomZeros   = zerosOf(reflect.TypeFor[livev1alpha1.BattleRoom]())
)

func zerosOf(t reflect.Type) map[string]any {
	zeros := map[string]any{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch ft := f.Type; {
		case ft.Kind() == reflect.String, ft == reflect.TypeFor[*metav1.Time]():
			zeros[name] = "" // a time is an RFC 3339 string; absent, empty
		case ft.Kind() == reflect.Bool:
			zeros[name] = false
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Int64, ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Int64:
			zeros[name] = int64(0)
		case ft.Kind() == reflect.Slice:
			zeros[name] = []any{}
		}
	}
	return zeros
}

// fillZeros adds to v every field of zeros it lacks (or holds as null).
func fillZeros(v map[string]any, zeros map[string]any) {
	for k, zero := range zeros {
		if v[k] == nil {
			if z, ok := zero.([]any); ok {
				zero = append([]any{}, z...) // each battle its own
			}
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

// sampleBattle has every field of a BattleResult's spec set, and 100 rooms, to try an
// expression on. It catches misspelt fields in the branches the sample takes; a misspelling
// in a branch it skips (after a true `||`) shows only on a battle that takes it.
func sampleBattle() *livev1alpha1.BattleResultSpec {
	ended := metav1.Unix(1700000300, 0)
	b := &livev1alpha1.BattleResultSpec{
		BattleID: "sample", SDKAppID: "1400000000", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI",
		OpType: 0, EndReason: livev1alpha1.EndReasonTimeUp, DurationMs: 300000,
		CreateTime: 1700000000, StartTime: 1700000000, EndTime: 1700000300, EndedAt: &ended,
		EventTimeMs: 1700000300000, RoomCount: 100, Outcome: livev1alpha1.OutcomeWin, ExtraFields: "{}",
	}
	// As many rooms as a battle may have, so `battle.rooms[5]` is not mistaken for an error.
	for i := range 100 {
		room := livev1alpha1.BattleRoom{RoomID: livev1alpha1.RoomID(fmt.Sprint("room-", i)), Score: int64(100 - i),
			OwnerAccount: fmt.Sprint(i), Result: livev1alpha1.RoomResultLoss, Rank: int32(i + 1), ExtraFields: "{}"}
		if i == 0 {
			room.Caller, room.Result = true, livev1alpha1.RoomResultWin
		}
		b.Rooms = append(b.Rooms, room)
	}
	b.Winners = []livev1alpha1.RoomID{b.Rooms[0].RoomID}
	return b
}
