package battle

import (
	"slices"
	"sort"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// tailLength is how many of a room's latest battles (by end time) are folded again on each
// read of its statistics; everything before them is held folded in a checkpoint. A battle that
// arrives out of order lands in the tail almost always (deliveries are late by seconds, not
// by thousands of battles), so it costs a fold of the tail, not of the room's history.
const tailLength = 512

// RoomTally is the running statistics of one room: the battles retention folded into a base (kept
// in the RoomStats' status.pruned), the room's stored battles in end-time order, and a
// checkpoint of the fold of all but the latest of them. Reading the statistics after a new
// battle costs a fold of the tail, whatever the room's history. A RoomTally is not safe for
// concurrent use.
type RoomTally struct {
	// base is the fold of the pruned battles; pruned counts them.
	base   livev1alpha1.RoomStatsStatus
	pruned int64
	// folded names the pruned battles whose deletion was not seen yet: they count in base
	// only, never as stored battles.
	folded map[string]bool

	// battles are the stored battles not folded into base, in end-time order when sorted.
	battles []RoomBattle
	sorted  bool

	// checkpoint is Fold(base, battles[:checkpointN]) when checkpointOK.
	checkpoint   livev1alpha1.RoomStatsStatus
	checkpointN  int
	checkpointOK bool
}

// NewRoomTally is a room whose pruned battles are pruned (nil: none) and whose stored battles are
// stored. Battles that pruned.folded names are counted in the base only.
func NewRoomTally(pruned *livev1alpha1.PrunedBattles, stored []RoomBattle) *RoomTally {
	r := &RoomTally{}
	r.Rebase(pruned)
	r.battles = make([]RoomBattle, 0, len(stored))
	for _, b := range stored {
		r.Add(b)
	}
	return r
}

// Rebase replaces the base with pruned (nil: none), as a RoomStats records it, and keeps the
// stored battles, except those pruned.folded names: they count in the base only. A room's
// tally is fed by events from the start; its base is known once its RoomStats is read, and
// is reset when the RoomStats is deleted or replaced.
func (r *RoomTally) Rebase(pruned *livev1alpha1.PrunedBattles) {
	r.base, r.pruned, r.folded = livev1alpha1.RoomStatsStatus{}, 0, map[string]bool{}
	if pruned != nil {
		r.base = statusOfPruned(pruned)
		r.pruned = pruned.BattleResults
		for _, name := range pruned.Folded {
			r.folded[name] = true
		}
	}
	if len(r.folded) > 0 {
		r.battles = slices.DeleteFunc(r.battles, func(b RoomBattle) bool { return r.folded[b.BattleResult] })
	}
	r.checkpointOK = false
}

// Add counts a stored battle. A battle it already counts, or that is folded into the base, is
// ignored, so a repeated event changes nothing.
func (r *RoomTally) Add(b RoomBattle) {
	if r.folded[b.BattleResult] {
		return
	}
	b.EndReason, b.Result = intern(b.EndReason, endReasons...), intern(b.Result, roomResults...)
	n := len(r.battles)
	if !r.sorted && n > 0 {
		r.battles = append(r.battles, b) // repeats are dropped when sorted
		return
	}
	// Where it goes: almost always the end, or a few places before it.
	i := sort.Search(n, func(i int) bool { return before(b, r.battles[i]) })
	for j := i - 1; j >= 0 && !before(r.battles[j], b); j-- {
		if r.battles[j].BattleResult == b.BattleResult {
			return // counted already: the same BattleId, so the same place
		}
	}
	switch {
	case i == n:
		r.battles = append(r.battles, b)
	case n-i <= tailLength:
		r.battles = slices.Insert(r.battles, i, b)
	default:
		// Far out of order: sorted again, once, on the next read.
		r.battles = append(r.battles, b)
		r.sorted = false
	}
	r.sorted = r.sorted || n == 0
	if i < r.checkpointN {
		r.checkpointOK = false
	}
}

// Remove stops counting a battle that is no longer stored. A battle deleted by hand is
// subtracted (a scan of the room's battles: deletions by hand are rare); one folded into the
// base stays counted there, and is forgotten from folded.
func (r *RoomTally) Remove(name string) {
	if r.folded[name] {
		delete(r.folded, name)
		return
	}
	r.sort()
	i := slices.IndexFunc(r.battles, func(b RoomBattle) bool { return b.BattleResult == name })
	if i < 0 {
		return
	}
	r.battles = slices.Delete(r.battles, i, i+1)
	if i < r.checkpointN {
		r.checkpointOK = false
	}
}

// Fold moves the battles named into the base, for retention: their contribution stays in
// the statistics after they are deleted. Names already folded, or not counted, are skipped,
// so a fold repeated after a crash changes nothing. Retention folds a room's earliest
// battles first: they are found at the front, and the statistics do not change.
func (r *RoomTally) Fold(names []string) {
	take := map[string]bool{}
	for _, name := range names {
		if !r.folded[name] {
			take[name] = true
		}
	}
	if len(take) == 0 {
		return
	}
	r.sort()
	k := 0 // the battles to fold at the front
	for k < len(r.battles) && take[r.battles[k].BattleResult] {
		k++
	}
	moved := slices.Clone(r.battles[:k])
	kept := r.battles[k:]
	if k < len(take) { // some are elsewhere, or not counted: look through the rest
		kept = nil
		for _, b := range r.battles[k:] {
			if take[b.BattleResult] {
				moved = append(moved, b)
			} else {
				kept = append(kept, b)
			}
		}
		r.checkpointOK = false
	}
	if len(moved) == 0 {
		return
	}
	for _, b := range moved {
		r.folded[b.BattleResult] = true
	}
	r.base = foldSorted(r.base, moved)
	r.pruned += int64(len(moved))
	if r.checkpointOK && k == len(moved) && k <= r.checkpointN {
		r.checkpointN -= k // the checkpoint's state is the same fold
	} else {
		r.checkpointOK = false
	}
	if k == len(moved) {
		clear(r.battles[:k])
	}
	r.battles = kept
}

// Stored is how many stored battles the room counts; Pruned how many pruned ones.
func (r *RoomTally) Stored() int { return len(r.battles) }

// Pruned is how many battles of the room retention folded into the base.
func (r *RoomTally) Pruned() int64 { return r.pruned }

// Folded says whether the named battle is folded into the base.
func (r *RoomTally) Folded(name string) bool { return r.folded[name] }

// Status is the room's statistics: its pruned battles, then its stored ones, in end-time
// order. ObservedGeneration and Conditions are empty.
func (r *RoomTally) Status() livev1alpha1.RoomStatsStatus {
	r.sort()
	n := len(r.battles)
	if !r.checkpointOK {
		r.checkpointN = max(n-tailLength, 0)
		r.checkpoint = foldSorted(r.base, r.battles[:r.checkpointN])
		r.checkpointOK = true
	} else if n-r.checkpointN > 2*tailLength {
		end := n - tailLength
		r.checkpoint = foldSorted(r.checkpoint, r.battles[r.checkpointN:end])
		r.checkpointN = end
	}
	s := foldSorted(r.checkpoint, r.battles[r.checkpointN:])
	s.WinRate = WinRate(s.Wins, s.Completed)
	if r.pruned > 0 || len(r.folded) > 0 {
		s.Pruned = prunedOf(r.base, r.pruned, r.folded)
	}
	return s
}

func (r *RoomTally) sort() {
	if r.sorted {
		return
	}
	sort.SliceStable(r.battles, func(i, j int) bool { return before(r.battles[i], r.battles[j]) })
	// A battle added twice while unsorted sits next to itself now.
	r.battles = slices.CompactFunc(r.battles, func(a, b RoomBattle) bool { return a.BattleResult == b.BattleResult })
	r.sorted = true
	r.checkpointOK = false
}

// intern returns the package's constant equal to a decoded value, so a long-lived RoomBattle
// does not hold a copy of each string; a value that is none of them is returned as it is.
func intern[T ~string](v T, constants ...T) T {
	if i := slices.Index(constants, v); i >= 0 {
		return constants[i]
	}
	return v
}

var (
	endReasons = []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp, livev1alpha1.EndReasonAllHostsExited,
		livev1alpha1.EndReasonNeverStarted, livev1alpha1.EndReasonUnknown}
	roomResults = []livev1alpha1.RoomResult{livev1alpha1.RoomResultWin, livev1alpha1.RoomResultLoss,
		livev1alpha1.RoomResultDraw, livev1alpha1.RoomResultNoContest}
)

// statusOfPruned is the fold state that pruned records.
func statusOfPruned(p *livev1alpha1.PrunedBattles) livev1alpha1.RoomStatsStatus {
	return livev1alpha1.RoomStatsStatus{RoomCounts: *p.RoomCounts.DeepCopy()}
}

// prunedOf records the fold state s of count pruned battles, with the folded names sorted.
func prunedOf(s livev1alpha1.RoomStatsStatus, count int64, folded map[string]bool) *livev1alpha1.PrunedBattles {
	p := &livev1alpha1.PrunedBattles{BattleResults: count, RoomCounts: *s.RoomCounts.DeepCopy()}
	for name := range folded {
		p.Folded = append(p.Folded, name)
	}
	slices.Sort(p.Folded)
	return p
}
