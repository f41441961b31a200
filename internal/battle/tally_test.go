package battle

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// counts is a status without the record of pruned battles, as a user reads the numbers.
func counts(s v1.RoomStatsStatus) v1.RoomStatsStatus {
	s.Pruned = nil
	return s
}

func TestRoomTallyAgreesWithAFoldOfEverything(t *testing.T) {
	seed := uint64(20261201)
	r := rand.New(rand.NewPCG(seed, 1))
	for iter := range 300 {
		var (
			tally   = NewRoomTally(nil, nil)
			stored  []RoomBattle // what the API server holds
			base    v1.RoomStatsStatus
			pruned  int64
			nextEnd int64
			ids     int
		)
		for step := range 200 {
			switch op := r.IntN(10); {
			case op < 6: // a battle arrives, usually in end-time order, sometimes late
				ids++
				end := nextEnd
				if r.IntN(4) == 0 {
					end -= r.Int64N(40)
				}
				nextEnd += r.Int64N(3)
				b := randomBattles(r, 1)[0]
				b.BattleResult, b.BattleID, b.EndTime = fmt.Sprintf("br-%d", ids), fmt.Sprintf("b%05d", r.IntN(100000)), end
				stored = append(stored, b)
				tally.Add(b)
				if r.IntN(10) == 0 {
					tally.Add(b) // a repeated event
				}
			case op < 7 && len(stored) > 0: // deleted by hand: subtracted
				i := r.IntN(len(stored))
				tally.Remove(stored[i].BattleResult)
				stored = slices.Delete(stored, i, i+1)
			case op < 9 && len(stored) > 0: // retention folds the earliest battles, then deletes them
				slices.SortFunc(stored, func(a, b RoomBattle) int {
					if before(a, b) {
						return -1
					}
					if before(b, a) {
						return 1
					}
					return 0
				})
				k := 1 + r.IntN(len(stored))
				var names []string
				for _, b := range stored[:k] {
					names = append(names, b.BattleResult)
				}
				was := counts(tally.Status())
				tally.Fold(names)
				if r.IntN(3) == 0 {
					tally.Fold(names[:1+r.IntN(len(names))]) // repeated after a crash
				}
				if diff := cmp.Diff(was, counts(tally.Status())); diff != "" {
					t.Fatalf("seed %d iteration %d step %d: folding the %d earliest battles changed the statistics (-before +after):\n%s", seed, iter, step, k, diff)
				}
				base = Fold(base, stored[:k])
				pruned += int64(k)
				for _, name := range names {
					if r.IntN(2) == 0 {
						tally.Remove(name) // the deletion is seen
					}
				}
				stored = slices.Clone(stored[k:])
			default:
				continue
			}
			want := Fold(base, stored)
			got := tally.Status()
			if diff := cmp.Diff(want, counts(got)); diff != "" {
				t.Fatalf("seed %d iteration %d step %d: the tally differs from folding the pruned battles, then the stored ones (-fold +tally):\n%s", seed, iter, step, diff)
			}
			if pruned > 0 && (got.Pruned == nil || got.Pruned.BattleResults != pruned) {
				t.Fatalf("seed %d iteration %d step %d: pruned %v, want %d battle results", seed, iter, step, got.Pruned, pruned)
			}
			if tally.Stored() != len(stored) {
				t.Fatalf("seed %d iteration %d step %d: %d stored battles counted, want %d", seed, iter, step, tally.Stored(), len(stored))
			}
			// A new controller (a restart, a new leader) starts from what was stored and agrees.
			if step%25 == 0 {
				restarted := NewRoomTally(got.Pruned, append(slices.Clone(stored), battlesNamed(got.Pruned)...))
				if diff := cmp.Diff(got, restarted.Status()); diff != "" {
					t.Fatalf("seed %d iteration %d step %d: a tally rebuilt from the stored status and battles differs (-running +rebuilt):\n%s", seed, iter, step, diff)
				}
				// As the controller does it: the informer's events first, in any order, then
				// the base read from the RoomStats.
				fed := NewRoomTally(nil, nil)
				events := append(slices.Clone(stored), battlesNamed(got.Pruned)...)
				r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
				for _, b := range events {
					fed.Add(b)
				}
				fed.Rebase(got.Pruned)
				if diff := cmp.Diff(got, fed.Status()); diff != "" {
					t.Fatalf("seed %d iteration %d step %d: a tally fed by events, then based on the stored status, differs (-running +fed):\n%s", seed, iter, step, diff)
				}
			}
		}
	}
}

// battlesNamed stands for folded battles still stored when a controller restarts: they must be
// ignored, since the base already counts them.
func battlesNamed(p *v1.PrunedBattles) []RoomBattle {
	if p == nil {
		return nil
	}
	var out []RoomBattle
	for _, name := range p.Folded {
		b := winAt(name, 0, 1<<40)
		b.BattleResult = name
		out = append(out, b)
	}
	return out
}

func TestRoomTallyFoldedBattleIsNotCountedAgain(t *testing.T) {
	tally := NewRoomTally(nil, []RoomBattle{winAt("b1", 1, 10), winAt("b2", 2, 20)})
	tally.Fold([]string{"br-b1"})
	tally.Add(winAt("b1", 1, 10)) // redelivered before its deletion was seen
	got := tally.Status()
	if got.Wins != 2 || got.Battles != 2 || got.Pruned.BattleResults != 1 || !slices.Equal(got.Pruned.Folded, []string{"br-b1"}) {
		t.Fatalf("got %+v, pruned %+v; want 2 wins in 2 battles, 1 pruned, br-b1 folded", got, got.Pruned)
	}
	tally.Remove("br-b1") // the pruned battle's deletion: it stays counted
	got = tally.Status()
	if got.Wins != 2 || len(got.Pruned.Folded) != 0 {
		t.Fatalf("after the deletion got %d wins and folded %v; want 2 wins and nothing folded", got.Wins, got.Pruned.Folded)
	}
	tally.Remove("br-b2") // deleted by hand: subtracted
	if got = tally.Status(); got.Wins != 1 || got.CurrentWinStreak != 1 {
		t.Fatalf("after a deletion by hand got %d wins, streak %d; want 1 and 1", got.Wins, got.CurrentWinStreak)
	}
}

// BenchmarkRoomTallyAdd measures a new battle of a room with a long history: add it and read the
// statistics, as a reconcile does.
func BenchmarkRoomTallyAdd(b *testing.B) {
	for _, history := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			var stored []RoomBattle
			for i := range history {
				stored = append(stored, winAt(fmt.Sprintf("h%07d", i), int64(i), int64(i%100)))
			}
			tally := NewRoomTally(nil, stored)
			tally.Status()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				tally.Add(winAt(fmt.Sprintf("n%09d", i), int64(history+i), 5))
				tally.Status()
			}
		})
	}
}

func TestRoomTallyFarOutOfOrderBattleAddedTwiceCountsOnce(t *testing.T) {
	var stored []RoomBattle
	for i := range 2000 {
		stored = append(stored, winAt(fmt.Sprintf("h%05d", i), int64(100+i), 1))
	}
	tally := NewRoomTally(nil, stored)
	tally.Status()
	late := lossAt("late", 1, 1) // ended before every other battle: 2,000 places from the end
	tally.Add(late)
	tally.Add(late)
	tally.Add(winAt("h01999", 2099, 1)) // and a repeat of the latest
	want := Fold(v1.RoomStatsStatus{}, append(stored, late))
	if diff := cmp.Diff(want, tally.Status()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if tally.Stored() != 2001 {
		t.Fatalf("%d stored, want 2001", tally.Stored())
	}
}
