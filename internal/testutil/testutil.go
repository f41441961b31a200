// Package testutil holds what the project's tests share: the repository's root, the callback
// fixtures, free local addresses, polling with a deadline, and the control plane that envtest
// runs (a real kube-apiserver and etcd, built by hack/build-controlplane.sh).
package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// Root is the repository's root directory, found from this file's own path, so it does not
// depend on the directory a test runs in.
func Root() string {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		panic("testutil: no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FixtureDir is the directory of the callback bodies the tests send (test/fixtures).
func FixtureDir() string { return filepath.Join(Root(), "test", "fixtures") }

// Fixture is the body of the named callback fixture.
func Fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	body, err := os.ReadFile(filepath.Join(FixtureDir(), name))
	if err != nil {
		tb.Fatalf("reading fixture: %v", err)
	}
	return body
}

// Fixtures lists the names of the callback fixtures, sorted; it fails the test when there are
// none.
func Fixtures(tb testing.TB) []string {
	tb.Helper()
	entries, err := os.ReadDir(FixtureDir())
	if err != nil {
		tb.Fatalf("reading %s: %v", FixtureDir(), err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		tb.Fatalf("no fixtures in %s", FixtureDir())
	}
	slices.Sort(names)
	return names
}

// EndBattleQuery is the query Tencent appends for a battle-end callback of app.
func EndBattleQuery(app string) string {
	return "SdkAppid=" + app + "&CallbackCommand=Live.CallbackAfterEndBattle&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
}

// CallbackURL is the URL of a battle-end callback of app to the receiver at base (its scheme
// and host), on the receiver's default path.
func CallbackURL(base, app string) string { return base + "/callback?" + EndBattleQuery(app) }

// FreeAddrs is n distinct local addresses (127.0.0.1:port) that were free a moment ago.
func FreeAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	addrs, err := ListenAddrs(n)
	if err != nil {
		tb.Fatal(err)
	}
	return addrs
}

// ListenAddrs is FreeAddrs for code without a testing.TB. The ports are listened on all at
// once, so no two of them are the same.
func ListenAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer func() { _ = l.Close() }()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// Within polls done every interval until it says true, for at most limit, and returns its
// last answer: the caller says what was not done.
func Within(limit, interval time.Duration, done func(ctx context.Context) bool) bool {
	return wait.PollUntilContextTimeout(context.Background(), interval, limit, true, func(ctx context.Context) (bool, error) {
		return done(ctx), nil
	}) == nil
}

// Eventually polls check every 100 ms until it returns nil, and fails the test with its last
// error when limit passes first.
func Eventually(tb testing.TB, limit time.Duration, what string, check func(ctx context.Context) error) {
	tb.Helper()
	var last error
	if !Within(limit, 100*time.Millisecond, func(ctx context.Context) bool {
		err := check(ctx)
		if err == nil || ctx.Err() == nil {
			last = err // keep the last error that is not the poll's own timeout
		}
		return err == nil
	}) {
		tb.Fatalf("%s: %v", what, last)
	}
}

// StopEnv stops the control plane that StartEnv started, and says so on stderr if it could not.
func StopEnv(env *envtest.Environment) {
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the control plane: %v\n", err)
	}
}

// WaitQuiet waits until a manager is idle: sample gives how many reconciles run now
// (controller_runtime_active_workers) and how many have ended so far
// (controller_runtime_reconcile_total); idle is none running and none ended over three polls
// 100 ms apart, so what a reconcile enqueues has been taken up. It is how a test sees that
// nothing more happens, without a fixed sleep. (Queue depth is not used: a queue that was
// shut down with items, by a manager a test stopped, leaves its depth gauge behind.) Items
// waiting for a RequeueAfter are not counted.
func WaitQuiet(tb testing.TB, sample func() (running, ended float64, err error)) {
	tb.Helper()
	quiet, last := 0, -1.0
	Eventually(tb, 30*time.Second, "the manager to be idle", func(context.Context) error {
		running, ended, err := sample()
		if err != nil {
			return err
		}
		if running > 0 || ended != last {
			quiet, last = 0, ended
			return fmt.Errorf("%v reconciles running, %v ended so far", running, ended)
		}
		if quiet++; quiet < 3 {
			return errors.New("idle; looking again")
		}
		return nil
	})
}

// Scheme is a scheme with Kubernetes' built-in kinds and battle-operator's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(livev1alpha1.AddToScheme(s))
	return s
}

// SetLogger sends controller-runtime's logs to stderr, in development form when TEST_VERBOSE
// is set.
func SetLogger() {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(os.Getenv("TEST_VERBOSE") != "")))
}

// StartEnv starts the control plane in KUBEBUILDER_ASSETS with the project's CRDs
// (config/crd/bases), each configure applied first (e.g. etcd flags), and a client for it
// with scheme. The config has no client-side
// throttling, as ctrl.GetConfigOrDie. Stop the environment when done.
func StartEnv(scheme *runtime.Scheme, configure ...func(*envtest.Environment)) (*envtest.Environment, *rest.Config, client.Client, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, nil, nil, errors.New("KUBEBUILDER_ASSETS is not set: run these tests with `make test`, which builds kube-apiserver and etcd and sets it")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	for _, c := range configure {
		c(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("starting the control plane: %w", err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, nil, nil, fmt.Errorf("creating a client: %w", err)
	}
	return env, cfg, c, nil
}
