package controllers

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/battleops/battle-operator/internal/testutil"
)

// managerProcess is bin/manager running as its own process, as a replica of the Deployment.
type managerProcess struct {
	*testutil.ManagerProcess
	log *testutil.SyncBuffer
}

// startManagerProcess starts bin/manager for app, with leader election in the app's namespace
// and the flags args added.
func startManagerProcess(t *testing.T, binary, kubeconfig string, app *testApp, args ...string) *managerProcess {
	t.Helper()
	log := &testutil.SyncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := testutil.StartManager(ctx, binary, testutil.ManagerOptions{Output: log, Args: append([]string{"--kubeconfig", kubeconfig,
		"--sdk-app-id", app.id + "=" + app.namespace,
		"--watch-namespaces", app.namespace,
		"--leader-elect", "--leader-election-namespace", app.namespace, "--leader-election-id", "battle-operator-processes",
		// A short lease: the standby takes over 3 s after the leader's death, not 10 s.
		"--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=500ms"}, args...)})
	if err != nil {
		t.Fatalf("%v; its log:\n%s", err, log.String())
	}
	p := &managerProcess{ManagerProcess: m, log: log}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("manager %s log:\n%s", p.Callback, log.String())
		}
	})
	return p
}

// post sends a battle to the process's receiver and returns the answer's status and how long
// it took; no answer fails the test.
func (p *managerProcess) post(t *testing.T, app *testApp, b randomBattle) (int, time.Duration) {
	t.Helper()
	began := time.Now()
	resp, err := http.Post(testutil.CallbackURL(p.Callback, app.id), "application/json", bytes.NewReader(b.body()))
	if err != nil {
		t.Fatalf("the receiver did not answer: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, time.Since(began)
}

// receiverFor is app with its callbacks sent to the process's receiver.
func (p *managerProcess) receiverFor(app *testApp) *testApp {
	return &testApp{id: app.id, namespace: app.namespace, url: testutil.CallbackURL(p.Callback, app.id)}
}

// waitIdle waits until the process has nothing to do (testutil.WaitQuiet).
func (p *managerProcess) waitIdle(t *testing.T) {
	t.Helper()
	testutil.WaitQuiet(t, func() (float64, float64, error) {
		running, err := p.counter("controller_runtime_active_workers")
		if err != nil {
			return 0, 0, err
		}
		ended, err := p.counter("controller_runtime_reconcile_total")
		return running, ended, err
	})
}

// counter reads one metric (summed over its label sets) from the process's metrics.
func (p *managerProcess) counter(name string) (float64, error) {
	sums, err := testutil.ScrapeSums(p.Metrics)
	return sums[name], err
}

// TestTwoManagerProcesses: two bin/manager processes with --leader-elect against one control
// plane. Both answer callbacks; only the leader writes RoomStats; kill it (SIGKILL, no lease
// handed over) and the other takes over; no battle is lost or counted twice, and no reaction
// Job runs twice.
var (
	processesOnce                sync.Once
	processBinary, processConfig string
	processesErr                 error
)

// managerBuild is the manager binary of the process tests, built in the background from the
// suite's start (startManagerBuild), so that the build overlaps the control plane's start-up.
var managerBuild = struct {
	done   chan struct{}
	binary string
	err    error
}{done: make(chan struct{})}

// startManagerBuild builds the manager into dir, in the background; managerBuild.done closes
// when it is done.
func startManagerBuild(dir string) {
	go func() {
		defer close(managerBuild.done)
		managerBuild.binary, managerBuild.err = testutil.BuildManager(dir)
	}()
}

// forManagerProcesses takes the manager binary built for the package and gives its path and
// an admin kubeconfig. The test runs in parallel with the others: its processes reconcile
// only its namespace (newProcessApp), which the in-process manager leaves out.
func forManagerProcesses(t *testing.T) (binary, kubeconfig string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the manager binary")
	}
	t.Parallel()
	processesOnce.Do(func() {
		<-managerBuild.done
		if managerBuild.err != nil {
			processesErr = managerBuild.err
			return
		}
		processBinary, processConfig = managerBuild.binary, filepath.Join(filepath.Dir(managerBuild.binary), "kubeconfig")
		admin, err := testEnv.AddUser(envtest.User{Name: "processes-admin", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			processesErr = err
			return
		}
		config, err := admin.KubeConfig()
		if err != nil {
			processesErr = err
			return
		}
		processesErr = os.WriteFile(processConfig, config, 0o600)
	})
	if processesErr != nil {
		t.Fatal(processesErr)
	}
	return processBinary, processConfig
}

func TestTwoManagerProcesses(t *testing.T) {
	binary, kubeconfig := forManagerProcesses(t)
	app := newProcessApp(t)
	createReaction(t, newReaction(app.namespace, "every-battle", func(s *livev1alpha1.BattleReactionSpec) {
		s.StartingAfter = &metav1Time0
		s.SuccessfulJobsHistoryLimit = ptr.To[int32](1000)
	}))
	p := []*managerProcess{startManagerProcess(t, binary, kubeconfig, app), startManagerProcess(t, binary, kubeconfig, app)}
	send := func(m *managerProcess, b randomBattle) {
		m.receiverFor(app).send(t, b.body())
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 13))
	// A battle in a namespace of the in-process manager: out of the processes' scope.
	newTestApp(t).send(t, newRandomBattle(rng, 99).body())
	var battles []randomBattle
	for i := range 30 { // each battle to one replica, and again to the other
		b := newRandomBattle(rng, i)
		battles = append(battles, b)
		send(p[i%2], b)
		send(p[(i+1)%2], b)
	}
	waitForStats(t, app, bruteForce(battles))
	waitForJobCount(t, app.namespace, "every-battle", len(battles))

	// Exactly one of them wrote the statistics and created the Jobs.
	var leader, standby *managerProcess
	for i, m := range p {
		writes, err := m.counter("battleops_roomstats_writes_total")
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := m.counter("battleops_reaction_jobs_created_total")
		if err != nil {
			t.Fatal(err)
		}
		created, err := m.counter("battleops_battleresults_created_total")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("manager %d: %v RoomStats writes, %v Jobs created, %v BattleResults created", i, writes, jobs, created)
		if created == 0 {
			t.Errorf("manager %d stored no battle: every replica must receive", i)
		}
		switch {
		case writes > 0 && jobs == float64(len(battles)) && leader == nil:
			leader = m
		case writes == 0 && jobs == 0:
			standby = m
		}
	}
	if leader == nil || standby == nil {
		t.Fatal("want one leader that wrote everything and one standby that wrote nothing")
	}
	// The standby built the reaction's index before it leads (indexWarmer): once, and not
	// again once it leads.
	var warmScans float64
	testutil.Eventually(t, time.Minute, "the standby to build the reaction's index", func(context.Context) error {
		var err error
		if warmScans, err = standby.counter("battleops_reaction_scans_total"); err == nil && warmScans != 1 {
			err = fmt.Errorf("the standby scanned %v times, want once", warmScans)
		}
		return err
	})

	// More battles arrive at both replicas, and the leader dies in the middle of them (its
	// Jobs, records and statistics for them half done), without handing over its lease;
	// battles keep coming to the standby.
	for i := 30; i < 40; i++ {
		b := newRandomBattle(rng, i)
		battles = append(battles, b)
		send(p[i%2], b)
	}
	if err := leader.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 40; i < 50; i++ {
		b := newRandomBattle(rng, i)
		battles = append(battles, b)
		send(standby, b)
	}
	send(standby, battles[3])
	send(standby, battles[35])
	// The lease runs out, the standby leads and catches up: every battle acknowledged is
	// stored once, has exactly one Job, and is counted exactly.
	testutil.Eventually(t, time.Minute, "the survivor to take over", func(context.Context) error {
		jobs, err := standby.counter("battleops_reaction_jobs_created_total")
		if err != nil {
			return err
		}
		if jobs < 10 {
			return fmt.Errorf("the survivor created %v Jobs, want at least the 10 sent after the death", jobs)
		}
		return nil
	})
	waitForStats(t, app, bruteForce(battles))
	waitForJobCount(t, app.namespace, "every-battle", len(battles))
	if scans, err := standby.counter("battleops_reaction_scans_total"); err != nil || scans != warmScans {
		t.Errorf("the survivor scanned the namespace %v times in all (%v), want only the %v scan it made while standing by", scans, err, warmScans)
	}
	var list livev1alpha1.BattleResultList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(app.namespace)); err != nil || len(list.Items) != len(battles) {
		t.Fatalf("%d BattleResults (%v), want %d", len(list.Items), err, len(battles))
	}

	// Scopes: the processes hold their namespace's battles only (--watch-namespaces), and only
	// they wrote its RoomStats (the in-process manager leaves the namespace out).
	if held, err := standby.counter("battleops_battleresults_stored"); err != nil || held != float64(len(battles)) {
		t.Errorf("the survivor's store holds %v battles (%v), want its namespace's %d and no other's", held, err, len(battles))
	}
	var rooms livev1alpha1.RoomStatsList
	if err := k8sClient.List(context.Background(), &rooms, client.InNamespace(app.namespace)); err != nil {
		t.Fatal(err)
	}
	for _, rs := range rooms.Items {
		for _, f := range rs.ManagedFields {
			if f.Manager != filepath.Base(binary) {
				t.Errorf("RoomStats %s was written by %s too, not only by the manager processes (%s)", rs.Name, f.Manager, filepath.Base(binary))
			}
		}
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

// proxiedKubeconfig is kubeconfig with the API server behind a proxy the test controls.
func proxiedKubeconfig(t *testing.T, kubeconfig string) (string, *testutil.Proxy) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var proxy *testutil.Proxy
	for _, cluster := range cfg.Clusters {
		u, err := url.Parse(cluster.Server)
		if err != nil {
			t.Fatal(err)
		}
		proxy = testutil.NewProxy(t, u.Host)
		cluster.Server = "https://" + proxy.Addr
	}
	proxied := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, proxied); err != nil {
		t.Fatal(err)
	}
	return proxied, proxy
}

