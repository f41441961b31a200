package reaction

import (
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

var selectEpoch = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// storedBattle is a battle stored at selectEpoch+sec under name, with the given spec.
func storedBattle(name string, sec int, spec *livev1alpha1.BattleResultSpec, records ...livev1alpha1.ReactionRecord) livev1alpha1.BattleResult {
	return livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "growth", CreationTimestamp: metav1.NewTime(selectEpoch.Add(time.Duration(sec) * time.Second))},
		Spec:       *spec,
		Status:     livev1alpha1.BattleResultStatus{Reactions: records},
	}
}

func selectReaction(runFor livev1alpha1.RunFor, expression string) (*livev1alpha1.BattleReaction, *Matcher) {
	rx := &livev1alpha1.BattleReaction{
		ObjectMeta: metav1.ObjectMeta{Name: "rx", Namespace: "growth", UID: "uid-now", CreationTimestamp: metav1.NewTime(selectEpoch)},
		Spec:       livev1alpha1.BattleReactionSpec{RunFor: runFor, Match: livev1alpha1.BattleMatch{Expression: expression}},
	}
	m, err := Compile(rx.Spec.Match)
	if err != nil {
		panic(err)
	}
	return rx, m
}

func battleNames(brs []*livev1alpha1.BattleResult) []string {
	var out []string
	for _, br := range brs {
		out = append(out, br.Name)
	}
	return out
}

func TestSelect(t *testing.T) {
	mine := func(sec int) livev1alpha1.ReactionRecord {
		return livev1alpha1.ReactionRecord{Reaction: "rx", UID: "uid-now", Jobs: 1, FiredAt: metav1.NewTime(selectEpoch.Add(time.Duration(sec) * time.Second))}
	}
	oldIncarnation := livev1alpha1.ReactionRecord{Reaction: "rx", UID: "uid-before", Jobs: 1}
	other := livev1alpha1.ReactionRecord{Reaction: "other", UID: "uid-now", Jobs: 1}
	deleting := storedBattle("br-deleting", 5, fourRooms())
	deleting.DeletionTimestamp = &metav1.Time{Time: selectEpoch.Add(time.Hour)}
	battles := []livev1alpha1.BattleResult{
		storedBattle("br-c", 9, fourRooms()),
		storedBattle("br-recorded-late", 7, fourRooms(), mine(8)),
		storedBattle("br-recorded-early", 2, fourRooms(), mine(3)),
		storedBattle("br-b", 4, fourRooms(), oldIncarnation, other), // recorded by others only: due
		storedBattle("br-a", 4, fourRooms()),                        // same second: by name
		storedBattle("br-before-window", -1, fourRooms()),
		deleting,
		storedBattle("br-draw", 6, drawBattle()),
		storedBattle("br-one-room", 6, neverStarted()),
	}
	t.Run("Battles in the window, not recorded by this reaction, matching, in arrival order.", func(t *testing.T) {
		rx, m := selectReaction(livev1alpha1.RunForEachWinner, "battle.rooms[1].score >= 0")
		s := Select(rx, m, pointers(battles))
		if diff := cmp.Diff([]string{"br-a", "br-b", "br-c"}, battleNames(s.Due)); diff != "" {
			t.Errorf("due (-want +got):\n%s", diff)
		}
		if s.Last == nil || s.Last.BattleResult != "br-recorded-late" || s.Last.Job != JobName("rx", "br-recorded-late", &fourRooms().Rooms[1]) {
			t.Errorf("last = %+v, want br-recorded-late and its winner's Job", s.Last)
		}
		wantFailedOn(t, s.Failed, "br-one-room")
	})
	t.Run("A draw gets no Job for EachWinner but one for Battle.", func(t *testing.T) {
		rx, m := selectReaction(livev1alpha1.RunForBattle, "")
		s := Select(rx, m, pointers(battles))
		if diff := cmp.Diff([]string{"br-a", "br-b", "br-draw", "br-one-room", "br-c"}, battleNames(s.Due)); diff != "" {
			t.Errorf("due (-want +got):\n%s", diff)
		}
	})
	t.Run("startingAfter earlier takes in battles stored before the reaction.", func(t *testing.T) {
		rx, m := selectReaction(livev1alpha1.RunForBattle, "")
		rx.Spec.StartingAfter = &metav1.Time{Time: selectEpoch.Add(-time.Minute)}
		if got := battleNames(Select(rx, m, pointers(battles)).Due); len(got) == 0 || got[0] != "br-before-window" {
			t.Errorf("due = %v, want br-before-window first", got)
		}
	})
	t.Run("An edit of the criteria moves the window.", func(t *testing.T) {
		rx, m := selectReaction(livev1alpha1.RunForBattle, "")
		rx.Status.Criteria = &livev1alpha1.CriteriaRecord{Hash: "x", Since: &metav1.Time{Time: selectEpoch.Add(5 * time.Second)}}
		if diff := cmp.Diff([]string{"br-draw", "br-one-room", "br-c"}, battleNames(Select(rx, m, pointers(battles)).Due)); diff != "" {
			t.Errorf("due (-want +got):\n%s", diff)
		}
	})
	t.Run("The battles are not changed.", func(t *testing.T) {
		before := fmt.Sprintf("%+v", battles)
		rx, m := selectReaction(livev1alpha1.RunForEachRoom, "battle.durationMs > 0")
		Select(rx, m, pointers(battles))
		if fmt.Sprintf("%+v", battles) != before {
			t.Errorf("Select changed its input")
		}
	})
}

// BenchmarkSelect is the scan that builds a reaction's Pending index (once per process, and
// when its criteria change): 10,000 battles, half fired for, half not yet, each of those
// tried with a CEL expression.
func BenchmarkSelect(b *testing.B) {
	const n = 10000
	rx, m := selectReaction(livev1alpha1.RunForEachWinner, "battle.rooms.exists(r, r.score >= 1000) && battle.durationMs >= 60000")
	battles := make([]livev1alpha1.BattleResult, n)
	for i := range battles {
		var records []livev1alpha1.ReactionRecord
		if i%2 == 0 {
			records = []livev1alpha1.ReactionRecord{{Reaction: "other", UID: "u"}, {Reaction: "rx", UID: "uid-now", Jobs: 1}}
		}
		battles[i] = storedBattle(fmt.Sprintf("br-%05d", i), i%3600, fourRooms(), records...)
		battles[i].UID = types.UID(fmt.Sprint("uid-", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if s := Select(rx, m, pointers(battles)); len(s.Due) != n/2 {
			b.Fatalf("%d due, want %d", len(s.Due), n/2)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "battles/s")
}

// pointers yields a pointer to each battle, as the store's Range does.
func pointers(battles []livev1alpha1.BattleResult) iter.Seq[*livev1alpha1.BattleResult] {
	return func(yield func(*livev1alpha1.BattleResult) bool) {
		for i := range battles {
			if !yield(&battles[i]) {
				return
			}
		}
	}
}

// wantFailedOn checks that the expression failed on the named battle alone.
func wantFailedOn(t *testing.T, failed map[*livev1alpha1.BattleResult]error, name string) {
	t.Helper()
	if len(failed) != 1 {
		t.Fatalf("failed = %v, want %s alone", failed, name)
	}
	for br := range failed {
		if br.Name != name {
			t.Errorf("the expression failed on %s, want %s", br.Name, name)
		}
	}
}
