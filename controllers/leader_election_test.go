package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/battleops/battle-operator/internal/receiver"
)

// replica is one manager process as cmd/main.go wires it, with leader election on and its
// receiver serving whether it leads or not. It counts the controllers' writes (everything but
// the receiver's BattleResult creates).
type replica struct {
	mgr     ctrl.Manager
	url     string
	writes  atomic.Int64
	stop    context.CancelFunc
	stopped chan error
}

func startReplica(t *testing.T, app *testApp, leaseNamespace string) *replica {
	t.Helper()
	r := &replica{stopped: make(chan error, 1)}
	countWrite := func(obj client.Object) {
		if _, ok := obj.(*livev1alpha1.BattleResult); !ok {
			r.writes.Add(1)
		}
	}
	mgr, err := ctrl.NewManager(testCfg, ctrl.Options{
		Scheme:                  testScheme,
		Cache:                   CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		Controller:              config.Controller{SkipNameValidation: ptr.To(true)},
		LeaderElection:          true,
		LeaderElectionID:        "battle-operator-test",
		LeaderElectionNamespace: leaseNamespace,
		// Short terms, so a crashed leader's lease runs out within the test.
		LeaseDuration: ptr.To(3 * time.Second),
		RenewDeadline: ptr.To(2 * time.Second),
		RetryPeriod:   ptr.To(250 * time.Millisecond),
		NewClient: func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts) // reads from the cache as client.New does
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, interceptor.Funcs{
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					countWrite(obj)
					return c.Create(ctx, obj, opts...)
				},
				Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
					countWrite(obj)
					return c.Delete(ctx, obj, opts...)
				},
				Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
					countWrite(obj)
					return c.Patch(ctx, obj, patch, opts...)
				},
				SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
					r.writes.Add(1)
					return c.SubResource(sub).Update(ctx, obj, opts...)
				},
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
					r.writes.Add(1)
					return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
				},
			}), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := Setup(ctx, mgr); err != nil {
		cancel()
		t.Fatal(err)
	}
	h, err := receiver.NewHandler(receiver.Options{
		Path: "/callback", Apps: map[string]string{app.id: app.namespace},
		MaxBodyBytes: 1 << 20, Timeout: 1500 * time.Millisecond,
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: discardRecorder{},
		Log: ctrl.Log.WithName("receiver"),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/callback?SdkAppid=" + app.id + "&CallbackCommand=Live.CallbackAfterEndBattle&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
	r.mgr, r.stop = mgr, cancel
	go func() { r.stopped <- mgr.Start(ctx) }()
	t.Cleanup(func() { r.crash() })
	return r
}

// crash stops the replica without giving up its lease, as a killed process would.
func (r *replica) crash() {
	if r.stop != nil {
		r.stop()
		<-r.stopped
		r.stop = nil
	}
}

func (r *replica) leads() bool {
	select {
	case <-r.mgr.Elected():
		return true
	default:
		return false
	}
}

// TestTwoReplicasOneLeader: two managers against one control plane both accept callbacks; only
// the leader reconciles; when it dies the other takes over; no battle is lost or counted twice,
// and no reaction Job runs twice.
func TestTwoReplicasOneLeader(t *testing.T) {
	stopManager() // the suite's manager would reconcile too
	t.Cleanup(func() {
		if err := startManager(); err != nil {
			t.Error(err)
		}
	})
	app := newTestApp(t)
	createReaction(t, newReaction(app.namespace, "every-battle", func(s *livev1alpha1.BattleReactionSpec) {
		s.StartingAfter = &metav1Time0
		s.SuccessfulJobsHistoryLimit = ptr.To[int32](1000)
	}))

	a := startReplica(t, app, app.namespace)
	eventually(t, "replica a to lead", func(context.Context) error {
		if !a.leads() {
			return fmt.Errorf("not elected yet")
		}
		return nil
	})
	b := startReplica(t, app, app.namespace)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	var battles []randomBattle
	sendTo := func(rep *replica, b randomBattle) {
		(&testApp{url: rep.url}).send(t, b.body())
	}
	// Phase one: battles to both replicas, each also delivered to the other.
	for i := range 40 {
		bt := newRandomBattle(rng, i)
		battles = append(battles, bt)
		sendTo([]*replica{a, b}[i%2], bt)
		sendTo([]*replica{a, b}[(i+1)%2], bt)
	}
	waitForStats(t, app, bruteForce(battles))
	waitForJobCount(t, app.namespace, "every-battle", len(battles))
	if b.leads() {
		t.Fatal("replica b leads while a does")
	}
	if n := b.writes.Load(); n != 0 {
		t.Errorf("the standby replica wrote %d times; only the leader may reconcile", n)
	}
	if a.writes.Load() == 0 {
		t.Errorf("the leader wrote nothing")
	}

	// Phase two: the leader dies; battles keep arriving at the survivor, which takes over.
	a.crash()
	for i := 40; i < 70; i++ {
		bt := newRandomBattle(rng, i)
		battles = append(battles, bt)
		sendTo(b, bt)
	}
	sendTo(b, battles[0]) // and a repeat of an old one
	eventually(t, "replica b to take over", func(context.Context) error {
		if !b.leads() {
			return fmt.Errorf("not elected yet")
		}
		return nil
	})
	waitForStats(t, app, bruteForce(battles))
	waitForJobCount(t, app.namespace, "every-battle", len(battles))
	if b.writes.Load() == 0 {
		t.Errorf("the new leader wrote nothing")
	}
	// Every battle fired once: one Job per BattleResult, each recorded once.
	var brs livev1alpha1.BattleResultList
	if err := k8sClient.List(context.Background(), &brs, client.InNamespace(app.namespace)); err != nil {
		t.Fatal(err)
	}
	for _, br := range brs.Items {
		if len(br.Status.Reactions) != 1 || br.Status.Reactions[0].Jobs != 1 {
			t.Errorf("BattleResult %s records %+v, want one firing of one Job", br.Name, br.Status.Reactions)
		}
	}
	if len(brs.Items) != len(battles) {
		t.Errorf("%d BattleResults for %d battles", len(brs.Items), len(battles))
	}
}

var metav1Time0 = metav1.NewTime(time.Unix(0, 0))

// waitForJobCount waits until the reaction has exactly n Jobs, each for a distinct battle.
func waitForJobCount(t *testing.T, ns, name string, n int) {
	t.Helper()
	eventually(t, "the reaction's Jobs", func(ctx context.Context) error {
		jobs, err := reactionJobs(ctx, ns, name)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, j := range jobs {
			br := j.Labels[reaction.LabelBattleResult]
			if seen[br] {
				return fmt.Errorf("two Jobs for %s", br)
			}
			seen[br] = true
		}
		if len(jobs) != n {
			return fmt.Errorf("%d Jobs, want %d", len(jobs), n)
		}
		return nil
	})
}
