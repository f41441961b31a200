package reaction

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

var pendingKey = types.NamespacedName{Namespace: "growth", Name: "rx"}

func listed(s ...string) func(func(string) bool) { return slices.Values(s) }

func TestPending(t *testing.T) {
	start := metav1.NewTime(selectEpoch)
	t.Run("An index not built is not current; Reset builds it for one hash and window start.", func(t *testing.T) {
		var p Pending
		if p.Current("u", "h", start) {
			t.Fatal("an empty index is current")
		}
		p.Reset("u", pendingKey, "h", start, []string{"br-due"}, listed("br-due", "br-settled"))
		if !p.Current("u", "h", start) {
			t.Error("not current after Reset")
		}
		if p.Current("u", "other", start) || p.Current("u", "h", metav1.NewTime(selectEpoch.Add(time.Second))) || p.Current("v", "h", start) {
			t.Error("current for other criteria, another window start or another reaction")
		}
		if diff := cmp.Diff(map[string]bool{"br-due": true}, p.Take("u")); diff != "" {
			t.Errorf("take (-want +got):\n%s", diff)
		}
	})
	t.Run("BuiltFor compares a generation's criteria with the index's once, until the index is built again.", func(t *testing.T) {
		var p Pending
		hashed := 0
		hash := func(h string) func() string { return func() string { hashed++; return h } }
		if p.BuiltFor("u", 1, hash("h")) {
			t.Error("built for criteria before any scan")
		}
		p.Reset("u", pendingKey, "h", start, nil, listed())
		for range 3 {
			if !p.BuiltFor("u", 1, hash("h")) {
				t.Error("generation 1: not built for its criteria")
			}
		}
		if p.BuiltFor("u", 2, hash("edited")) || p.BuiltFor("u", 2, hash("h")) {
			t.Error("generation 2 (other criteria): built for them, or compared again")
		}
		if hashed != 2 {
			t.Errorf("the criteria were hashed %d times, want once per generation (2)", hashed)
		}
		p.Scanning("u", pendingKey)
		if p.BuiltFor("u", 2, hash("edited")) {
			t.Error("built for the criteria while a scan runs")
		}
		p.Reset("u", pendingKey, "edited", start, nil, listed())
		if !p.BuiltFor("u", 2, hash("edited")) || hashed != 3 {
			t.Errorf("after the index is built for generation 2's criteria: not built for them, or not compared again (%d hashes)", hashed)
		}
		var q Pending // an object that has no generation (0), as a fake client's
		q.Reset("u", pendingKey, "h", start, nil, listed())
		if !q.BuiltFor("u", 0, hash("h")) || q.BuiltFor("v", 0, hash("h")) {
			t.Error("generation 0: not built for its criteria, or built for another reaction's")
		}
	})
	t.Run("Retain keeps the indexes of the reactions it is told to, and drops the others.", func(t *testing.T) {
		var p Pending
		p.Reset("u", pendingKey, "h", start, []string{"br-1"}, listed("br-1"))
		p.Reset("v", types.NamespacedName{Namespace: "growth", Name: "gone"}, "h", start, []string{"br-1"}, listed("br-1"))
		p.Retain(func(uid types.UID) bool { return uid == "u" })
		if !p.Current("u", "h", start) || p.Current("v", "h", start) || p.Len("v") != 0 {
			t.Errorf("after Retain(u): u current %v (want true), v current %v with %d battles (want false, 0)", p.Current("u", "h", start), p.Current("v", "h", start), p.Len("v"))
		}
	})
	t.Run("Arrivals are taken once, as not yet examined, and stay until settled.", func(t *testing.T) {
		var p Pending
		p.Reset("u", pendingKey, "h", start, nil, listed())
		p.Arrived("u", pendingKey, "br-1")
		p.Arrived("u", pendingKey, "br-2")
		p.Arrived("u", pendingKey, "br-2") // a duplicate event
		if !p.Arrivals("u") || p.Arrivals("v") {
			t.Error("Arrivals: want true for the reaction battles arrived for, false for another")
		}
		if diff := cmp.Diff(map[string]bool{"br-1": false, "br-2": false}, p.Take("u")); diff != "" {
			t.Errorf("take (-want +got):\n%s", diff)
		}
		if p.Arrivals("u") {
			t.Error("Arrivals after Take: want false, nothing arrived since")
		}
		p.Matched("u", "br-2")
		p.Settle("u", "br-1")
		if diff := cmp.Diff(map[string]bool{"br-2": true}, p.Take("u")); diff != "" {
			t.Errorf("second take (-want +got):\n%s", diff)
		}
		p.Settle("u", "br-2")
		if got := p.Take("u"); len(got) != 0 || p.Len("u") != 0 {
			t.Errorf("take after settling all = %v (len %d), want nothing kept", got, p.Len("u"))
		}
	})
	t.Run("Notify is ready once a battle arrives, and at once while arrivals wait to be taken.", func(t *testing.T) {
		var p Pending
		if p.Notify("u") != nil {
			t.Error("Notify before any scan: want nil, nothing is kept")
		}
		p.Reset("u", pendingKey, "h", start, nil, listed())
		ready := func(c <-chan struct{}) bool {
			select {
			case <-c:
				return true
			default:
				return false
			}
		}
		first, second := p.Notify("u"), p.Notify("u")
		if ready(first) || ready(second) {
			t.Fatal("Notify ready before any arrival")
		}
		p.Arrived("v", pendingKey, "br-other") // another reaction's arrival
		if ready(first) {
			t.Fatal("Notify ready for another reaction's arrival")
		}
		p.Arrived("u", pendingKey, "br-1")
		if !ready(first) || !ready(second) {
			t.Fatal("Notify not ready after an arrival")
		}
		if !ready(p.Notify("u")) {
			t.Error("Notify not ready at once while an arrival waits to be taken")
		}
		p.Take("u")
		if ready(p.Notify("u")) {
			t.Error("Notify ready after Take, nothing arrived since")
		}
	})
	t.Run("A battle arriving during the scan stays in the inbox unless the scan listed it.", func(t *testing.T) {
		var p Pending
		p.Arrived("u", pendingKey, "br-before") // before the scan: the scan lists it
		if p.Len("u") != 0 {
			t.Errorf("a battle that arrived before any scan is held (%d)", p.Len("u"))
		}
		p.Scanning("u", pendingKey)
		p.Arrived("u", pendingKey, "br-listed")  // in the cache when the scan listed it
		p.Arrived("u", pendingKey, "br-missed")  // reached the cache after the list
		p.Arrived("u", pendingKey, "br-matches") // listed, and found matching
		p.Reset("u", pendingKey, "h", start, []string{"br-matches"}, listed("br-old", "br-listed", "br-matches"))
		if diff := cmp.Diff(map[string]bool{"br-missed": false, "br-matches": true}, p.Take("u")); diff != "" {
			t.Errorf("take (-want +got):\n%s", diff)
		}
	})
	t.Run("A deleted battle leaves the index, and Gone says whether it was there.", func(t *testing.T) {
		var p Pending
		p.Reset("u", pendingKey, "h", start, []string{"br-waiting"}, listed("br-waiting"))
		p.Arrived("u", pendingKey, "br-new")
		if !p.Gone("u", "br-waiting") || !p.Gone("u", "br-new") {
			t.Error("Gone did not find the battles held")
		}
		if p.Gone("u", "br-never-held") || p.Gone("other", "br-new") {
			t.Error("Gone found a battle not held")
		}
		if p.Has("u", "br-waiting") {
			t.Error("a deleted battle is still waiting")
		}
		p.Matched("u", "br-waiting") // a reconcile that read it before the deletion
		if got := p.Take("u"); len(got) != 0 {
			t.Errorf("take = %v, want the deleted battles not to come back", got)
		}
	})
	t.Run("A new reaction of the same name replaces the old one's index; Forget drops both.", func(t *testing.T) {
		var p Pending
		p.Reset("old", pendingKey, "h", start, []string{"br-a"}, listed("br-a"))
		p.Reset("new", pendingKey, "h", start, []string{"br-b"}, listed("br-b"))
		if p.Len("old") != 0 || p.Current("old", "h", start) {
			t.Error("the old incarnation's index is kept")
		}
		p.Scanning("other", types.NamespacedName{Namespace: "growth", Name: "other"})
		p.Arrived("other", types.NamespacedName{Namespace: "growth", Name: "other"}, "br-c")
		p.Forget(pendingKey)
		if p.Len("new") != 0 || p.Len("other") != 1 {
			t.Errorf("after Forget: %d held for the reaction, %d for another; want 0 and 1", p.Len("new"), p.Len("other"))
		}
		p.Drop("other")
		if p.Len("other") != 0 {
			t.Error("Drop kept the index")
		}
	})
	t.Run("Fired keeps the latest battle by arrival.", func(t *testing.T) {
		var p Pending
		p.Reset("u", pendingKey, "h", start, nil, listed())
		later := &livev1alpha1.FiredBattle{BattleResult: "br-b", Time: metav1.NewTime(selectEpoch.Add(time.Second))}
		earlier := &livev1alpha1.FiredBattle{BattleResult: "br-z", Time: metav1.NewTime(selectEpoch)}
		if got := p.Fired("u", later); got != later {
			t.Errorf("first = %+v", got)
		}
		if got := p.Fired("u", earlier); got != later {
			t.Errorf("after an earlier one = %+v, want br-b", got)
		}
		if got := p.Fired("u", nil); got != later {
			t.Errorf("after nil = %+v, want br-b", got)
		}
	})
}

