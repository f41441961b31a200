// Package reaction holds the pure decisions of BattleReactions: does a battle match, which
// Jobs it gets and how they look, which finished Jobs to prune. The controller gathers the
// world, these functions decide, the controller acts.
package reaction

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiservercel "k8s.io/apiserver/pkg/cel"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// celCostLimit bounds the work one evaluation may do, so a costly expression cannot stall the
// controller. It allows, e.g., comparisons over all 100 rooms of a battle many times over.
const celCostLimit = 1_000_000

// battleType is the CEL type of the variable `battle`: an object with the fields of a
// BattleResult's spec, by their JSON names and of their schema's types (an endedAt is its RFC
// 3339 string, as in the schema). Expressions are type-checked against it, as the API server
// checks a CRD's validation rules against the CRD's schema: a misspelt field, or a string
// compared with a number, is refused when the expression is compiled, on every branch.
var battleType = declType(reflect.TypeFor[livev1alpha1.BattleResultSpec](), "BattleResultSpec")

// celEnv declares `battle`, of battleType.
var celEnv = func() *cel.Env {
	base, err := cel.NewEnv()
	if err != nil {
		panic(err)
	}
	opts, err := apiservercel.NewDeclTypeProvider(battleType).EnvOptions(base.CELTypeProvider())
	if err != nil {
		panic(err)
	}
	env, err := base.Extend(append(opts, cel.Variable("battle", battleType.CelType()))...)
	if err != nil {
		panic(err)
	}
	return env
}()

// declType is the CEL object type of a struct of the API: a field for each JSON name, typed
// by its Go kind. It panics on a kind it does not know, so a new kind of field in the API
// fails every test rather than being invisible to expressions.
func declType(t reflect.Type, name string) *apiservercel.DeclType {
	fields := map[string]*apiservercel.DeclField{}
	for f := range t.Fields() {
		jsonName, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if jsonName == "" || jsonName == "-" {
			continue
		}
		fields[jsonName] = apiservercel.NewDeclField(jsonName, fieldType(f.Type, name+"."+jsonName), true, nil, nil)
	}
	return apiservercel.NewObjectType(name, fields)
}

func fieldType(t reflect.Type, name string) *apiservercel.DeclType {
	switch {
	case t == reflect.TypeFor[*metav1.Time](), t.Kind() == reflect.String:
		return apiservercel.StringType
	case t.Kind() == reflect.Bool:
		return apiservercel.BoolType
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return apiservercel.IntType
	case t.Kind() == reflect.Struct:
		return declType(t, name)
	case t.Kind() == reflect.Slice:
		return apiservercel.NewListType(fieldType(t.Elem(), name+".@idx"), -1)
	}
	panic(fmt.Sprintf("the battle field %s is a %s, which has no CEL type here", name, t))
}

// ErrInvalidExpression wraps every reason an expression cannot be used.
var ErrInvalidExpression = errors.New("invalid expression")

// Matcher decides whether a battle matches a reaction's criteria.
type Matcher struct {
	match   livev1alpha1.BattleMatch
	program cel.Program
}

// Compile checks the criteria once, so matching a battle is cheap. An expression that does not
// parse, does not type-check against battleType to a bool, or fails on a complete sample
// battle (an index beyond 100 rooms, a cost beyond the limit) is an ErrInvalidExpression.
// Expressions are compiled once per process (compiledExpressions), not at every reconcile.
func Compile(match livev1alpha1.BattleMatch) (*Matcher, error) {
	m := &Matcher{match: match}
	if match.Expression == "" {
		return m, nil
	}
	prg, err := compiled.get(match.Expression, compileExpression)
	if err != nil {
		return nil, err
	}
	m.program = prg
	return m, nil
}

// compileExpression compiles an expression into a program and tries it on the sample battle.
func compileExpression(expression string) (cel.Program, error) {
	ast, iss := celEnv.Compile(expression)
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
	if _, err := evalProgram(prg, sampleBattle()); err != nil {
		return nil, fmt.Errorf("%w: on a sample battle: %v", ErrInvalidExpression, err)
	}
	return prg, nil
}

// Matches says whether the battle meets every criterion. An error means the expression failed
// on this battle (for instance a runtime error); the battle then does not match.
func (m *Matcher) Matches(spec *livev1alpha1.BattleResultSpec) (bool, error) {
	if RuledOut(m.match, spec) {
		return false, nil
	}
	if m.program == nil {
		return true, nil
	}
	return m.eval(spec)
}

// RuledOut says whether the criteria besides the expression (end reasons, outcomes, rooms,
// the top score) rule the battle out: a check of a few fields, whatever the expression costs.
func RuledOut(match livev1alpha1.BattleMatch, spec *livev1alpha1.BattleResultSpec) bool {
	switch {
	case len(match.EndReasons) > 0 && !slices.Contains(match.EndReasons, spec.EndReason):
		return true
	case len(match.Outcomes) > 0 && !slices.Contains(match.Outcomes, spec.Outcome):
		return true
	case len(match.Rooms) > 0 && !slices.ContainsFunc(spec.Rooms, func(r livev1alpha1.BattleRoom) bool {
		return slices.Contains(match.Rooms, r.RoomID)
	}):
		return true
	case match.MinTopScore != nil && (len(spec.Rooms) == 0 || TopScore(spec) < *match.MinTopScore):
		return true
	}
	return false
}

func (m *Matcher) eval(spec *livev1alpha1.BattleResultSpec) (bool, error) {
	return evalProgram(m.program, spec)
}

func evalProgram(prg cel.Program, spec *livev1alpha1.BattleResultSpec) (bool, error) {
	out, _, err := prg.Eval(map[string]any{"battle": battleValue(spec)})
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

// battleValue is the battle as CEL sees it, built straight from the spec: every field of
// battleType by its JSON name, an absent one as its zero value (so `battle.endedAt` works on
// every battle), integers as int64, endedAt as its RFC 3339 string ("" when absent).
func battleValue(s *livev1alpha1.BattleResultSpec) map[string]any {
	rooms := make([]any, len(s.Rooms))
	for i := range s.Rooms {
		rooms[i] = roomValue(&s.Rooms[i])
	}
	winners := make([]any, len(s.Winners))
	for i, w := range s.Winners {
		winners[i] = string(w)
	}
	endedAt := ""
	if s.EndedAt != nil {
		endedAt = s.EndedAt.UTC().Format(time.RFC3339)
	}
	return map[string]any{
		"battleId":    s.BattleID,
		"sdkAppId":    s.SDKAppID,
		"clientIP":    s.ClientIP,
		"optPlatform": s.OptPlatform,
		"opType":      s.OpType,
		"endReason":   string(s.EndReason),
		"durationMs":  s.DurationMs,
		"createTime":  s.CreateTime,
		"startTime":   s.StartTime,
		"endTime":     s.EndTime,
		"endedAt":     endedAt,
		"eventTimeMs": s.EventTimeMs,
		"rooms":       rooms,
		"roomCount":   int64(s.RoomCount),
		"outcome":     string(s.Outcome),
		"winners":     winners,
		"extraFields": s.ExtraFields,
	}
}

func roomValue(r *livev1alpha1.BattleRoom) map[string]any {
	return map[string]any{
		"roomId":       string(r.RoomID),
		"score":        r.Score,
		"ownerAccount": r.OwnerAccount,
		"caller":       r.Caller,
		"result":       string(r.Result),
		"rank":         int64(r.Rank),
		"extraFields":  r.ExtraFields,
	}
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
