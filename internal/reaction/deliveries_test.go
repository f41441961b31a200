package reaction

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
)

func httpReaction(mutate func(*livev1alpha1.BattleReactionSpec)) *livev1alpha1.BattleReaction {
	rx := &livev1alpha1.BattleReaction{
		ObjectMeta: metav1.ObjectMeta{Name: "notify", Namespace: "battles", UID: "rx-uid-7"},
		Spec: livev1alpha1.BattleReactionSpec{
			RunFor: livev1alpha1.RunForBattle,
			HTTP:   livev1alpha1.HTTPAction{URL: "https://backend.example.com/battles"},
		},
	}
	if mutate != nil {
		mutate(&rx.Spec)
	}
	return rx
}

// plannedRuns shows a plan as "br-1:4" (battle, runs).
func plannedRuns(p DeliveryPlan) []string {
	var out []string
	for _, d := range p.Start {
		out = append(out, fmt.Sprintf("%s:%d", d.Battle.Name, len(d.Runs)))
	}
	return out
}

func TestPlanDeliveries(t *testing.T) {
	due := []*livev1alpha1.BattleResult{roundBattle(1), roundBattle(2), roundBattle(3)}
	draw := roundBattle(4)
	draw.Spec = *drawBattle()
	busy := func(names ...string) func(string) bool {
		return func(name string) bool { return strings.Contains(" "+strings.Join(names, " ")+" ", " "+name+" ") }
	}
	perRoom := func(limit int32) func(*livev1alpha1.BattleReactionSpec) {
		return func(s *livev1alpha1.BattleReactionSpec) {
			s.RunFor, s.MaxRunningJobs = livev1alpha1.RunForEachRoom, limit
		}
	}
	for _, tc := range []struct {
		name     string
		mutate   func(*livev1alpha1.BattleReactionSpec)
		due      []*livev1alpha1.BattleResult
		busy     func(string) bool
		inFlight int
		maxRuns  int
		start    []string
		waiting  int64
	}{
		{"Every due battle starts, one run each.", nil, due, busy(), 0, 200, []string{"br-1:1", "br-2:1", "br-3:1"}, 0},
		{"A busy battle is skipped, neither started nor waiting.", nil, due, busy("br-2"), 0, 200, []string{"br-1:1", "br-3:1"}, 0},
		{"Suspended: nothing starts, every free battle waits.", func(s *livev1alpha1.BattleReactionSpec) { s.Suspend = true }, due, busy("br-1"), 0, 200, nil, 2},
		{"EachRoom within maxRunningJobs 8: two battles of four rooms, the third waits.", perRoom(8), due, busy(), 0, 200, []string{"br-1:4", "br-2:4"}, 1},
		{"Runs in flight count against the limit.", perRoom(8), due, busy(), 5, 200, nil, 3},
		{"A battle with more runs than the limit starts alone when nothing is in flight.", perRoom(2), due, busy(), 0, 200, []string{"br-1:4"}, 2},
		{"The first battle that does not fit stops the others, in arrival order.", perRoom(6), due, busy(), 0, 200, []string{"br-1:4"}, 2},
		{"The reconcile's bound on runs started.", perRoom(0), due, busy(), 0, 9, []string{"br-1:4", "br-2:4"}, 1},
		{"maxRunningJobs 0 means DefaultMaxInFlight.", nil, due, busy(), DefaultMaxInFlight - 1, 200, []string{"br-1:1"}, 2},
		{"EachWinner: a draw starts with no runs, to be recorded at once.", func(s *livev1alpha1.BattleReactionSpec) { s.RunFor = livev1alpha1.RunForEachWinner },
			[]*livev1alpha1.BattleResult{draw, roundBattle(5)}, busy(), 0, 200, []string{"br-4:0", "br-5:1"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := PlanDeliveries(DeliveryInput{Reaction: httpReaction(tc.mutate), Due: tc.due, Busy: tc.busy, InFlight: tc.inFlight, MaxRuns: tc.maxRuns})
			if diff := cmp.Diff(tc.start, plannedRuns(plan)); diff != "" {
				t.Errorf("started (-want +got):\n%s", diff)
			}
			if plan.Waiting != tc.waiting {
				t.Errorf("waiting %d, want %d", plan.Waiting, tc.waiting)
			}
		})
	}
}

