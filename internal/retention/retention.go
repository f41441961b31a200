// Package retention decides which BattleResults to delete, and in which order, so that what
// the deleted battles contributed can be folded into their rooms' statistics first without
// changing them. It is pure: the controller feeds it the namespace's battles and acts on its
// answer.
package retention

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Battle is what retention knows of a stored BattleResult.
type Battle struct {
	Name     string
	EndTime  int64
	BattleID string
	Created  time.Time
}

// before is the statistics' order: end time, then BattleId (then name, for a total order).
func before(a, b *Battle) bool {
	if a.EndTime != b.EndTime {
		return a.EndTime < b.EndTime
	}
	if a.BattleID != b.BattleID {
		return a.BattleID < b.BattleID
	}
	return a.Name < b.Name
}

// Ordered is a namespace's stored battles in the statistics' order, kept up to date from
// BattleResult events. Adding a new battle costs about nothing (it goes at or near the end);
// removing the earliest ones, as retention does, too. Not safe for concurrent use.
type Ordered struct {
	battles []Battle
	names   map[string]bool
	sorted  bool
}

// Add records a stored battle; a name already recorded is ignored.
func (o *Ordered) Add(b Battle) {
	if o.names == nil {
		o.names = map[string]bool{}
	}
	if o.names[b.Name] {
		return
	}
	o.names[b.Name] = true
	n := len(o.battles)
	if n == 0 {
		o.sorted = true
	}
	if !o.sorted || n == 0 || !before(&b, &o.battles[n-1]) {
		o.battles = append(o.battles, b)
		return
	}
	// Out of order, almost always by a few places (battles ending in the same second).
	i := sort.Search(n, func(i int) bool { return before(&b, &o.battles[i]) })
	if n-i > nearEnd {
		o.battles = append(o.battles, b)
		o.sorted = false // sorted again on the next read, once
		return
	}
	o.battles = slices.Insert(o.battles, i, b)
}

// nearEnd is how far from the end a battle may go by insertion; further, the battles are
// sorted again on the next read.
const nearEnd = 512

// Remove forgets a battle that is no longer stored. Retention removes the earliest battles,
// which are found at once; a battle deleted by hand costs a scan.
func (o *Ordered) Remove(name string) {
	if !o.names[name] {
		return
	}
	delete(o.names, name)
	for i := range o.battles {
		if o.battles[i].Name == name {
			if i == 0 {
				o.battles[0] = Battle{}
				o.battles = o.battles[1:]
			} else {
				o.battles = append(o.battles[:i], o.battles[i+1:]...)
			}
			return
		}
	}
}

// Has says whether the named battle is stored.
func (o *Ordered) Has(name string) bool { return o.names[name] }

// Battles are the stored battles in the statistics' order. The slice is the Ordered's own:
// read it before the next Add or Remove.
func (o *Ordered) Battles() []Battle {
	if !o.sorted {
		sort.SliceStable(o.battles, func(i, j int) bool { return before(&o.battles[i], &o.battles[j]) })
		o.sorted = true
	}
	return o.battles
}

// Reason is why a battle is pruned.
type Reason string

const (
	// Age means it arrived longer ago than the retention.
	Age Reason = "age"
	// Count means its namespace holds more battles than the cap.
	Count Reason = "count"
)

// Policy is what the user set: MaxAge (--battle-retention) and MaxCount
// (--max-battle-results); zero turns either off.
type Policy struct {
	MaxAge   time.Duration
	MaxCount int
}

// String says what the policy prunes, for people: "BattleResults are pruned 24h after they
// arrive or past 100000 in a namespace"; "" when it prunes nothing.
func (p Policy) String() string {
	var parts []string
	if p.MaxAge > 0 {
		age := p.MaxAge.String() // 24h0m0s: say 24h
		if strings.HasSuffix(age, "m0s") {
			age = strings.TrimSuffix(age, "0s")
		}
		if strings.HasSuffix(age, "h0m") {
			age = strings.TrimSuffix(age, "0m")
		}
		parts = append(parts, age+" after they arrive")
	}
	if p.MaxCount > 0 {
		parts = append(parts, fmt.Sprintf("past %d in a namespace", p.MaxCount))
	}
	if len(parts) == 0 {
		return ""
	}
	return "BattleResults are pruned " + strings.Join(parts, " or ")
}

// Pick is a battle to prune and why.
type Pick struct {
	Battle *Battle
	Reason Reason
}

// Plan picks at most limit battles to prune now, from a namespace's battles in the
// statistics' order. It only ever picks a prefix of that order (skipping the battles being
// pruned already, which are at its front), so every room loses its earliest battles first and
// folding them into the room's pruned totals changes none of its numbers:
//   - while the namespace holds more than MaxCount battles, the earliest go, whatever their
//     age and even when held (the caller warns about those);
//   - then battles that arrived more than MaxAge before now go, up to the first one that is
//     younger or held (a battle a reaction still waits for): it and every later battle wait.
//
// A battle that arrives long after it ended (a late delivery) is early in the order and young:
// it holds back the battles that ended after it until it is old enough itself.
//
// heldBack is the battle past its age that a reaction waits for, when one stopped the picks.
func Plan(battles []Battle, now time.Time, p Policy, limit int, inFlight func(name string) bool, held func(*Battle) bool) (picks []Pick, heldBack *Battle) {
	excess := 0
	if p.MaxCount > 0 {
		excess = len(battles) - p.MaxCount
	}
	for i := range battles {
		if len(picks) >= limit {
			break
		}
		b := &battles[i]
		if inFlight(b.Name) {
			continue
		}
		switch {
		case i < excess:
			picks = append(picks, Pick{Battle: b, Reason: Count})
		case p.MaxAge <= 0 || now.Sub(b.Created) <= p.MaxAge:
			return picks, nil
		case held(b):
			return picks, b
		default:
			picks = append(picks, Pick{Battle: b, Reason: Age})
		}
	}
	return picks, nil
}