// TestReceiverOutlivesAnAPIOutage: with leader election on, the API server unreachable (down,
// then hung) for longer than the renew deadline (2 s here) makes the leader lose the lead. The process goes on: its
// receiver answers every callback in time (503: nothing stored, nothing acknowledged), and
// once the API server is back the controllers lead again and count the battles stored.
func TestReceiverOutlivesAnAPIOutage(t *testing.T) {
	binary, kubeconfig := forManagerProcesses(t)
	app := newProcessApp(t)

	// The manager reaches the API server through a proxy the test takes down.
	proxied, proxy := proxiedKubeconfig(t, kubeconfig)
	m := startManagerProcess(t, binary, proxied, app)
	post := func(b randomBattle) (int, time.Duration) { return m.post(t, app, b) }
	rng := rand.New(rand.NewPCG(7, 11))
	var stored []randomBattle
	first := newRandomBattle(rng, 0)
	if status, _ := post(first); status != http.StatusOK {
		t.Fatalf("before the outage: %d", status)
	}
	stored = append(stored, first)
	waitForStats(t, app, bruteForce(stored))

	// Down (connections refused), then hung (connections accepted, never answered).
	proxy.Set(testutil.ProxyDown)
	outage, hung := time.Now(), false
	answers, slowest := map[int]int{}, time.Duration(0)
	// Until the lead is lost (renew deadline 2 s), and at least 4 s.
	for i := 1; time.Since(outage) < 4*time.Second || !strings.Contains(m.log.String(), "Lost the lead"); i++ {
		if !hung && time.Since(outage) > 2*time.Second {
			proxy.Set(testutil.ProxyHung)
			hung = true
		}
		if time.Since(outage) > 20*time.Second {
			t.Fatalf("the manager did not lose the lead in 20 s of outage")
		}
		b := newRandomBattle(rng, i)
		status, took := post(b)
		answers[status]++
		slowest = max(slowest, took)
		if status == http.StatusOK {
			stored = append(stored, b) // acknowledged: it must be there
		}
		select {
		case <-m.Exited():
			t.Fatalf("the manager exited during the outage")
		default:
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("during an outage of %v: answers %v, the slowest in %v", time.Since(outage).Round(time.Millisecond), answers, slowest)
	if slowest > 2*time.Second {
		t.Errorf("an answer took %v during the outage; Tencent waits 2 s", slowest)
	}
	if answers[http.StatusServiceUnavailable] == 0 {
		t.Errorf("answers during the outage: %v, want 503s", answers)
	}

	proxy.Set(testutil.ProxyUp)
	last := newRandomBattle(rng, 1000)
	eventually(t, "a battle stored after the outage", func(context.Context) error {
		if status, _ := post(last); status != http.StatusOK {
			return fmt.Errorf("answered %d", status)
		}
		return nil
	})
	stored = append(stored, last)
	// The controllers lead again: the statistics count every battle acknowledged.
	waitForStats(t, app, bruteForce(stored))
	if n, err := m.counter("battleops_leader_lost_total"); err != nil || n < 1 {
		t.Errorf("battleops_leader_lost_total = %v (%v), want at least 1", n, err)
	}
}

// TestSpoolSurvivesAManagerCrash: with --spool-dir, battles that arrive while the API server
// is unreachable are acknowledged; the manager is SIGKILLed with them in its spool, a new one
// starts on the same spool once the API server is back, and every battle acknowledged is
// stored once and counted exactly.
func TestSpoolSurvivesAManagerCrash(t *testing.T) {
	binary, kubeconfig := forManagerProcesses(t)
	app := newProcessApp(t)
	proxied, proxy := proxiedKubeconfig(t, kubeconfig)
	dir := t.TempDir()
	// A short store budget (the least a spool allows is over 600 ms): each battle tries the
	// API server for 400 ms (the budget less 300 ms) before it is spooled, not 1.2 s.
	m := startManagerProcess(t, binary, proxied, app, "--spool-dir", dir, "--callback-timeout=700ms")
	rng := rand.New(rand.NewPCG(17, 19))
	var battles []randomBattle
	proxy.Set(testutil.ProxyDown)
	slowest := time.Duration(0)
	for i := range 10 {
		b := newRandomBattle(rng, i)
		status, took := m.post(t, app, b)
		if status != http.StatusOK {
			t.Fatalf("battle %d answered %d during the outage, want 200 (spooled)", i, status)
		}
		slowest = max(slowest, took)
		battles = append(battles, b)
	}
	t.Logf("10 battles spooled during the outage, the slowest answer in %v", slowest)
	// The replica stays ready while it spools: it answers, so it stays behind the Service.
	if resp, err := http.Get(m.Probe + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("readiness during the outage: %v %v, want 200", resp, err)
	} else {
		_ = resp.Body.Close()
	}
	if slowest > 2*time.Second {
		t.Errorf("an answer took %v; Tencent waits 2 s", slowest)
	}
	if n, err := m.counter("battleops_spooled_total"); err != nil || n != 10 {
		t.Fatalf("battleops_spooled_total = %v (%v), want 10", n, err)
	}
	if err := m.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-m.Exited()

	proxy.Set(testutil.ProxyUp)
	next := startManagerProcess(t, binary, proxied, app, "--spool-dir", dir)
	waitForStats(t, app, bruteForce(battles))
	if n, err := next.counter("battleops_spool_replayed_total"); err != nil || n != 10 {
		t.Errorf("battleops_spool_replayed_total = %v (%v), want 10", n, err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 { // refused/ only
		t.Errorf("the spool holds %v (%v), want only its refused/ directory, empty", entries, err)
	}
}
