package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/battlestore"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/battleops/battle-operator/internal/testutil"
)

// attempt is one request an upstream received.
type attempt struct {
	key    string
	header http.Header
	body   []byte
	status int
}

// backend is a real HTTP server standing for a user's backend: each Idempotency-Key's first
// failFirst attempts are answered failStatus, the next ones 200, unless down is set (every
// attempt answered 503).
type backend struct {
	*httptest.Server
	failFirst  int
	failStatus int
	down       atomic.Bool
	// delay holds each answer back; active and peak count the requests being answered.
	delay        time.Duration
	active, peak atomic.Int32
	mu           sync.Mutex
	attempts     []attempt
}

func newBackend(t *testing.T, failFirst, failStatus int) *backend {
	b := &backend{failFirst: failFirst, failStatus: failStatus}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.Header.Get("Idempotency-Key")
		b.mu.Lock()
		n := 0
		for _, a := range b.attempts {
			if a.key == key {
				n++
			}
		}
		status := http.StatusOK
		if b.down.Load() {
			status = http.StatusServiceUnavailable
		} else if n < b.failFirst {
			status = b.failStatus
		}
		b.attempts = append(b.attempts, attempt{key: key, header: r.Header.Clone(), body: body, status: status})
		b.mu.Unlock()
		n32 := b.active.Add(1)
		for peak := b.peak.Load(); n32 > peak && !b.peak.CompareAndSwap(peak, n32); peak = b.peak.Load() {
		}
		time.Sleep(b.delay)
		b.active.Add(-1)
		w.WriteHeader(status)
	}))
	t.Cleanup(b.Close)
	return b
}

// byKey groups the attempts by Idempotency-Key.
func (b *backend) byKey() map[string][]attempt {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]attempt{}
	for _, a := range b.attempts {
		out[a.key] = append(out[a.key], a)
	}
	return out
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.attempts)
}

func httpReaction(ns, name, url string, mutate func(*livev1alpha1.BattleReactionSpec)) *livev1alpha1.BattleReaction {
	rx := &livev1alpha1.BattleReaction{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       livev1alpha1.BattleReactionSpec{HTTP: livev1alpha1.HTTPAction{URL: url + "/battles"}},
	}
	if mutate != nil {
		mutate(&rx.Spec)
	}
	return rx
}

// recordOf returns the reaction's record on the named BattleResult, from the API server.
func recordOf(ctx context.Context, ns, battleResult, rx string) (*livev1alpha1.ReactionRecord, error) {
	var br livev1alpha1.BattleResult
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: battleResult}, &br); err != nil {
		return nil, err
	}
	for i := range br.Status.Reactions {
		if br.Status.Reactions[i].Reaction == rx {
			return &br.Status.Reactions[i], nil
		}
	}
	return nil, fmt.Errorf("BattleResult %s has no record of %s yet", battleResult, rx)
}

// waitForDeliveries waits until the reaction's status shows these counts and nothing being
// recorded, and returns it.
func waitForDeliveries(t *testing.T, rx *livev1alpha1.BattleReaction, delivered, failed int64) *livev1alpha1.BattleReaction {
	t.Helper()
	var got *livev1alpha1.BattleReaction
	eventually(t, fmt.Sprintf("%s: %d delivered, %d failed", rx.Name, delivered, failed), func(ctx context.Context) error {
		var err error
		if got, err = getReaction(ctx, rx); err != nil {
			return err
		}
		d := got.Status.Deliveries
		if d == nil || d.Delivered != delivered || d.Failed != failed || d.InFlight != 0 || len(d.Recording) != 0 {
			return fmt.Errorf("deliveries %+v", d)
		}
		return nil
	})
	return got
}

