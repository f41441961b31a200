package battlestore

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/testutil"
)

// stored is a fixture as the receiver stores it, with the metadata the API server adds.
func stored(t testing.TB, file string, i int) *livev1alpha1.BattleResult {
	t.Helper()
	parsed, err := battle.Parse(testutil.Fixture(t, file))
	if err != nil {
		t.Fatal(err)
	}
	ended, err := parsed.EndBattle()
	if err != nil {
		t.Fatal(err)
	}
	return &livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{
			Name: battle.Name(ended.BattleID), Namespace: "ns",
			UID:             types.UID(fmt.Sprintf("0f8a1c2e-3b4d-4e5f-8a9b-%012d", i)),
			ResourceVersion: fmt.Sprint(1000 + i), Generation: 1,
			CreationTimestamp: metav1.NewTime(time.Unix(1763800000+int64(i), 0).Local()),
		},
		Spec: battle.Spec(ended, battle.Delivery{SDKAppID: "1400000001", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}),
	}
}

var fixtures = []string{"end-battle-all-hosts-exited.json", "end-battle-caller-wins.json", "end-battle-draw.json",
	"end-battle-four-rooms.json", "end-battle-never-started.json", "end-battle-official-example.json"}

// TestRecordKeepsWhatControllersRead: a record decodes to the object it was made of, except
// what it drops on purpose (managedFields, the last-applied annotation, conditions, owner
// references, generateName), for every fixture and for objects with every field set to odd
// values.
func TestRecordKeepsWhatControllersRead(t *testing.T) {
	var objects []*livev1alpha1.BattleResult
	for i, f := range fixtures {
		objects = append(objects, stored(t, f, i))
	}
	odd := stored(t, "end-battle-four-rooms.json", 99)
	odd.UID = "not-a-uuid"                                         // written as a string
	odd.ResourceVersion = "0012"                                   // not canonical decimal: a string
	odd.Generation = math.MaxInt64                                 // the widest varint
	deleting := metav1.NewTime(time.Unix(-62135596800, 0).Local()) // year 1
	odd.DeletionTimestamp = &deleting
	odd.Labels = map[string]string{"team": "a", "": ""}
	odd.Annotations = map[string]string{"note": "x", corev1.LastAppliedConfigAnnotation: "{}"}
	odd.Finalizers = []string{"example.com/keep"}
	odd.Spec.EndReason = "SomethingNew" // not in the enum table: a string
	odd.Spec.Outcome = ""
	odd.Spec.Rooms[0].Result = "Win"
	odd.Spec.Rooms[1].Score = math.MinInt64
	odd.Spec.Rooms[2].Score = math.MaxInt64
	odd.Spec.Rooms[3].ExtraFields = `{"Nested":{"a":[1,2,"\u0000"]}}`
	odd.Spec.Rooms[3].RoomID = "房间\x00\xff" // any bytes
	odd.Spec.Winners = nil                  // null, not []
	odd.Spec.ExtraFields = strings.Repeat("x", 70_000)
	odd.Spec.EndedAt = nil
	odd.Status.Reactions = []livev1alpha1.ReactionRecord{
		{Reaction: "notify", UID: "5f0c3e8a-1b2d-4c3e-9f4a-0123456789ab", Jobs: 3, FiredAt: metav1.NewTime(time.Unix(1763800100, 500).Local())},
		{Reaction: "other", UID: "x", Jobs: -1},
	}
	odd.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "receiver"}}
	odd.OwnerReferences = []metav1.OwnerReference{{Name: "x"}}
	odd.GenerateName = "g-"
	noRooms := stored(t, "end-battle-caller-wins.json", 100)
	noRooms.Spec.Rooms = []livev1alpha1.BattleRoom{}
	nilRooms := stored(t, "end-battle-caller-wins.json", 101)
	nilRooms.Spec.Rooms = nil
	objects = append(objects, odd, noRooms, nilRooms)

	for _, want := range objects {
		rec := encode(want)
		got, err := decode(want.Namespace, want.Name, rec)
		if err != nil {
			t.Fatal(err)
		}
		exp := want.DeepCopy()
		exp.APIVersion, exp.Kind = livev1alpha1.GroupVersion.String(), "BattleResult"
		exp.ManagedFields, exp.OwnerReferences, exp.GenerateName = nil, nil, ""
		delete(exp.Annotations, corev1.LastAppliedConfigAnnotation)
		if diff := cmp.Diff(exp, got); diff != "" {
			t.Errorf("%s (%d bytes) read back different (-want +got):\n%s", want.Name, len(rec), diff)
		}
	}
}