func TestLaterFired(t *testing.T) {
	at := func(name string, sec int) *livev1alpha1.FiredBattle {
		return &livev1alpha1.FiredBattle{BattleResult: name, Time: metav1.NewTime(selectEpoch.Add(time.Duration(sec) * time.Second))}
	}
	for _, c := range []struct {
		name string
		a, b *livev1alpha1.FiredBattle
		want string
	}{
		{"Nil on either side gives the other.", nil, at("br-a", 1), "br-a"},
		{"Nil on the right gives the left.", at("br-a", 1), nil, "br-a"},
		{"The later arrival wins, whatever its name.", at("br-z", 1), at("br-a", 2), "br-a"},
		{"An earlier arrival does not move it back.", at("br-a", 2), at("br-z", 1), "br-a"},
		{"In the same second the greater name is later.", at("br-b", 1), at("br-a", 1), "br-b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := LaterFired(c.a, c.b); got == nil || got.BattleResult != c.want {
				t.Errorf("got %+v, want %s", got, c.want)
			}
		})
	}
}

func TestExamine(t *testing.T) {
	mine := livev1alpha1.ReactionRecord{Reaction: "rx", UID: "uid-now", Jobs: 1}
	deleting := storedBattle("br-deleting", 5, fourRooms())
	deleting.DeletionTimestamp = &metav1.Time{Time: selectEpoch.Add(time.Hour)}
	battles := []livev1alpha1.BattleResult{
		storedBattle("br-c", 9, fourRooms()),
		storedBattle("br-recorded", 7, fourRooms(), mine),
		storedBattle("br-a", 4, fourRooms()),
		storedBattle("br-before-window", -1, fourRooms()),
		deleting,
		storedBattle("br-draw", 6, drawBattle()), // no winner: no run for EachWinner
		storedBattle("br-one-room", 6, neverStarted()), // the expression fails on it
		storedBattle("br-low", 8, with(fourRooms(), func(s *livev1alpha1.BattleResultSpec) { s.Rooms[1].Score = -1 })),
	}
	ptrs := make([]*livev1alpha1.BattleResult, len(battles))
	for i := range battles {
		ptrs[i] = &battles[i]
	}
	rx, m := selectReaction(livev1alpha1.RunForEachWinner, "battle.rooms[1].score >= 0")

	t.Run("It selects what Select selects from the same battles, and settles the rest.", func(t *testing.T) {
		s, settled := Examine(rx, m, ptrs, nil)
		want := Select(rx, m, pointers(battles))
		if diff := cmp.Diff(battleNames(want.Due), battleNames(s.Due)); diff != "" {
			t.Errorf("due (-select +examine):\n%s", diff)
		}
		if diff := cmp.Diff(want.Last, s.Last); diff != "" {
			t.Errorf("last (-select +examine):\n%s", diff)
		}
		slices.Sort(settled)
		if diff := cmp.Diff([]string{"br-before-window", "br-deleting", "br-draw", "br-low", "br-one-room", "br-recorded"}, settled); diff != "" {
			t.Errorf("settled (-want +got):\n%s", diff)
		}
		wantFailedOn(t, s.Failed, "br-one-room")
	})
	t.Run("A battle known to match is not evaluated again.", func(t *testing.T) {
		s, _ := Examine(rx, m, ptrs, func(name string) bool { return name == "br-one-room" || name == "br-low" })
		if diff := cmp.Diff([]string{"br-a", "br-low", "br-c"}, battleNames(s.Due)); diff != "" {
			t.Errorf("due (-want +got):\n%s", diff)
		}
		if len(s.Failed) != 0 {
			t.Errorf("failed = %v, want nothing evaluated for known battles", s.Failed)
		}
	})
}