// TestHTTPReactionDeliversEachRunOnce: an EachRoom HTTP reaction whose backend refuses the
// first two attempts of every request gets each room delivered once, after retries under one
// Idempotency-Key per room, with the headers of its spec and of a Secret, the battle as JSON,
// and one record on the BattleResult.
func TestHTTPReactionDeliversEachRunOnce(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	up := newBackend(t, 2, http.StatusServiceUnavailable)
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: app.namespace, Name: "backend-token"}, Data: map[string][]byte{"token": []byte("Bearer s3cret")}}
	if err := k8sClient.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	rx := createReaction(t, httpReaction(app.namespace, "notify-rooms", up.URL, func(s *livev1alpha1.BattleReactionSpec) {
		s.RunFor = livev1alpha1.RunForEachRoom
		s.Match.Outcomes = []livev1alpha1.Outcome{livev1alpha1.OutcomeWin}
		s.HTTP.Headers = []livev1alpha1.HTTPHeader{
			{Name: "X-Team", Value: ptr.To("growth")},
			{Name: "Authorization", ValueFrom: livev1alpha1.HeaderSource{SecretKeyRef: livev1alpha1.SecretKeyRef{Name: "backend-token", Key: "token"}}},
		}
	}))
	app.send(t, testutil.Fixture(t, "end-battle-four-rooms.json"))
	app.send(t, testutil.Fixture(t, "end-battle-draw.json")) // does not match
	got := waitForDeliveries(t, rx, 4, 0)
	app.send(t, testutil.Fixture(t, "end-battle-four-rooms.json")) // a repeated callback sends nothing
	waitIdle(t)

	fourRooms := battle.Name(fixtureBattleIDs["end-battle-four-rooms.json"])
	keys := up.byKey()
	if len(keys) != 4 {
		t.Fatalf("%d Idempotency-Keys, want one per room (4)", len(keys))
	}
	rooms := map[string]bool{}
	for key, attempts := range keys {
		if len(attempts) != 3 || attempts[2].status != 200 {
			t.Errorf("key %s: %d attempts, want 2 refused then 1 delivered", key, len(attempts))
		}
		var body struct {
			Reaction, Namespace, BattleResult, IdempotencyKey string
			Battle                                            livev1alpha1.BattleResultSpec
			Room                                              livev1alpha1.BattleRoom
		}
		if err := json.Unmarshal(attempts[0].body, &body); err != nil {
			t.Fatal(err)
		}
		if want := reaction.IdempotencyKey(got.UID, fourRooms, &body.Room); key != want || body.IdempotencyKey != key {
			t.Errorf("key %s, body's %s, want %s for room %s", key, body.IdempotencyKey, want, body.Room.RoomID)
		}
		if body.Reaction != "notify-rooms" || body.Namespace != app.namespace || body.BattleResult != fourRooms || len(body.Battle.Rooms) != 4 {
			t.Errorf("body %s", attempts[0].body)
		}
		rooms[string(body.Room.RoomID)] = true
		for _, a := range attempts {
			if a.header.Get("Authorization") != "Bearer s3cret" || a.header.Get("X-Team") != "growth" || a.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", a.header)
			}
			if string(a.body) != string(attempts[0].body) {
				t.Errorf("a retry's body differs")
			}
		}
	}
	if len(rooms) != 4 {
		t.Errorf("rooms sent: %v", rooms)
	}
	rec, err := recordOf(ctx, app.namespace, fourRooms, "notify-rooms")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Delivered != 4 || rec.Failed != 0 || rec.Jobs != 0 || rec.UID != string(got.UID) {
		t.Errorf("record %+v, want 4 delivered", rec)
	}
	if got.Status.LastFired == nil || got.Status.LastFired.BattleResult != fourRooms || got.Status.WaitingBattles != 0 {
		t.Errorf("lastFired %+v, waiting %d", got.Status.LastFired, got.Status.WaitingBattles)
	}
	if n := up.count(); n != 12 {
		t.Errorf("%d attempts in all, want 12", n)
	}
}

