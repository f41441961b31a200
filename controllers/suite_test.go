package controllers

// The controllers' integration tests run against a real kube-apiserver and etcd (envtest),
// started once for the package, with the manager running the controllers and the callback
// receiver as cmd/main.go wires them. `make test` builds the control plane and sets
// KUBEBUILDER_ASSETS.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/battleops/battle-operator/internal/battlestore"
	"github.com/battleops/battle-operator/internal/delivery"
	"github.com/battleops/battle-operator/internal/receiver"
	"github.com/battleops/battle-operator/internal/testutil"
)

var (
	testScheme = testutil.Scheme()
	testCfg    *rest.Config
	testEnv    *envtest.Environment
	k8sClient  client.Client
	nextAppID  atomic.Int64
	// stopManager stops the running manager and waits for it; restartable by startManager.
	stopManager func()
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	testutil.SetLogger()
	nextAppID.Store(1400000000)

	// The process tests' manager binary builds while the control plane starts.
	buildDir, err := os.MkdirTemp("", "battle-operator-processes-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	startManagerBuild(buildDir)
	defer func() {
		<-managerBuild.done
		_ = os.RemoveAll(buildDir)
	}()
	env, cfg, c, err := testutil.StartEnv(testScheme)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testutil.StopEnv(env)
	testEnv, testCfg, k8sClient = env, cfg, c
	if err := startManager(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { stopManager() }()
	return m.Run()
}

// startManager starts a manager running the controllers, as cmd/main.go wires them.
func startManager() error {
	// HTTP reactions retry within a test's patience: 50 ms doubling, at most 200 ms apart.
	sender := delivery.NewSender("battle-operator-test")
	sender.First, sender.Max = 50*time.Millisecond, 200*time.Millisecond
	// Retention is tested with manager processes.
	opts := Options{Scope: inProcessScope(), Sender: sender}
	mgr, err := ctrl.NewManager(testCfg, ctrl.Options{
		Scheme:                 testScheme,
		Cache:                  opts.CacheOptions(),
		Client:                 ClientOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The tests restart the manager: a new one registers the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := Setup(ctx, mgr, opts); err != nil {
		cancel()
		return err
	}
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	var once sync.Once
	stopManager = func() {
		once.Do(func() {
			cancel()
			if err := <-stopped; err != nil {
				fmt.Fprintf(os.Stderr, "manager: %v\n", err)
			}
		})
	}
	return nil
}

// testApp is one SDKAppID with a namespace of its own and a receiver in front of the real API
// server, so battles reach the controllers exactly as they do in production.
type testApp struct {
	id        string
	namespace string
	url       string
}

func newTestApp(t testing.TB) *testApp {
	t.Helper()
	return newTestAppIn(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "battles-"}})
}

// processNamespaces are the namespaces of the tests of manager processes (newProcessApp). The
// in-process manager leaves them out of its scope, and each process watches only its own
// (--watch-namespaces), so those tests run alongside the in-process ones.
var (
	processNamespaces    = reservedNamespaces("processes", 24) // five tests, -count up to 4
	nextProcessNamespace atomic.Int64
)

// reservedNamespaces are n namespace names, new to this run of the tests.
func reservedNamespaces(prefix string, n int) []string {
	run := strconv.FormatUint(rand.Uint64()%(1<<30), 36)
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%s-%d", prefix, run, i)
	}
	return out
}

// inProcessScope is what the in-process manager reconciles: every namespace but the process
// tests'.
func inProcessScope() battlestore.Scope {
	var not []fields.Selector
	for _, ns := range processNamespaces {
		not = append(not, fields.OneTermNotEqualSelector("metadata.namespace", ns))
	}
	return battlestore.Scope{Fields: fields.AndSelectors(not...)}
}

// newProcessApp is a testApp in a namespace of its own that the in-process manager leaves to
// the test's manager processes.
func newProcessApp(t testing.TB) *testApp {
	t.Helper()
	i := int(nextProcessNamespace.Add(1)) - 1
	if i >= len(processNamespaces) {
		t.Fatalf("more tests of manager processes than processNamespaces (%d): reserve more", len(processNamespaces))
	}
	return newTestAppIn(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: processNamespaces[i]}})
}

// newTestAppIn is a testApp whose battles go to the namespace ns, created here.
func newTestAppIn(t testing.TB, ns *corev1.Namespace) *testApp {
	t.Helper()
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	app := &testApp{id: fmt.Sprint(nextAppID.Add(1)), namespace: ns.Name}
	mgrless, err := client.New(testCfg, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	h, err := receiver.NewHandler(receiver.Options{
		Path: "/callback", Apps: map[string]string{app.id: ns.Name},
		MaxBodyBytes: 1 << 20, Timeout: 1500 * time.Millisecond,
		Client: mgrless, Reader: mgrless, Recorder: discardRecorder{},
		Log: ctrl.Log.WithName("receiver"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first create of a kind in a namespace can take seconds on a fresh API server; the
	// manager warms up before it reports ready, and so do the tests.
	if err := h.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	app.url = testutil.CallbackURL(srv.URL, app.id)
	return app
}

// discardRecorder drops Events: the receiver's Events are tested in its own package.
type discardRecorder struct{}

func (discardRecorder) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {
}

// waitIdle waits until the in-process manager has nothing to do (testutil.WaitQuiet).
func waitIdle(t *testing.T) {
	t.Helper()
	testutil.WaitQuiet(t, reconciles)
}

// reconciles are the in-process manager's reconciles running now and ended so far, from
// controller-runtime's metrics.
func reconciles() (running, ended float64, err error) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return 0, 0, err
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "controller_runtime_active_workers":
				running += m.GetGauge().GetValue()
			case "controller_runtime_reconcile_total":
				ended += m.GetCounter().GetValue()
			}
		}
	}
	return running, ended, nil
}

// waitStartedThenIdle waits, after startManager, until the new manager has ended a reconcile
// (its caches synced and it acted on what it found), then until it is idle: what it would do
// after a restart, it has done.
func waitStartedThenIdle(t *testing.T, endedBefore float64) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, "the restarted manager to reconcile", func(context.Context) error {
		if _, ended, err := reconciles(); err != nil || ended <= endedBefore {
			return fmt.Errorf("reconciles ended: %v, as before the restart (%v)", ended, err)
		}
		return nil
	})
	waitIdle(t)
}

// nextSecond waits until the clock is in a later second than when it was called: the API
// server's timestamps (arrivals, edits) have a one-second resolution, so what is stamped after
// it returns is stamped later than anything stamped before the call. 0.5 s on average, where a
// fixed sleep would need 1.1 s.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
}
