package retention

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// battles are named by their position in the order: b0 ended first. ages are how long ago
// each arrived, in hours.
func battles(ages ...int) []Battle {
	out := make([]Battle, len(ages))
	for i, age := range ages {
		out[i] = Battle{Name: fmt.Sprintf("b%d", i), EndTime: int64(i), BattleID: fmt.Sprintf("id%d", i), Created: now.Add(-time.Duration(age) * time.Hour)}
	}
	return out
}

func TestPlan(t *testing.T) {
	none := func(string) bool { return false }
	tests := []struct {
		name     string
		battles  []Battle
		policy   Policy
		limit    int
		inFlight []string
		held     []string
		want     []string // name:reason, then the battle held back (name:held back)
	}{
		{
			name:    "Retention off and no cap prune nothing, however old.",
			battles: battles(100, 90, 80),
			limit:   10,
		},
		{
			name:    "Battles older than the retention go, in end-time order, up to the first younger one.",
			battles: battles(30, 26, 2, 40),
			policy:  Policy{MaxAge: 24 * time.Hour},
			limit:   10,
			want:    []string{"b0:age", "b1:age"},
		},
		{
			name:    "A battle that ended early but arrived late holds back every battle that ended after it.",
			battles: battles(1, 30, 30),
			policy:  Policy{MaxAge: 24 * time.Hour},
			limit:   10,
		},
		{
			name:    "A battle a reaction waits for is kept past its age, and so is every later one.",
			battles: battles(30, 30, 30),
			policy:  Policy{MaxAge: 24 * time.Hour},
			limit:   10,
			held:    []string{"b1"},
			want:    []string{"b0:age", "b1:held back"},
		},
		{
			name:    "A young battle stops the picks by age; a reaction waiting for it holds nothing back.",
			battles: battles(30, 2, 30),
			policy:  Policy{MaxAge: 24 * time.Hour},
			limit:   10,
			held:    []string{"b1", "b2"},
			want:    []string{"b0:age"},
		},
		{
			name:    "Past the cap the earliest go whatever their age, held or not; then age applies.",
			battles: battles(1, 1, 30, 1),
			policy:  Policy{MaxAge: 24 * time.Hour, MaxCount: 2},
			limit:   10,
			held:    []string{"b0"},
			want:    []string{"b0:count", "b1:count", "b2:age"},
		},
		{
			name:    "The cap alone prunes exactly the excess.",
			battles: battles(1, 1, 1, 1, 1),
			policy:  Policy{MaxCount: 3},
			limit:   10,
			want:    []string{"b0:count", "b1:count"},
		},
		{
			name:    "The limit paces: at most limit battles a round.",
			battles: battles(30, 30, 30, 30),
			policy:  Policy{MaxAge: time.Hour},
			limit:   2,
			want:    []string{"b0:age", "b1:age"},
		},
		{
			name:     "Battles being pruned already are skipped, not picked again, and do not stop the prefix.",
			battles:  battles(30, 30, 30),
			policy:   Policy{MaxAge: time.Hour},
			limit:    1,
			inFlight: []string{"b0", "b1"},
			want:     []string{"b2:age"},
		},
		{
			name:    "A battle exactly as old as the retention is kept.",
			battles: battles(24),
			policy:  Policy{MaxAge: 24 * time.Hour},
			limit:   10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inFlight := none
			if tt.inFlight != nil {
				inFlight = func(n string) bool { return slices.Contains(tt.inFlight, n) }
			}
			picks, heldBack := Plan(tt.battles, now, tt.policy, tt.limit, inFlight, func(b *Battle) bool { return slices.Contains(tt.held, b.Name) })
			var got []string
			for _, p := range picks {
				got = append(got, p.Battle.Name+":"+string(p.Reason))
			}
			if heldBack != nil {
				got = append(got, heldBack.Name+":held back")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOrderedKeepsTheStatisticsOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	var o Ordered
	var all []Battle
	for i := range 5000 {
		end := int64(i / 10)
		if r.IntN(200) == 0 {
			end -= int64(r.IntN(1000)) // a late delivery
		}
		b := Battle{Name: fmt.Sprintf("n%d", i), EndTime: end, BattleID: fmt.Sprintf("%x", r.Uint32())}
		o.Add(b)
		o.Add(b) // repeated events are ignored
		all = append(all, b)
		if r.IntN(20) == 0 { // retention removes the earliest; a person deletes any
			got := o.Battles()
			first, victim := got[0].Name, got[r.IntN(len(got))].Name
			o.Remove(first)
			o.Remove(victim)
			all = slices.DeleteFunc(all, func(x Battle) bool { return x.Name == first || x.Name == victim })
		}
	}
	want := slices.Clone(all)
	slices.SortStableFunc(want, func(a, b Battle) int {
		if before(&a, &b) {
			return -1
		}
		if before(&b, &a) {
			return 1
		}
		return 0
	})
	if diff := cmp.Diff(want, o.Battles()); diff != "" {
		t.Fatalf("Ordered (-sorted +kept):\n%s", diff)
	}
}

func TestPolicyString(t *testing.T) {
	for _, tt := range []struct {
		policy Policy
		want   string
	}{
		{Policy{}, ""},
		{Policy{MaxAge: 24 * time.Hour}, "BattleResults are pruned 24h after they arrive"},
		{Policy{MaxAge: 90 * time.Minute, MaxCount: 100000}, "BattleResults are pruned 1h30m after they arrive or past 100000 in a namespace"},
		{Policy{MaxAge: 3 * time.Second}, "BattleResults are pruned 3s after they arrive"},
		{Policy{MaxCount: 20}, "BattleResults are pruned past 20 in a namespace"},
	} {
		if got := tt.policy.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.policy, got, tt.want)
		}
	}
}