// TestHTTPReactionRecordsAFailure: a run refused for longer than retryFor, and one refused
// for good (400), are recorded as failed with the last status, counted once, and not sent
// again; the TencentCallback format sends what Tencent sent.
func TestHTTPReactionRecordsAFailure(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	ctx := context.Background()
	flaky := newBackend(t, 1000, http.StatusBadGateway)
	refusing := newBackend(t, 1000, http.StatusBadRequest)
	slow := createReaction(t, httpReaction(app.namespace, "gives-up", flaky.URL, func(s *livev1alpha1.BattleReactionSpec) {
		s.HTTP.RetryForSeconds = ptr.To[int32](1)
		s.HTTP.Format = livev1alpha1.HTTPFormatTencentCallback
	}))
	refused := createReaction(t, httpReaction(app.namespace, "refused", refusing.URL, nil))
	app.send(t, testutil.Fixture(t, "end-battle-caller-wins.json"))
	waitForDeliveries(t, slow, 0, 1)
	waitForDeliveries(t, refused, 0, 1)
	waitIdle(t)

	name := battle.Name(fixtureBattleIDs["end-battle-caller-wins.json"])
	for _, tc := range []struct {
		rx       string
		up       *backend
		status   int32
		attempts func(int) bool
	}{{"gives-up", flaky, 502, func(n int) bool { return n >= 3 }}, {"refused", refusing, 400, func(n int) bool { return n == 1 }}} {
		rec, err := recordOf(ctx, app.namespace, name, tc.rx)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Delivered != 0 || rec.Failed != 1 || rec.LastStatus != tc.status || !strings.Contains(rec.LastError, fmt.Sprint(tc.status)) {
			t.Errorf("%s: record %+v, want failed with %d", tc.rx, rec, tc.status)
		}
		if n := tc.up.count(); !tc.attempts(n) {
			t.Errorf("%s: %d attempts", tc.rx, n)
		}
	}

	// The TencentCallback body decodes to the battle the receiver stored.
	var br livev1alpha1.BattleResult
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: app.namespace, Name: name}, &br); err != nil {
		t.Fatal(err)
	}
	slowRx, err := getReaction(ctx, slow)
	if err != nil {
		t.Fatal(err)
	}
	body := flaky.byKey()[reaction.IdempotencyKey(slowRx.UID, name, nil)]
	if len(body) == 0 {
		t.Fatalf("no attempt under the run's key")
	}
	parsed, err := battle.Parse(body[0].body)
	if err != nil {
		t.Fatal(err)
	}
	if cmd, _ := parsed.Command(); cmd != battle.CommandEndBattle {
		t.Errorf("command %q", cmd)
	}
	e, err := parsed.EndBattle()
	if err != nil {
		t.Fatal(err)
	}
	if diff := battle.Differences(br.Spec, battle.Spec(e, battle.Delivery{})); len(diff) > 0 {
		t.Errorf("the Tencent body differs in %v", diff)
	}
}

// TestHTTPReactionGoesOnPastABattleItCannotSend: a BattleResult written by hand whose
// unknown members are not a JSON object cannot become a Tencent callback body: its run is
// recorded as failed, and the battles after it are delivered.
func TestHTTPReactionGoesOnPastABattleItCannotSend(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	up := newBackend(t, 0, 0)
	rx := createReaction(t, httpReaction(app.namespace, "past-a-bad-one", up.URL, func(s *livev1alpha1.BattleReactionSpec) {
		s.HTTP.Format = livev1alpha1.HTTPFormatTencentCallback
	}))
	bad := &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Namespace: app.namespace, Name: "br-by-hand"},
		Spec: livev1alpha1.BattleResultSpec{BattleID: "by-hand", SDKAppID: app.id, Winners: []livev1alpha1.RoomID{}, ExtraFields: `["not an object"]`,
			EndReason: livev1alpha1.EndReasonNeverStarted, Outcome: livev1alpha1.OutcomeNoContest, RoomCount: 1,
			Rooms: []livev1alpha1.BattleRoom{{RoomID: "a", Result: livev1alpha1.RoomResultNoContest, Rank: 1}}}}
	if err := k8sClient.Create(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	waitForDeliveries(t, rx, 1, 1)
	rec, err := recordOf(context.Background(), app.namespace, bad.Name, rx.Name)
	if err != nil || rec.Failed != 1 || !strings.Contains(rec.LastError, "not a JSON object") {
		t.Fatalf("the hand-written battle's record %+v (%v), want failed, saying why", rec, err)
	}
}

// TestHTTPReactionAcrossRestarts: a run whose backend is down when the manager stops is sent
// by the next manager under the same key and recorded once; a third manager sends nothing.
func TestHTTPReactionAcrossRestarts(t *testing.T) {
	app := newTestApp(t)
	up := newBackend(t, 0, 0)
	up.down.Store(true)
	rx := createReaction(t, httpReaction(app.namespace, "survives", up.URL, nil))
	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	eventually(t, "a refused attempt", func(context.Context) error {
		if up.count() < 2 {
			return fmt.Errorf("%d attempts", up.count())
		}
		return nil
	})
	got, err := getReaction(context.Background(), rx)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Status.Deliveries; d == nil || d.InFlight != 1 {
		t.Errorf("deliveries while retrying: %+v, want 1 in flight", d)
	}
	stopManager()
	up.down.Store(false)
	before := up.count()
	if err := startManager(); err != nil {
		t.Fatal(err)
	}
	waitForDeliveries(t, rx, 1, 0)
	waitIdle(t)
	keys := up.byKey()
	want := reaction.IdempotencyKey(got.UID, battle.Name(fixtureBattleIDs["end-battle-draw.json"]), nil)
	if len(keys) != 1 || len(keys[want]) <= before || keys[want][len(keys[want])-1].status != 200 {
		t.Fatalf("attempts by key: %d keys; want every attempt under %s, the last delivered", len(keys), want)
	}

	stopManager()
	delivered := up.count()
	if err := startManager(); err != nil {
		t.Fatal(err)
	}
	app.send(t, testutil.Fixture(t, "end-battle-draw.json"))
	waitIdle(t)
	if n := up.count(); n != delivered {
		t.Fatalf("%d attempts after the restart of a recorded battle, want none", n-delivered)
	}
	waitForDeliveries(t, rx, 1, 0)
}