func TestCountDeliveries(t *testing.T) {
	at := func(sec int64) *livev1alpha1.FiredBattle {
		return &livev1alpha1.FiredBattle{BattleResult: fmt.Sprintf("br-%d", sec), Time: metav1.Unix(1763800000+sec, 0)}
	}
	rec := func(name string, delivered, failed int32) livev1alpha1.DeliveryRecord {
		return livev1alpha1.DeliveryRecord{BattleResult: name, Delivered: delivered, Failed: failed}
	}
	finished := map[string]FinishedBattle{
		"br-3": {Record: rec("br-3", 2, 0), Fired: at(3)},
		"br-1": {Record: rec("br-1", 1, 1), Fired: at(1)},
		"br-2": {Record: livev1alpha1.DeliveryRecord{BattleResult: "br-2", Failed: 1, LastStatus: 500}},
	}
	none := func(string) bool { return false }
	tests := []struct {
		name    string
		in      CountInput
		want    livev1alpha1.DeliveryCounts
		counted []string // Counting, then "before:" CountedBefore
		last    *livev1alpha1.FiredBattle
	}{
		{
			name: "Nothing finished: the stored counts, the runs in flight, the list still to record.",
			in: CountInput{Stored: &livev1alpha1.DeliveryCounts{Delivered: 4, Failed: 1, InFlight: 9}, Recording: []livev1alpha1.DeliveryRecord{rec("br-0", 1, 0)},
				Counted: none, InFlight: 2, MaxRecording: 10},
			want: livev1alpha1.DeliveryCounts{Delivered: 4, Failed: 1, InFlight: 2, Recording: []livev1alpha1.DeliveryRecord{rec("br-0", 1, 0)}},
		},
		{
			name:    "Each finished battle adds its runs and joins the list, sorted by name; the latest delivered is the last fired.",
			in:      CountInput{Finished: finished, Recording: []livev1alpha1.DeliveryRecord{rec("br-20", 1, 0)}, Counted: none, MaxRecording: 10},
			want:    livev1alpha1.DeliveryCounts{Delivered: 3, Failed: 2, Recording: []livev1alpha1.DeliveryRecord{rec("br-1", 1, 1), finished["br-2"].Record, rec("br-20", 1, 0), rec("br-3", 2, 0)}},
			counted: []string{"br-1", "br-2", "br-3"},
			last:    at(3),
		},
		{
			name: "A battle the stored status counts already (a write applied although it failed) is not counted again.",
			in: CountInput{Stored: &livev1alpha1.DeliveryCounts{Delivered: 2}, Recording: []livev1alpha1.DeliveryRecord{rec("br-3", 2, 0)}, Finished: finished,
				Counted: func(name string) bool { return name == "br-3" }, MaxRecording: 10},
			want:    livev1alpha1.DeliveryCounts{Delivered: 3, Failed: 2, Recording: []livev1alpha1.DeliveryRecord{rec("br-1", 1, 1), finished["br-2"].Record, rec("br-3", 2, 0)}},
			counted: []string{"br-1", "br-2", "before:br-3"},
			last:    at(1),
		},
		{
			name:    "Past MaxRecording the rest wait for a later write, uncounted.",
			in:      CountInput{Finished: finished, Recording: []livev1alpha1.DeliveryRecord{rec("br-0", 1, 0)}, Counted: none, MaxRecording: 2},
			want:    livev1alpha1.DeliveryCounts{Delivered: 1, Failed: 1, Recording: []livev1alpha1.DeliveryRecord{rec("br-0", 1, 0), rec("br-1", 1, 1)}},
			counted: []string{"br-1"},
			last:    at(1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recording []livev1alpha1.DeliveryRecord
			if tt.in.Recording != nil {
				recording = append(recording, tt.in.Recording...)
			}
			got := CountDeliveries(tt.in)
			if diff := cmp.Diff(tt.want, *got.Counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			counted := got.Counting
			for _, name := range got.CountedBefore {
				counted = append(counted, "before:"+name)
			}
			if diff := cmp.Diff(tt.counted, counted); diff != "" {
				t.Errorf("counted (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.last, got.LastFired); diff != "" {
				t.Errorf("last fired (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(recording, tt.in.Recording); diff != "" {
				t.Errorf("the input's list changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	br := fourRoomsResult()
	rooms := br.Spec.Rooms
	key := IdempotencyKey("uid-1", br.Name, nil)
	if again := IdempotencyKey("uid-1", br.Name, nil); again != key || len(key) != 32 {
		t.Fatalf("%q then %q", key, again)
	}
	seen := map[string]string{key: "battle"}
	for name, k := range map[string]string{
		"another reaction UID": IdempotencyKey("uid-2", br.Name, nil),
		"another battle":       IdempotencyKey("uid-1", "br-other", nil),
		"room 1":               IdempotencyKey("uid-1", br.Name, &rooms[0]),
		"room 2":               IdempotencyKey("uid-1", br.Name, &rooms[1]),
	} {
		if before, dup := seen[k]; dup {
			t.Fatalf("%s has the key of %s", name, before)
		}
		seen[k] = name
	}
}

func TestHTTPBody(t *testing.T) {
	br := fourRoomsResult()
	room := &br.Spec.Rooms[2]

	body, err := HTTPBody(httpReaction(nil), br, Run{Room: room})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Reaction, Namespace, BattleResult, IdempotencyKey string
		Battle                                            livev1alpha1.BattleResultSpec
		Room                                              *livev1alpha1.BattleRoom
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Reaction != "notify" || got.Namespace != br.Namespace || got.BattleResult != br.Name ||
		got.IdempotencyKey != IdempotencyKey("rx-uid-7", br.Name, room) || got.Room == nil || got.Room.OwnerAccount != bigAccount {
		t.Fatalf("body %s", body)
	}
	if diff := cmp.Diff(br.Spec, got.Battle); diff != "" {
		t.Fatalf("battle (-want +got):\n%s", diff)
	}

	whole, err := HTTPBody(httpReaction(nil), br, Run{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(whole), `"room"`) {
		t.Fatalf("a battle's run carries a room: %s", whole)
	}

	tencent := httpReaction(func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.Format = livev1alpha1.HTTPFormatTencentCallback })
	raw, err := HTTPBody(tencent, br, Run{Room: room})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := battle.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	e, err := parsed.EndBattle()
	if err != nil {
		t.Fatal(err)
	}
	if diff := battle.Differences(br.Spec, battle.Spec(e, battle.Delivery{})); len(diff) > 0 {
		t.Fatalf("the Tencent body differs in %v: %s", diff, raw)
	}
}
