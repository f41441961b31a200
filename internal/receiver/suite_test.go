package receiver

// The receiver's integration tests run against a real kube-apiserver and etcd (envtest),
// started once for the package. `make test` builds them from source and sets
// KUBEBUILDER_ASSETS.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/battleops/battle-operator/internal/testutil"
)

var (
	testScheme   = testutil.Scheme()
	testCfg      *rest.Config
	k8sClient    client.Client
	testRecorder events.EventRecorder
	// managerURL is the callback URL of the receiver the manager runs (app managerAppID).
	managerURL    string
	managerServer *Server
	nextAppID     atomic.Int64
)

const managerAppID = "1400000001"

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

// sharedAPIEnv passes the suite's API server to the fuzzing workers: `go test -fuzz` runs
// the fuzz target in child processes, which start with TestMain too. Each starting an API
// server of its own, whose processes inherit the worker's output, kept the coordinator waiting
// for a worker it had stopped; they use the suite's instead.
const sharedAPIEnv = "BATTLEOPS_RECEIVER_TEST_API"

// sharedAPI is what a worker needs to reach the suite's API server.
type sharedAPI struct {
	Host           string
	CA, Cert, Key  []byte
	NextAppIDStart int64
}

func runSuite(m *testing.M) int {
	testutil.SetLogger()
	nextAppID.Store(1400000100)

	if shared := os.Getenv(sharedAPIEnv); shared != "" && isFuzzWorker() {
		return runFuzzWorker(m, shared)
	}
	env, cfg, c, err := testutil.StartEnv(testScheme)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testutil.StopEnv(env)
	testCfg, k8sClient = cfg, c
	shared, err := json.Marshal(sharedAPI{Host: cfg.Host, CA: cfg.CAData, Cert: cfg.CertData, Key: cfg.KeyData, NextAppIDStart: 1400500000})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Setenv(sharedAPIEnv, string(shared)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	// The manager, wired as cmd/main.go wires it, serving the receiver for managerAppID.
	mgr, err := ctrl.NewManager(testCfg, ctrl.Options{
		Scheme:                 testScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating the manager: %v\n", err)
		return 1
	}
	testRecorder = mgr.GetEventRecorder("battle-receiver")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "battles-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		fmt.Fprintf(os.Stderr, "creating a namespace: %v\n", err)
		return 1
	}
	managerNamespace = ns.Name
	handler, err := NewHandler(Options{
		Path: "/callback", Apps: map[string]string{managerAppID: ns.Name},
		MaxBodyBytes: 1 << 20, Timeout: 1500 * time.Millisecond,
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: testRecorder,
		Log: ctrl.Log.WithName("receiver"),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating the handler: %v\n", err)
		return 1
	}
	managerServer = &Server{Addr: "127.0.0.1:0", Handler: handler, Warmup: handler.Warm, Log: ctrl.Log.WithName("receiver")}
	addr, err := managerServer.Listen()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	managerURL = "http://" + addr.String() + "/callback"
	if err := mgr.Add(managerServer); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	}()
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return managerServer.Ready(nil) == nil, nil
	}); err != nil {
		fmt.Fprintf(os.Stderr, "the receiver did not start: %v\n", err)
		return 1
	}
	return m.Run()
}

// managerNamespace holds the BattleResults of managerAppID.
var managerNamespace string

// testReceiver is a receiver for one test: a fresh namespace and SDKAppID of its own, so the
// tests run in parallel. Those that are not parallel read a metric of the whole package as a
// difference (callbacks by result, duplicates, token reloads), or time an answer against
// Tencent's 2 seconds; Go runs them before the parallel ones, each alone.
type testReceiver struct {
	url       string
	appID     string
	namespace string
	handler   *Handler
}

// newTestReceiver starts a receiver with the given options (Path, Apps, Client, Reader,
// Recorder and Log filled in when empty) behind an httptest server.
func newTestReceiver(t testing.TB, opts Options) *testReceiver {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "battles-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	appID := fmt.Sprint(nextAppID.Add(1))
	if opts.Path == "" {
		opts.Path = "/callback"
	}
	if opts.Apps == nil {
		opts.Apps = map[string]string{appID: ns.Name}
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Timeout == 0 {
		opts.Timeout = 1500 * time.Millisecond
	}
	if opts.MaxSkew == 0 {
		opts.MaxSkew = 60 * time.Second
	}
	if opts.Client == nil {
		opts.Client = k8sClient
	}
	if opts.Reader == nil {
		opts.Reader = k8sClient
	}
	if opts.Recorder == nil {
		opts.Recorder = testRecorder
	}
	opts.Log = ctrl.Log.WithName("receiver").WithName(t.Name())
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testReceiver{url: srv.URL + opts.Path, appID: appID, namespace: ns.Name, handler: h}
}

// tencentClient waits as Tencent does: 2 seconds for the answer.
var tencentClient = &http.Client{Timeout: 2 * time.Second}

// isFuzzWorker says whether this process is a fuzzing worker of `go test -fuzz`.
func isFuzzWorker() bool {
	for _, arg := range os.Args {
		if strings.HasPrefix(arg, "-test.fuzzworker") {
			return true
		}
	}
	return false
}

// runFuzzWorker runs the fuzz target against the suite's API server (sharedAPIEnv).
func runFuzzWorker(m *testing.M, shared string) int {
	var api sharedAPI
	if err := json.Unmarshal([]byte(shared), &api); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testCfg = &rest.Config{Host: api.Host, TLSClientConfig: rest.TLSClientConfig{CAData: api.CA, CertData: api.Cert, KeyData: api.Key}, QPS: -1}
	c, err := client.New(testCfg, client.Options{Scheme: testScheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	k8sClient = c
	nextAppID.Store(api.NextAppIDStart + int64(os.Getpid()%1000)*100)
	testRecorder = &events.FakeRecorder{} // drops Events: the fuzz target asserts none
	return m.Run()
}