// TestHTTPReactionSuspendAndInFlightLimit: a suspended HTTP reaction sends nothing and counts
// the battles waiting; resumed, it sends them with at most maxRunningJobs requests at once,
// also for a battle with more rooms than that.
func TestHTTPReactionSuspendAndInFlightLimit(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	up := newBackend(t, 0, 0)
	up.delay = 200 * time.Millisecond
	rx := createReaction(t, httpReaction(app.namespace, "limited", up.URL, func(s *livev1alpha1.BattleReactionSpec) {
		s.RunFor, s.MaxRunningJobs, s.Suspend = livev1alpha1.RunForEachRoom, 2, true
	}))
	app.send(t, testutil.Fixture(t, "end-battle-four-rooms.json"))
	app.send(t, testutil.Fixture(t, "end-battle-caller-wins.json"))
	eventually(t, "two battles waiting", func(ctx context.Context) error {
		got, err := getReaction(ctx, rx)
		if err == nil && got.Status.WaitingBattles != 2 {
			err = fmt.Errorf("waiting %d", got.Status.WaitingBattles)
		}
		return err
	})
	if n := up.count(); n != 0 {
		t.Fatalf("a suspended reaction sent %d requests", n)
	}
	// The gauge sums the reactions in the manager's cache, which may still be behind the
	// status just read from the API server.
	eventually(t, "the waiting gauge at 2", func(context.Context) error {
		if n := waitingGauge(t, app.namespace); n != 2 {
			return fmt.Errorf("battleops_reaction_waiting_battles{namespace=%q} = %v, want 2", app.namespace, n)
		}
		return nil
	})
	setSuspend(t, rx, false)
	got := waitForDeliveries(t, rx, 6, 0)
	if peak := up.peak.Load(); peak > 2 || peak < 1 {
		t.Errorf("%d requests at once, want at most maxRunningJobs (2)", peak)
	}
	if n := up.count(); n != 6 || got.Status.WaitingBattles != 0 {
		t.Errorf("%d requests, %d waiting; want 6 (one per room), 0", n, got.Status.WaitingBattles)
	}
}