// arrivalWorld is a namespace of n battles a reaction has settled, half fired for (recorded)
// and half that do not match, and one new battle that matches.
func arrivalWorld(n int) (rx *livev1alpha1.BattleReaction, m *Matcher, battles []livev1alpha1.BattleResult, fresh *livev1alpha1.BattleResult) {
	rx, m = selectReaction(livev1alpha1.RunForEachWinner, "battle.rooms.exists(r, r.score >= 1000) && battle.durationMs >= 60000")
	win, draw := fourRooms(), drawBattle() // shared, read-only
	battles = make([]livev1alpha1.BattleResult, n+1)
	for i := range n {
		if i%2 == 0 {
			battles[i] = storedBattle(fmt.Sprintf("br-%06d", i), i%3600, win, livev1alpha1.ReactionRecord{Reaction: "other", UID: "u"}, livev1alpha1.ReactionRecord{Reaction: "rx", UID: "uid-now", Jobs: 1})
		} else {
			battles[i] = storedBattle(fmt.Sprintf("br-%06d", i), i%3600, draw)
		}
		battles[i].UID = types.UID(fmt.Sprint("uid-", i))
	}
	battles[n] = storedBattle("br-new", 3600, win)
	battles[n].UID = "uid-new"
	return rx, m, battles, &battles[n]
}