// TestRecordRejectsCorruptBytes: every truncation of a record is an error, not a wrong battle.
func TestRecordRejectsCorruptBytes(t *testing.T) {
	rec := encode(stored(t, "end-battle-four-rooms.json", 1))
	for n := range len(rec) {
		if _, err := decode("ns", "x", rec[:n]); err == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded", n, len(rec))
		}
	}
	if _, err := decode("ns", "x", rec+"\x00"); err == nil {
		t.Fatal("a record with a byte too many decoded")
	}
}

// events records what a handler got.
type events struct{ got []string }

func (e *events) handler() Handler {
	return Handler{
		OnAdd: func(br *livev1alpha1.BattleResult, initial bool) {
			e.got = append(e.got, fmt.Sprintf("add %s %v", br.Name, initial))
		},
		OnUpdate: func(old, br *livev1alpha1.BattleResult) {
			e.got = append(e.got, "update "+old.ResourceVersion+">"+br.ResourceVersion)
		},
		OnDelete: func(br *livev1alpha1.BattleResult) { e.got = append(e.got, "delete "+br.Name) },
	}
}

func named(name, rv string) *livev1alpha1.BattleResult {
	return &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv},
		Spec: livev1alpha1.BattleResultSpec{BattleID: name}}
}

// TestStoreEvents: a handler gets the first list as initial adds, then changes in order; a new
// list (after a broken watch) turns into the adds, updates and deletes that it implies; a
// handler added later gets what is stored first; a removed handler gets nothing.
func TestStoreEvents(t *testing.T) {
	s := New(nil, Scope{})
	var early events
	s.AddHandler(early.handler())
	if s.HasSynced() {
		t.Fatal("synced before a list")
	}
	must(t, s.feeds[0].Replace([]any{named("a", "1"), named("b", "2")}, "2"))
	if !s.HasSynced() {
		t.Fatal("not synced after the first list")
	}
	must(t, s.Add(named("c", "3")))
	must(t, s.Update(named("a", "4")))
	must(t, s.Delete(named("b", "2")))
	must(t, s.Delete(named("never", "9"))) // not stored: nothing to tell
	// A relist: c changed, a is gone, d is new.
	must(t, s.feeds[0].Replace([]any{named("c", "5"), named("d", "6")}, "6"))
	want := []string{"add a true", "add b true", "add c false", "update 1>4", "delete b", "delete a", "update 3>5", "add d false"}
	sortFrom := func(got []string, from int) []string { // a relist's order within kinds is a map's
		out := slices.Clone(got)
		slices.Sort(out[from:])
		return out
	}
	if diff := cmp.Diff(sortFrom(want, 5), sortFrom(early.got, 5)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	var late events
	remove := s.AddHandler(late.handler())
	slices.Sort(late.got)
	if diff := cmp.Diff([]string{"add c true", "add d true"}, late.got); diff != "" {
		t.Errorf("a late handler got (-want +got):\n%s", diff)
	}
	remove()
	must(t, s.Add(named("e", "7")))
	if len(late.got) != 2 {
		t.Errorf("a removed handler got %v", late.got[2:])
	}

	if br, ok := s.Get("ns", "c"); !ok || br.ResourceVersion != "5" {
		t.Errorf("Get c: %v %v", br, ok)
	}
	if _, ok := s.Get("ns", "a"); ok {
		t.Error("Get a: still stored")
	}
	var names []string
	for br := range s.Range("ns") {
		names = append(names, br.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"c", "d", "e"}, names); diff != "" || !maps.Equal(s.Counts(), map[string]int{"ns": 3}) {
		t.Errorf("Range (-want +got):\n%s; Counts %v", diff, s.Counts())
	}
}

// TestScopedStoreListsEachNamespace: a store of two namespaces has a list of each; it is
// synced once both were taken (a relist of one before the other's first does not count), and a
// relist of one namespace leaves the other's battles alone.
func TestScopedStoreListsEachNamespace(t *testing.T) {
	s := New(nil, Scope{Namespaces: []string{"a", "b"}})
	if len(s.feeds) != 2 || s.feeds[0].namespace != "a" || s.feeds[1].namespace != "b" {
		t.Fatalf("feeds %v, want one of a and one of b", s.feeds)
	}
	var got events
	s.AddHandler(got.handler())
	in := func(ns, name, rv string) *livev1alpha1.BattleResult {
		br := named(name, rv)
		br.Namespace = ns
		return br
	}
	must(t, s.feeds[0].Replace([]any{in("a", "a1", "1")}, "1"))
	must(t, s.feeds[0].Replace([]any{in("a", "a1", "1"), in("a", "a2", "2")}, "2"))
	if s.HasSynced() {
		t.Fatal("synced before b was listed")
	}
	must(t, s.feeds[1].Replace([]any{in("b", "b1", "3")}, "3"))
	if !s.HasSynced() {
		t.Fatal("not synced after both lists")
	}
	must(t, s.feeds[1].Replace(nil, "4")) // b's battle is gone; a's stay
	want := []string{"add a1 true", "add a2 false", "add b1 true", "delete b1"}
	if diff := cmp.Diff(want, got.got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if !maps.Equal(s.Counts(), map[string]int{"a": 2}) {
		t.Errorf("Counts %v, want a: 2", s.Counts())
	}
}

// TestHandlersShareRepeatedStrings: two battles of the same room hand their handlers one copy
// of the room's ID, owner and app (a room's tally keeps them once per battle), also when they
// come from records (a handler added late), and a record read back is a copy the reader may
// change.
func TestHandlersShareRepeatedStrings(t *testing.T) {
	s := New(nil, Scope{})
	fresh := func(i int) *livev1alpha1.BattleResult {
		br := stored(t, "end-battle-caller-wins.json", i)
		br.Name = fmt.Sprintf("br-%d", i)
		// As decoded from the watch: every string its own copy.
		br.Spec.Rooms[1].RoomID = livev1alpha1.RoomID(string([]byte("hot")))
		br.Spec.Rooms[1].OwnerAccount = string([]byte("144115212"))
		br.Spec.SDKAppID = string([]byte("1400000001"))
		return br
	}
	var got []*livev1alpha1.BattleResult
	keep := Handler{OnAdd: func(br *livev1alpha1.BattleResult, _ bool) { got = append(got, br) }}
	s.AddHandler(keep)
	must(t, s.feeds[0].Replace(nil, "1"))
	must(t, s.Add(fresh(1)))
	must(t, s.Add(fresh(2)))
	s.AddHandler(keep) // replays both from their records
	if len(got) != 4 {
		t.Fatalf("handlers got %d battles, want 4", len(got))
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	a := got[0]
	for _, b := range got[1:] {
		if !same(string(a.Spec.Rooms[1].RoomID), string(b.Spec.Rooms[1].RoomID)) ||
			!same(a.Spec.Rooms[1].OwnerAccount, b.Spec.Rooms[1].OwnerAccount) || !same(a.Spec.SDKAppID, b.Spec.SDKAppID) {
			t.Error("two battles of the same room hold their own copies of its ID, owner or app")
		}
	}
	if a.Spec.Rooms[1].RoomID != "hot" || a.Spec.SDKAppID != "1400000001" {
		t.Errorf("sharing changed values: room %q, app %q", a.Spec.Rooms[1].RoomID, a.Spec.SDKAppID)
	}
	br, _ := s.Get("ns", "br-1")
	br.Spec.Rooms[0].Score = -5
	br.Spec.BattleID = "changed"
	if again, _ := s.Get("ns", "br-1"); again.Spec.Rooms[0].Score == -5 || again.Spec.BattleID == "changed" {
		t.Error("a change to a battle read from the store changed the store")
	}
}

// TestRecordIsSmall: what the store keeps per battle, against the decoded object it replaces.
// It fails if the record stops being several times smaller than the object, which is the
// point of the store.
func TestRecordIsSmall(t *testing.T) {
	const n = 5000
	rng := rand.New(rand.NewPCG(1, 2))
	base := stored(t, "end-battle-draw.json", 0)
	objects := make([]*livev1alpha1.BattleResult, n)
	for i := range objects {
		br := base.DeepCopy()
		br.Name = battle.Name(fmt.Sprintf("battle-%d", i))
		br.Spec.BattleID = fmt.Sprintf("battle-%d", i)
		br.UID = types.UID(fmt.Sprintf("0f8a1c2e-3b4d-4e5f-8a9b-%012d", i))
		for j := range br.Spec.Rooms {
			br.Spec.Rooms[j].Score = rng.Int64N(1000)
		}
		objects[i] = br
	}
	// The object as a watch decodes it from JSON, each with its own strings: what a typed
	// cache would hold.
	objectBytes := heapOf(func() any {
		out := make([]*livev1alpha1.BattleResult, n)
		for i, br := range objects {
			raw, err := json.Marshal(br)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = &livev1alpha1.BattleResult{}
			if err := json.Unmarshal(raw, out[i]); err != nil {
				t.Fatal(err)
			}
		}
		return out
	})
	s := New(nil, Scope{})
	storeBytes := heapOf(func() any {
		list := make([]any, n)
		for i, br := range objects {
			list[i] = br.DeepCopy()
		}
		must(t, s.feeds[0].Replace(list, "1"))
		return s
	})
	t.Logf("per battle (%d rooms): decoded object %d B, store %d B (record %d B)", len(base.Spec.Rooms),
		objectBytes/n, storeBytes/n, len(encode(objects[0])))
	if storeBytes*3 > objectBytes {
		t.Errorf("the store takes %d B per battle, more than a third of the object's %d B", storeBytes/n, objectBytes/n)
	}
}

// heapOf is the live heap that what build returns holds.
func heapOf(build func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return after.HeapAlloc - before.HeapAlloc
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