// TestHTTPReactionCountedButNotRecordedAtStop: a manager stops after the reaction's status
// counted a delivered battle and before its record was written; the next manager writes the
// record from the status and does not send the battle again.
func TestHTTPReactionCountedButNotRecordedAtStop(t *testing.T) {
	app := newTestApp(t)
	up := newBackend(t, 0, 0)
	rx := createReaction(t, httpReaction(app.namespace, "counted", up.URL, nil))
	name := battle.Name(fixtureBattleIDs["end-battle-caller-wins.json"])
	held, release := holdRecord(t, app.namespace, name)
	app.send(t, testutil.Fixture(t, "end-battle-caller-wins.json"))
	<-held
	got, err := getReaction(context.Background(), rx)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Status.Deliveries; d == nil || d.Delivered != 1 || len(d.Recording) != 1 || d.Recording[0].BattleResult != name {
		t.Fatalf("deliveries while the record is held: %+v, want 1 delivered and the battle being recorded", d)
	}
	stopManager() // the held record gives up with the manager's context
	release()
	beforeRecord.Store(nil)
	if _, err := recordOf(context.Background(), app.namespace, name, rx.Name); err == nil {
		t.Fatal("the battle was recorded although its record was held until the manager stopped")
	}
	// The next manager writes the record, then finds the battle due on a store that does not
	// show the record yet. The store catches up before the reconcile goes on: the battle is
	// still not sent again.
	var caughtUp atomic.Bool
	catchUp := func(ctx context.Context, store *battlestore.Store, due []*livev1alpha1.BattleResult) {
		if !slices.ContainsFunc(due, func(br *livev1alpha1.BattleResult) bool { return br.Namespace == app.namespace && br.Name == name }) {
			return
		}
		for ctx.Err() == nil {
			if br, ok := store.Get(app.namespace, name); ok && reaction.Recorded(br, rx.Name, string(rx.UID)) {
				caughtUp.Store(true)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	afterDue.Store(&catchUp)
	t.Cleanup(func() { afterDue.Store(nil) })
	if err := startManager(); err != nil {
		t.Fatal(err)
	}
	waitForDeliveries(t, rx, 1, 0)
	eventually(t, "the record", func(ctx context.Context) error {
		rec, err := recordOf(ctx, app.namespace, name, rx.Name)
		if err == nil && rec.Delivered != 1 {
			err = fmt.Errorf("record %+v", rec)
		}
		return err
	})
	waitIdle(t)
	if n := up.count(); n != 1 {
		t.Fatalf("the backend got %d requests, want 1: a counted battle was sent again", n)
	}
	// Whether the store was behind the record when the battle was found due depends on when
	// its watch delivered the record; it mostly is.
	t.Logf("the store caught up with the record between due and sending: %v", caughtUp.Load())
}

// TestHTTPReactionSpecIsValidated: the API server refuses a reaction with both or neither of
// jobTemplate and http, a URL that is not http(s), a header with both or neither of value and
// valueFrom, and a header the operator sets itself.
func TestHTTPReactionSpecIsValidated(t *testing.T) {
	t.Parallel()
	ns := newTestApp(t).namespace
	for name, mutate := range map[string]func(*livev1alpha1.BattleReactionSpec){
		"both": func(s *livev1alpha1.BattleReactionSpec) {
			s.JobTemplate = newReaction(ns, "x", nil).Spec.JobTemplate
		},
		"neither":      func(s *livev1alpha1.BattleReactionSpec) { s.HTTP = livev1alpha1.HTTPAction{} },
		"ftp URL":      func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.URL = "ftp://example.com/x" },
		"relative URL": func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.URL = "/battles" },
		"header both": func(s *livev1alpha1.BattleReactionSpec) {
			s.HTTP.Headers = []livev1alpha1.HTTPHeader{{Name: "A", Value: ptr.To("1"), ValueFrom: livev1alpha1.HeaderSource{SecretKeyRef: livev1alpha1.SecretKeyRef{Name: "s", Key: "k"}}}}
		},
		"header neither": func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.Headers = []livev1alpha1.HTTPHeader{{Name: "A"}} },
		"operator's header": func(s *livev1alpha1.BattleReactionSpec) {
			s.HTTP.Headers = []livev1alpha1.HTTPHeader{{Name: "Idempotency-Key", Value: ptr.To("1")}}
		},
		"header name": func(s *livev1alpha1.BattleReactionSpec) {
			s.HTTP.Headers = []livev1alpha1.HTTPHeader{{Name: "Bad Name", Value: ptr.To("1")}}
		},
		"timeout too long": func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.TimeoutSeconds = 3600 },
		"retryFor too long": func(s *livev1alpha1.BattleReactionSpec) {
			s.HTTP.RetryForSeconds = ptr.To[int32](30 * 24 * 3600)
		},
		"unknown body format": func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.Format = "XML" },
	} {
		rx := httpReaction(ns, "invalid", "http://backend.example.com", mutate)
		err := k8sClient.Create(context.Background(), rx)
		if !apierrors.IsInvalid(err) {
			t.Errorf("%s: created (%v), want refused as invalid", name, err)
		}
	}
	ok := httpReaction(ns, "valid", "https://backend.example.com:8443", nil)
	if err := k8sClient.Create(context.Background(), ok); err != nil {
		t.Fatalf("a valid HTTP reaction: %v", err)
	}
	var stored livev1alpha1.BattleReaction
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(ok), &stored); err != nil {
		t.Fatal(err)
	}
	// A reaction does not switch between sending requests and running Jobs.
	eventually(t, "switching http to jobTemplate refused", func(ctx context.Context) error {
		switched, err := getReaction(ctx, ok)
		if err != nil {
			return err
		}
		switched.Spec.HTTP = livev1alpha1.HTTPAction{}
		switched.Spec.JobTemplate = newReaction(ns, "x", nil).Spec.JobTemplate
		switch err := k8sClient.Update(ctx, switched); {
		case apierrors.IsConflict(err):
			return err // the controller wrote the status meanwhile
		case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "cannot switch"):
			t.Fatalf("switching http to jobTemplate: %v, want refused as invalid", err)
		}
		return nil
	})
	if h := stored.Spec.HTTP; h.Format != livev1alpha1.HTTPFormatBattle || h.TimeoutSeconds != 5 || h.RetryForSeconds == nil || *h.RetryForSeconds != 600 {
		t.Errorf("defaults: %+v", h)
	}
}

// waitingGauge reads battleops_reaction_waiting_battles for a namespace from the registry.
func waitingGauge(t *testing.T, namespace string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "battleops_reaction_waiting_battles" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == namespace {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