// TestArrivalCostDoesNotFollowHistory: once a reaction's index is built, a battle arriving
// among thousands the reaction has settled is the only battle the reaction examines, and the
// index holds nothing for the settled ones.
func TestArrivalCostDoesNotFollowHistory(t *testing.T) {
	rx, m, battles, fresh := arrivalWorld(5000)
	stored := battles[:len(battles)-1]
	var p Pending
	sel := Select(rx, m, pointers(stored))
	p.Reset(rx.UID, pendingKey, "h", WindowStart(rx), battleNames(sel.Due), func(yield func(string) bool) {
		for i := range stored {
			if !yield(stored[i].Name) {
				return
			}
		}
	})
	if len(sel.Due) != 0 || p.Len(rx.UID) != 0 {
		t.Fatalf("after the scan: %d due, %d held; want a reaction that settled everything", len(sel.Due), p.Len(rx.UID))
	}

	p.Arrived(rx.UID, pendingKey, fresh.Name)
	candidates := p.Take(rx.UID)
	if diff := cmp.Diff(map[string]bool{"br-new": false}, candidates); diff != "" {
		t.Fatalf("candidates (-want +got):\n%s", diff)
	}
	s, settled := Examine(rx, m, []*livev1alpha1.BattleResult{fresh}, func(n string) bool { return candidates[n] })
	if diff := cmp.Diff([]string{"br-new"}, battleNames(s.Due)); diff != "" || len(settled) != 0 {
		t.Fatalf("due (-want +got):\n%s; settled %v", diff, settled)
	}
	p.Matched(rx.UID, "br-new")
	p.Settle(rx.UID, "br-new") // recorded
	if p.Len(rx.UID) != 0 {
		t.Errorf("%d battles held after the new one was recorded, want 0", p.Len(rx.UID))
	}
	if got := slices.Collect(maps.Keys(p.Take(rx.UID))); len(got) != 0 {
		t.Errorf("next reconcile examines %v, want nothing", got)
	}
}

// BenchmarkArrival is what one arriving battle costs one reaction of its namespace, with
// 100,000 battles stored that the reaction already settled (half fired for, half not
// matching). "scan" is Select over every battle of the namespace, what each reconcile did
// before the index (it also kept a per-UID cache of answers, since removed: without it the
// scan costs more than it did). "index" is the reconcile
// now: the new battle enters the reaction's index, is taken, looked up by name (a map standing
// for the cache), examined and settled.
func BenchmarkArrival(b *testing.B) {
	const n = 100_000
	rx, m, battles, fresh := arrivalWorld(n)
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if s := Select(rx, m, pointers(battles)); len(s.Due) != 1 {
				b.Fatalf("%d due, want 1", len(s.Due))
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		byName := make(map[string]*livev1alpha1.BattleResult, len(battles))
		for i := range battles {
			byName[battles[i].Name] = &battles[i]
		}
		var p Pending
		p.Reset(rx.UID, pendingKey, "h", WindowStart(rx), nil, func(func(string) bool) {})
		b.ReportAllocs()
		for b.Loop() {
			p.Arrived(rx.UID, pendingKey, fresh.Name)
			candidates := p.Take(rx.UID)
			found := make([]*livev1alpha1.BattleResult, 0, len(candidates))
			for name := range candidates {
				found = append(found, byName[name])
			}
			s, settled := Examine(rx, m, found, func(n string) bool { return candidates[n] })
			if len(s.Due) != 1 {
				b.Fatalf("%d due, want 1", len(s.Due))
			}
			p.Settle(rx.UID, settled...)
			p.Settle(rx.UID, fresh.Name) // recorded
		}
	})
}
