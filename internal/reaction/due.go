package reaction

import (
	"iter"
	"sort"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Selection is what a reaction should do with the battles of its namespace.
type Selection struct {
	// Due are the battles to run Jobs for, in arrival order: they arrived in the reaction's
	// window, are not recorded as fired, match, and get at least one run.
	Due []*livev1alpha1.BattleResult
	// Last is the latest battle (by arrival) the reaction is recorded as having fired for.
	Last *livev1alpha1.FiredBattle
	// Failed are the battles the expression failed on (they do not match), with the error.
	Failed map[*livev1alpha1.BattleResult]error
}

// Select decides which battles a reaction fires for, from every battle of its namespace: the
// scan that builds a reaction's Pending index. It is Examine over all of them, every
// expression evaluated. The battles are read, never changed.
func Select(rx *livev1alpha1.BattleReaction, m *Matcher, battles iter.Seq[*livev1alpha1.BattleResult]) Selection {
	var s Selection
	for br := range battles {
		s.examine(rx, m, br, nil)
	}
	s.sort()
	return s
}

// Examine is Select for the few battles a reaction's Pending index holds, instead of every
// battle of its namespace: battles are the ones still in the cache, known says whether a
// battle is already known to match (its expression is not evaluated again). Besides the
// selection it returns the battles the reaction is done with, to Settle: recorded by it, being
// deleted, outside its window, not matching (the expression failed included), or getting no
// run. The battles are read, never changed.
func Examine(rx *livev1alpha1.BattleReaction, m *Matcher, battles []*livev1alpha1.BattleResult, known func(name string) bool) (s Selection, settled []string) {
	for _, br := range battles {
		if s.examine(rx, m, br, known) {
			settled = append(settled, br.Name)
		}
	}
	s.sort()
	return s, settled
}

// examine adds br to the selection when it is due, and says whether the reaction is done with it.
func (s *Selection) examine(rx *livev1alpha1.BattleReaction, m *Matcher, br *livev1alpha1.BattleResult, known func(name string) bool) (settled bool) {
	if Recorded(br, rx.Name, string(rx.UID)) {
		s.Last = LaterFired(s.Last, FiredFor(rx, br))
		return true
	}
	if br.DeletionTimestamp != nil || !CountsFrom(WindowStart(rx), br.CreationTimestamp) {
		return true
	}
	ok := known != nil && known(br.Name)
	if !ok {
		var err error
		if ok, err = m.Matches(&br.Spec); err != nil {
			if s.Failed == nil {
				s.Failed = map[*livev1alpha1.BattleResult]error{}
			}
			s.Failed[br] = err
			ok = false
		}
	}
	if !ok || len(Runs(rx.Spec.RunFor, &br.Spec)) == 0 {
		return true
	}
	s.Due = append(s.Due, br)
	return false
}

func (s *Selection) sort() {
	sort.Slice(s.Due, func(i, j int) bool { return arrivedBefore(s.Due[i], s.Due[j]) })
}

// arrivedBefore orders battles by arrival: creation time, then name.
func arrivedBefore(a, b *livev1alpha1.BattleResult) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// LaterFired is the later (by arrival) of two battles fired for; either may be nil.
func LaterFired(a, b *livev1alpha1.FiredBattle) *livev1alpha1.FiredBattle {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.Time.Before(&a.Time) || (b.Time.Equal(&a.Time) && b.BattleResult < a.BattleResult):
		return a
	}
	return b
}

// FiredFor is the reaction's firing for br: the battle, and the name of its (first) Job.
func FiredFor(rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult) *livev1alpha1.FiredBattle {
	var job string
	if runs := Runs(rx.Spec.RunFor, &br.Spec); len(runs) > 0 {
		job = JobName(rx.Name, br.Name, runs[0].Room)
	}
	return &livev1alpha1.FiredBattle{BattleResult: br.Name, BattleID: br.Spec.BattleID, Job: job, Time: br.CreationTimestamp}
}
