//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/reaction"
	"github.com/battleops/battle-operator/internal/testutil"
)

// BenchmarkHistory measures how the operator's cost grows with the number of BattleResults
// stored (GitHub issue 9). It starts a real kube-apiserver and etcd (envtest) and the manager
// binary as its own process, with ten BattleReactions in the namespace (one for the battles
// of room match-me, nine that match nothing). Every battle has three rooms: a hot room in
// every battle and two of 2,000 others. For each step of HISTORY_STEPS it fills the history
// up to that many BattleResults by creating them straight in the API server, waits for the
// manager to catch up, then sends HISTORY_BATTLES battles through the receiver (one in
// histMatchEvery with match-me) and prints one row: ingest, answer latency, how long after
// the last answer the hot room's RoomStats is exact, callback→Job latency, the manager's
// memory and CPU, the API server's CPU, and etcd's size. With HISTORY_FAILOVER it then restarts the manager with the whole history.
//
// The whole run happens once, whatever b.N. No figure fails it; only a broken set-up does.
// It needs KUBEBUILDER_ASSETS, and far more than go test's default 10-minute -timeout for the
// default steps: it measures the steps that fit and says which it left out.
//
//	KUBEBUILDER_ASSETS=$(hack/build-controlplane.sh) go test -run '^$' -bench BenchmarkHistory -benchtime 1x -timeout 0 ./test/e2e
//
// Settings (environment): HISTORY_STEPS (0,10000,30000,50000,100000), HISTORY_BATTLES (10000:
// each step's battles take the history from `stored` to 10,000 more, so the steps at 0 and
// 50,000 measure ingest over the ranges issue 9 names, 0–10,000 and 50,000–60,000),
// HISTORY_SENDERS (32), HISTORY_RATE (callbacks offered per second; 0, the default, sends as
// fast as the senders get answers), HISTORY_LOADERS (32), HISTORY_CEILING (3000 creates; 0 skips),
// HISTORY_FAILOVER (1), HISTORY_BUDGET (10m, the cap of each load, settle and measurement),
// HISTORY_MANAGER (a prebuilt manager binary instead of go build ./cmd), HISTORY_OUT (a file
// that gets the progress and the table too), HISTORY_PROFILES (a directory that gets the
// manager's and the API server's heap profiles after each step, heap-<stored>.pb.gz and
// heap-apiserver-<stored>.pb.gz, and CPU profiles (HISTORY_PROFILE_SECONDS, 10) of the
// manager and the API server at the start of each measurement, cpu-manager-<stored>.pb.gz and
// cpu-apiserver-<stored>.pb.gz, for go tool pprof), HISTORY_APISERVER_ARGS (more kube-apiserver
// flags, e.g. --feature-gates=DetectCacheInconsistency=false).
func BenchmarkHistory(b *testing.B) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		b.Skip("KUBEBUILDER_ASSETS is not set: run `make bench`, or set it to the folder hack/build-controlplane.sh prints")
	}
	if historyRan {
		return // once per process, whatever b.N
	}
	historyRan = true
	cfg, err := loadHistConfig()
	if err != nil {
		b.Fatal(err)
	}
	h := &historyRun{b: b, cfg: cfg, began: time.Now(), out: []io.Writer{os.Stdout}, progress: []io.Writer{os.Stderr},
		loadBefore: loadAverage()}
	if d := testTimeout(); d > 0 {
		h.deadline = h.began.Add(d - 90*time.Second) // leave time to print and to stop everything
	}
	h.setup(assets)
	h.run()
	h.report()
	if h.ceiling > 0 {
		b.ReportMetric(h.ceiling, "ceiling-creates/s")
	}
}

var historyRan bool

type historyRun struct {
	b             *testing.B
	cfg           histConfig
	began         time.Time
	deadline      time.Time // zero: no go test -timeout
	out, progress []io.Writer

	dir        string
	env        *envtest.Environment
	restConfig *rest.Config // the admin's, for the API server's own endpoints
	c          client.WithWatch
	binary     string
	args       []string // the manager's flags but its addresses
	retention  string   // the retention flags passed, if the manager has them
	scoped     bool     // the manager watches histNamespace only: the ceiling can be measured beside it
	pprof      bool     // the manager has --pprof-bind-address
	mgr        *histManager
	mgrLog     string
	hotName    string
	jobs       *seenSet // reaction Jobs of the matching reaction, by BattleResult, when first seen
	next       int      // the number of the next battle
	stored     int      // BattleResults in the namespace
	assetsNote string
	assets     string // the folder of the control plane's binaries
	loadBefore string // the machine's load average when the run began

	ceiling     float64  // creates/s, before the history
	ceilings    []string // each measurement of the ceiling, described
	ceilingNext int      // the number of the next battle of the ceiling's creates
	rows        []histRow
	failover    []string
	notes       []string
}

// span is the history the row's battles were measured over: stored when they began → when
// they ended (the battles measured add to it).
func (r histRow) span() string {
	if r.ok == 0 {
		return fmtCount(r.stored)
	}
	return fmtCount(r.stored) + " → " + fmtCount(r.stored+r.sent)
}

// histRow is one step's figures.
type histRow struct {
	target, stored   int
	loaded           int
	ceiling          float64 // the API server's direct creates/s at this step, before the measurement (0: not measured)
	loadTook         time.Duration
	settleTook       time.Duration
	sent, ok, failed int
	ingest           float64
	p50, p99         time.Duration
	hotExact         time.Duration
	hotOK            bool
	hotGot, hotWant  int
	jobP99           time.Duration
	jobsSeen         int
	jobsWant         int
	cpuPer1000       float64
	apiserverPer1000 float64 // the API server's CPU seconds per 1,000 battles measured (0: not read)
	window           time.Duration
	rss, peak        int64
	etcdTotal        int64
	etcdInUse        int64
	capped           bool
	loadavg          string // the machine's load average after the measurement
	notes            []string
}

func (h *historyRun) logf(format string, args ...any) {
	line := fmt.Sprintf("history %s: %s\n", time.Since(h.began).Round(time.Second), fmt.Sprintf(format, args...))
	for _, w := range h.progress {
		_, _ = io.WriteString(w, line)
	}
}

// budget is a context that ends after d, or at go test's deadline if that comes first.
func (h *historyRun) budget(d time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(d)
	if !h.deadline.IsZero() && h.deadline.Before(end) {
		end = h.deadline
	}
	return context.WithDeadline(context.Background(), end)
}

func (h *historyRun) fatalf(format string, args ...any) {
	h.b.Helper()
	msg := fmt.Sprintf(format, args...)
	if h.mgrLog != "" {
		msg += "\nmanager log (last lines):\n" + logTail(h.mgrLog, 40)
	}
	h.b.Fatal(msg)
}

func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// setup starts the control plane, builds (or takes) the manager binary and creates the namespaces.
func (h *historyRun) setup(assets string) {
	b := h.b
	h.dir = b.TempDir()
	h.mgrLog = filepath.Join(h.dir, "manager.log")
	if h.cfg.out != "" {
		f, err := os.Create(h.cfg.out)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() })
		h.out, h.progress = append(h.out, f), append(h.progress, f)
	}
	h.assets, h.assetsNote = assets, filepath.Base(assets)

	env, _, _, err := testutil.StartEnv(testutil.Scheme(), func(env *envtest.Environment) {
		for _, f := range h.cfg.apiserver {
			name, value, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			env.ControlPlane.GetAPIServer().Configure().Append(name, value)
		}
		// 100,000 battles and their statistics' revisions must not meet etcd's default 2 GiB quota.
		env.ControlPlane.Etcd = &envtest.Etcd{}
		env.ControlPlane.Etcd.Configure().Set("quota-backend-bytes", strconv.FormatInt(8<<30, 10))
	})
	if err != nil {
		b.Fatal(err)
	}
	h.env = env
	b.Cleanup(func() { testutil.StopEnv(env) })
	admin, err := h.env.AddUser(envtest.User{Name: "history-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		b.Fatal(err)
	}
	kubeconfigPath := filepath.Join(h.dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := rest.CopyConfig(admin.Config())
	cfg.QPS = -1 // no client-side throttling
	h.restConfig = cfg
	if h.c, err = client.NewWithWatch(cfg, client.Options{Scheme: testutil.Scheme()}); err != nil {
		b.Fatal(err)
	}

	h.binary = h.cfg.manager
	if h.binary == "" {
		h.logf("building the manager from %s", testutil.Root())
		if h.binary, err = testutil.BuildManager(h.dir); err != nil {
			b.Fatal(err)
		}
	}
	help, _ := exec.Command(h.binary, "-h").CombinedOutput() // -h exits 2 or 0; its text is what counts
	if !strings.Contains(string(help), "-sdk-app-id") {
		b.Fatalf("%s -h does not look like the manager's help:\n%s", h.binary, help)
	}
	// Log times to the nanosecond: the benchmark reads when each Job was created from the log.
	h.args = []string{"--kubeconfig", kubeconfigPath, "--sdk-app-id", histApp + "=" + histNamespace, "--zap-time-encoding=rfc3339nano"}
	var retention []string
	if strings.Contains(string(help), "-battle-retention") {
		retention = append(retention, "--battle-retention=0")
	}
	if strings.Contains(string(help), "-max-battle-results") {
		retention = append(retention, "--max-battle-results=0")
	}
	h.args = append(h.args, retention...)
	// A manager that watches the history's namespace only lets the ceiling be measured at
	// every step while it runs: the ceiling's creates, in a namespace of their own, are never
	// its work.
	if strings.Contains(string(help), "-watch-namespaces") {
		h.args = append(h.args, "--watch-namespaces="+histNamespace)
		h.scoped = true
	}
	h.pprof = strings.Contains(string(help), "-pprof-bind-address")
	h.retention = strings.Join(retention, " ")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ns := range []string{histNamespace, histCeilingNS} {
		if err := h.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
	}
	h.hotName = battle.RoomStatsName(histApp, histHotRoom)
}

func (h *historyRun) run() {
	h.ceilingNext = histCeilingFirst
	h.ceiling = h.measureCeiling("before the history (nothing stored)")
	h.createReactions()
	h.watchJobs()
	h.startManager()
	h.b.Cleanup(func() {
		if h.mgr != nil {
			h.mgr.stop()
		}
	})

	var last time.Duration
	for k, target := range h.cfg.steps {
		if !h.deadline.IsZero() {
			need := max(3*time.Minute, last*3/2)
			if time.Until(h.deadline) < need {
				h.notes = append(h.notes, fmt.Sprintf("steps not measured: %v; go test's -timeout ends the run first (use -timeout 0, or fewer HISTORY_STEPS)", h.cfg.steps[k:]))
				break
			}
		}
		began := time.Now()
		row := histRow{target: target}
		if target > h.stored {
			h.load(&row, target-h.stored)
		}
		h.settle(&row)
		if h.scoped {
			// The machine's speed moves between steps (other tenants share its cores): the
			// ceiling measured just before the step's battles tells a slower machine from a
			// dearer battle.
			row.ceiling = h.measureCeiling(fmt.Sprintf("at %s stored, the manager running and idle", fmtCount(h.stored)))
		}
		h.measure(&row)
		h.rows = append(h.rows, row)
		h.logf("row: %s", h.rowText(row))
		last = time.Since(began)
		if h.managerGone() {
			h.notes = append(h.notes, "THE MANAGER EXITED during the step at "+fmtCount(row.stored)+" stored; later steps not measured. Log tail:\n"+logTail(h.mgrLog, 40))
			return
		}
	}
	if h.cfg.failover && len(h.rows) > 0 {
		if !h.deadline.IsZero() && time.Until(h.deadline) < 8*time.Minute {
			h.notes = append(h.notes, "restart not measured: go test's -timeout ends the run first")
			return
		}
		h.restart()
	}
	if h.cfg.ceiling > 0 && (h.deadline.IsZero() || time.Until(h.deadline) > 3*time.Minute) {
		h.mgr.stop()
		h.measureCeiling(fmt.Sprintf("at the end (%s stored, the manager stopped)", fmtCount(h.stored)))
	}
}

// managerCPU is the running manager's CPU time so far; an error when none runs.
func (h *historyRun) managerCPU() (float64, error) {
	if h.mgr == nil || h.managerGone() {
		return 0, errors.New("no manager runs")
	}
	return h.mgr.cpuSeconds()
}

func (h *historyRun) managerGone() bool {
	select {
	case <-h.mgr.Exited():
		return true
	default:
		return false
	}
}

// createRetrying creates obj, retrying what may pass; an existing object is a success.
func createRetrying(ctx context.Context, c client.Client, obj client.Object) error {
	delay := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := c.Create(ctx, obj.DeepCopyObject().(client.Object))
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if attempt >= 8 || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

type createRun struct {
	handed, created, failed int
	elapsed                 time.Duration
	latencies               []time.Duration
	firstErr                error
}

// directCreate creates battles from, from+1, … (n of them) in ns with cfg.loaders workers,
// as the receiver would store them, until done or ctx ends.
func (h *historyRun) directCreate(ctx context.Context, ns string, from, n int) createRun {
	var (
		next atomic.Int64
		mu   sync.Mutex
		r    createRun
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range h.cfg.loaders {
		wg.Go(func() {
			var lat []time.Duration
			created, failed := 0, 0
			var firstErr error
			for ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= n {
					break
				}
				obj, err := histObject(ns, from+k)
				if err == nil {
					t := time.Now()
					err = createRetrying(ctx, h.c, obj)
					lat = append(lat, time.Since(t))
				}
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				created++
			}
			mu.Lock()
			defer mu.Unlock()
			r.created += created
			r.failed += failed
			r.latencies = append(r.latencies, lat...)
			if r.firstErr == nil {
				r.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.handed = min(n, int(next.Load()))
	return r
}

// measureCeiling creates cfg.ceiling BattleResults straight in the API server, in a
// namespace of their own that no manager watches (the manager is stopped, or watches
// histNamespace only), and deletes them afterwards. It is measured before the history is
// filled, before each step's battles when the manager watches histNamespace only, and again
// at the end, with the whole history stored and the manager stopped.
func (h *historyRun) measureCeiling(when string) (rate float64) {
	if h.cfg.ceiling == 0 {
		return 0
	}
	from := h.ceilingNext
	h.ceilingNext += h.cfg.ceiling + 1
	ctx, cancel := h.budget(h.cfg.phaseBudget)
	defer cancel()
	// The API server builds a custom resource's storage on its first request: not part of it.
	warm, err := histObject(histCeilingNS, from-1)
	if err != nil {
		h.b.Fatal(err)
	}
	if err := h.c.Create(ctx, warm, client.DryRunAll); err != nil {
		h.b.Fatalf("dry-run create of a BattleResult: %v", err)
	}
	h.logf("measuring the API server's ceiling %s: %d direct creates, %d workers", when, h.cfg.ceiling, h.cfg.loaders)
	plane0 := h.controlPlaneWork()
	mgrCPU0, mgrErr := h.managerCPU()
	r := h.directCreate(ctx, histCeilingNS, from, h.cfg.ceiling)
	work := h.controlPlaneWork().since(plane0, max(r.created, 1), "creates")
	if mgrCPU1, err := h.managerCPU(); err == nil && mgrErr == nil {
		// What a manager that should be idle spent meanwhile: its work competes with the creates.
		work += fmt.Sprintf(", the manager %.2f s", (mgrCPU1-mgrCPU0)/float64(max(r.created, 1))*1000)
	}
	if r.created == 0 {
		h.b.Fatalf("the ceiling's creates all failed: %v", r.firstErr)
	}
	rate = float64(r.created) / r.elapsed.Seconds()
	line := fmt.Sprintf("%.0f BattleResults/s %s (p99 %s; %s)", rate, when, fmtDur(percentile(r.latencies, 0.99)), work)
	if r.failed > 0 {
		line += fmt.Sprintf(" (%d creates failed: %v)", r.failed, r.firstErr)
	}
	h.ceilings = append(h.ceilings, line)
	h.logf("ceiling: %s", line)
	if err := h.c.DeleteAllOf(ctx, &livev1alpha1.BattleResult{}, client.InNamespace(histCeilingNS)); err != nil {
		h.b.Fatalf("deleting the ceiling's BattleResults: %v", err)
	}
	return rate
}

// createReactions: one reaction for the battles of match-me, nine that match no battle of the
// workload (scores stay under 1,000, no battle is NeverStarted, no battle has 50 rooms).
func (h *historyRun) createReactions() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	million := int64(1_000_000)
	reactions := []struct {
		name  string
		match livev1alpha1.BattleMatch
	}{
		{histMatchReaction, livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{histMatchRoom}}},
		{"top-score-million", livev1alpha1.BattleMatch{MinTopScore: &million}},
		{"win-top-score-million", livev1alpha1.BattleMatch{Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeWin}, MinTopScore: &million}},
		{"timeup-top-score-million", livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonTimeUp}, MinTopScore: &million}},
		{"never-started", livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonNeverStarted}}},
		{"never-started-draw", livev1alpha1.BattleMatch{EndReasons: []livev1alpha1.EndReason{livev1alpha1.EndReasonNeverStarted}, Outcomes: []livev1alpha1.Outcome{livev1alpha1.OutcomeDraw}}},
		{"absent-room", livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"absent-room"}}},
		{"absent-rooms", livev1alpha1.BattleMatch{Rooms: []livev1alpha1.RoomID{"absent-1", "absent-2", "absent-3"}}},
		{"cel-score-million", livev1alpha1.BattleMatch{Expression: "battle.rooms.exists(r, r.score >= 1000000)"}},
		{"cel-fifty-rooms", livev1alpha1.BattleMatch{Expression: "battle.roomCount > 50"}},
	}
	for _, r := range reactions {
		rx := &livev1alpha1.BattleReaction{
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: histNamespace},
			Spec: livev1alpha1.BattleReactionSpec{
				Match: r.match,
				JobTemplate: &batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "react", Image: "busybox:1.36", Command: []string{"true"}}},
				}}}},
			},
		}
		if err := h.c.Create(ctx, rx); err != nil {
			h.b.Fatalf("creating BattleReaction %s: %v", r.name, err)
		}
	}
}

// seenSet records when each key was first seen.
type seenSet struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (s *seenSet) get(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[key]
	return t, ok
}

func (s *seenSet) add(key string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.at[key]; !ok {
		s.at[key] = t
	}
}

// watchJobs follows the Jobs of the matching reaction for the whole run, by BattleResult.
func (h *historyRun) watchJobs() {
	h.jobs = &seenSet{at: map[string]time.Time{}}
	sel := labels.SelectorFromSet(labels.Set{reaction.LabelReaction: reaction.LabelValue(histMatchReaction)})
	ctx, cancel := context.WithCancel(context.Background())
	h.b.Cleanup(cancel)
	rv := ""
	relist := func() error {
		var list batchv1.JobList
		if err := h.c.List(ctx, &list, &client.ListOptions{Namespace: histNamespace, LabelSelector: sel}); err != nil {
			return err
		}
		now := time.Now()
		for _, j := range list.Items {
			h.jobs.add(j.Labels[reaction.LabelBattleResult], now)
		}
		rv = list.ResourceVersion
		return nil
	}
	if err := relist(); err != nil {
		h.b.Fatalf("listing Jobs: %v", err)
	}
	go func() {
		for ctx.Err() == nil {
			w, err := h.c.Watch(ctx, &batchv1.JobList{}, &client.ListOptions{Namespace: histNamespace, LabelSelector: sel,
				Raw: &metav1.ListOptions{ResourceVersion: rv}})
			if err == nil {
				for ev := range w.ResultChan() {
					now := time.Now()
					if job, ok := ev.Object.(*batchv1.Job); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
						h.jobs.add(job.Labels[reaction.LabelBattleResult], now)
						rv = job.ResourceVersion
					}
				}
				w.Stop()
			}
			// The watch ended (a server timeout, an expired version): list again and go on.
			for ctx.Err() == nil {
				if err := relist(); err == nil {
					break
				}
				time.Sleep(time.Second)
			}
		}
	}()
}

func (h *historyRun) startManager() {
	ctx, cancel := h.budget(5 * time.Minute)
	defer cancel()
	m, err := startHistManager(ctx, h.binary, h.args, h.mgrLog, h.cfg.profiles != "" && h.pprof)
	if err != nil {
		h.fatalf("starting the manager: %v", err)
	}
	h.mgr = m
}

// countStored asks the API server how many BattleResults the namespace holds.
func (h *historyRun) countStored(ctx context.Context) (int, error) {
	var list livev1alpha1.BattleResultList
	if err := h.c.List(ctx, &list, client.InNamespace(histNamespace), client.Limit(1)); err != nil {
		return 0, err
	}
	switch {
	case list.RemainingItemCount != nil:
		return len(list.Items) + int(*list.RemainingItemCount), nil
	case list.Continue == "":
		return len(list.Items), nil
	}
	return 0, fmt.Errorf("the API server gave no remainingItemCount")
}

// load fills the history with n more battles, created straight in the API server.
func (h *historyRun) load(row *histRow, n int) {
	ctx, cancel := h.budget(h.cfg.phaseBudget)
	defer cancel()
	h.logf("loading %s BattleResults directly (%s → %s stored)", fmtCount(n), fmtCount(h.stored), fmtCount(h.stored+n))
	r := h.directCreate(ctx, histNamespace, h.next, n)
	h.next += r.handed
	h.stored += r.created
	if count, err := h.countStored(context.Background()); err == nil {
		h.stored = count // a create that timed out may have been stored all the same
	}
	row.loaded, row.loadTook = r.created, r.elapsed
	if r.created < n {
		row.capped = true
		row.notes = append(row.notes, fmt.Sprintf("loaded only %s of %s in %s (%d failed: %v)", fmtCount(r.created), fmtCount(n), fmtDur(r.elapsed), r.failed, r.firstErr))
	}
	h.logf("loaded %s in %s (%.0f/s)", fmtCount(r.created), fmtDur(r.elapsed), float64(r.created)/r.elapsed.Seconds())
}

func (h *historyRun) hotBattles(ctx context.Context) (int, error) {
	var rs livev1alpha1.RoomStats
	err := h.c.Get(ctx, client.ObjectKey{Namespace: histNamespace, Name: h.hotName}, &rs)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	return int(rs.Status.Battles), err
}

// waitIdle waits until the hot room counts every stored battle and the manager's queues and
// workers have been empty for four scrapes in a row (1.6 s). It reports what it last saw.
func (h *historyRun) waitIdle(ctx context.Context) (ok bool, hot int, busy float64) {
	idle := 0
	for {
		var err error
		hot, err = h.hotBattles(ctx)
		if err == nil {
			busy, err = h.mgr.busy()
		}
		if err == nil && hot == h.stored && busy == 0 {
			idle++
		} else {
			idle = 0
		}
		if idle >= 4 {
			return true, hot, busy
		}
		select {
		case <-ctx.Done():
			return false, hot, busy
		case <-h.mgr.Exited():
			return false, hot, busy
		case <-time.After(400 * time.Millisecond):
		}
	}
}

// settle waits for the manager to catch up with what was loaded before measuring.
func (h *historyRun) settle(row *histRow) {
	ctx, cancel := h.budget(h.cfg.phaseBudget)
	defer cancel()
	start := time.Now()
	ok, hot, busy := h.waitIdle(ctx)
	row.settleTook = time.Since(start)
	if !ok {
		row.capped = true
		row.notes = append(row.notes, fmt.Sprintf("the manager had not caught up with the load after %s (hot room %s of %s, %.0f queued or in work): measured anyway",
			fmtDur(row.settleTook), fmtCount(hot), fmtCount(h.stored), busy))
	}
	h.logf("settled in %s (caught up: %v)", fmtDur(row.settleTook), ok)
}

type histAnswer struct {
	br             string
	match          bool
	sent, answered time.Time
	status, code   int
	err            string
}

func (a *histAnswer) ok() bool { return a.err == "" && a.status == http.StatusOK && a.code == 0 }

// send posts battle i's callback and records its answer.
func (h *historyRun) send(hc *http.Client, i int, match bool, a *histAnswer) {
	a.br, a.match = battle.Name(histBattleID(i)), match
	a.sent = time.Now()
	resp, err := hc.Post(testutil.CallbackURL(h.mgr.Callback, histApp), "application/json", bytes.NewReader(histBody(i, match)))
	if err != nil {
		a.answered, a.err = time.Now(), err.Error()
		return
	}
	var answer struct{ ErrorCode int }
	decodeErr := json.NewDecoder(resp.Body).Decode(&answer)
	_ = resp.Body.Close()
	a.answered, a.status, a.code = time.Now(), resp.StatusCode, answer.ErrorCode
	if decodeErr != nil {
		a.err = "decoding the answer: " + decodeErr.Error()
	}
}

func newHistHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: 2 * conns}}
}

// measure sends cfg.battles battles through the receiver and fills the row.
func (h *historyRun) measure(row *histRow) {
	ctx, cancel := h.budget(h.cfg.phaseBudget)
	defer cancel()
	row.stored = h.stored
	n := h.cfg.battles
	h.logf("measuring at %s stored: %d battles through the receiver, %d senders", fmtCount(row.stored), n, h.cfg.senders)
	hc := newHistHTTPClient(h.cfg.senders)
	defer hc.CloseIdleConnections()

	cpu0, err := h.mgr.cpuSeconds()
	if err != nil {
		h.fatalf("reading the manager's CPU time: %v", err)
	}
	if h.cfg.profiles != "" {
		done := h.cpuProfiles(ctx)
		defer done()
	}
	checks0, checksErr := h.battleResultChecks(ctx)
	reconciles0, reconcilesErr := h.mgr.roomStatsReconciles(ctx)
	plane0 := h.controlPlaneWork()
	seenBattles, stopWatch := h.watchBattleResults(ctx)
	first := h.next
	answers := make([]histAnswer, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	// With HISTORY_RATE, a sender takes a tick before each callback, so the steps compare the
	// manager's work per battle at the same offered load instead of at each step's top speed.
	var ticks <-chan time.Time
	if h.cfg.rate > 0 {
		ticker := time.NewTicker(time.Second / time.Duration(h.cfg.rate))
		defer ticker.Stop()
		ticks = ticker.C
	}
	t0 := time.Now()
	for range h.cfg.senders {
		wg.Go(func() {
			for ctx.Err() == nil {
				if ticks != nil {
					select {
					case <-ticks:
					case <-ctx.Done():
						return
					}
				}
				k := int(next.Add(1)) - 1
				if k >= n {
					return
				}
				h.send(hc, first+k, k%histMatchEvery == 0, &answers[k])
			}
		})
	}
	wg.Wait()
	handed := min(n, int(next.Load()))
	h.next += handed
	answers = answers[:handed]
	if handed < n {
		row.capped = true
		row.notes = append(row.notes, fmt.Sprintf("sent only %s of %s battles within the budget", fmtCount(handed), fmtCount(n)))
	}

	var last time.Time
	var latencies []time.Duration
	var failures []string
	stored := map[string]*histAnswer{}
	for k := range answers {
		a := &answers[k]
		last = maxTime(last, a.answered)
		if a.ok() {
			latencies = append(latencies, a.answered.Sub(a.sent))
			stored[a.br] = a
			continue
		}
		row.failed++
		if len(failures) < 3 {
			failures = append(failures, strings.TrimSpace(fmt.Sprintf("HTTP %d ErrorCode %d %s", a.status, a.code, a.err)))
		}
		// A failed answer may still have stored the battle.
		var br livev1alpha1.BattleResult
		if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: histNamespace, Name: a.br}, &br); err == nil {
			stored[a.br] = a
		}
	}
	row.sent, row.ok = handed, len(latencies)
	h.stored += len(stored)
	if row.failed > 0 {
		row.notes = append(row.notes, fmt.Sprintf("%d of %d callbacks not answered OK, e.g. %s", row.failed, handed, strings.Join(failures, "; ")))
	}
	if row.ok > 0 {
		row.ingest = float64(row.ok) / last.Sub(t0).Seconds()
		row.p50, row.p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	}

	// The hot room is in every battle: exact once it counts every battle stored.
	row.hotWant = h.stored
	hotFirst, hotChanged := -1, last
	for {
		got, err := h.hotBattles(ctx)
		if err == nil && hotFirst < 0 {
			hotFirst = got
		} else if err == nil && got != row.hotGot {
			hotChanged = time.Now()
		}
		if err == nil {
			row.hotGot = got
		}
		if err == nil && got == h.stored {
			row.hotOK, row.hotExact = true, time.Since(last)
			break
		}
		if ctx.Err() != nil || h.managerGone() {
			row.capped = true
			row.hotExact = time.Since(last)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Every stored battle with match-me gets a Job of the matching reaction.
	var want []*histAnswer
	for _, a := range stored {
		if a.match {
			want = append(want, a)
		}
	}
	row.jobsWant = len(want)
	for {
		seen := 0
		for _, a := range want {
			if _, ok := h.jobs.get(a.br); ok {
				seen++
			}
		}
		row.jobsSeen = seen
		if seen == len(want) || ctx.Err() != nil || h.managerGone() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var jobLatencies []time.Duration
	for _, a := range want {
		if t, ok := h.jobs.get(a.br); ok {
			jobLatencies = append(jobLatencies, t.Sub(a.answered))
		}
	}
	row.jobP99 = percentile(jobLatencies, 0.99)
	// When the manager's create of each Job returned (its log): what the Job's path costs
	// without the benchmark's own watch of Jobs.
	if created, err := createdJobs(h.mgrLog); err != nil {
		row.notes = append(row.notes, "the manager's log of created Jobs could not be read: "+err.Error())
	} else {
		var createLatencies, calls, before []time.Duration
		for _, a := range want {
			if j, ok := created[a.br]; ok {
				createLatencies = append(createLatencies, j.at.Sub(a.answered))
				calls = append(calls, j.took)
				before = append(before, j.at.Sub(a.answered)-j.took)
			}
		}
		if len(createLatencies) > 0 {
			row.notes = append(row.notes, fmt.Sprintf("the manager's create of the Job returned %s (p50) and %s (p99) after the battle's answer (its log, %d Jobs): the create call itself took %s (p50) and %s (p99), and began %s (p50) and %s (p99) after the answer; the benchmark's watch saw the Jobs %s (p99) after",
				fmtDur(percentile(createLatencies, 0.50)), fmtDur(percentile(createLatencies, 0.99)), len(createLatencies),
				fmtDur(percentile(calls, 0.50)), fmtDur(percentile(calls, 0.99)), fmtDur(percentile(before, 0.50)), fmtDur(percentile(before, 0.99)), fmtDur(row.jobP99)))
		}
	}

	// When a watch of the benchmark's own saw each battle: a watch that falls behind delays
	// every controller, and one outside the manager tells whether the API server's watches
	// fall behind, not only the manager's.
	stopWatch()
	var watchLags []time.Duration
	for name, a := range stored {
		if t, ok := seenBattles.get(name); ok {
			watchLags = append(watchLags, t.Sub(a.answered))
		}
	}
	if len(watchLags) > 0 {
		row.notes = append(row.notes, fmt.Sprintf("a watch of BattleResults by the benchmark saw them %s (p50) and %s (p99) after their answers",
			fmtDur(percentile(watchLags, 0.50)), fmtDur(percentile(watchLags, 0.99))))
	}

	if row.jobsSeen < row.jobsWant {
		row.capped = true
	}

	// CPU: from the first callback until the manager is idle again.
	if ok, hot, busy := h.waitIdle(ctx); !ok && !h.managerGone() {
		row.capped = true
		row.notes = append(row.notes, fmt.Sprintf("the manager was not idle when the budget ran out (hot room %s of %s, %.0f queued or in work)", fmtCount(hot), fmtCount(h.stored), busy))
	}
	// What the RoomStats controller did in the step, and why a slow hot room was slow.
	if reconciles1, err := h.mgr.roomStatsReconciles(ctx); err == nil && reconcilesErr == nil {
		var parts []string
		for _, result := range []string{"success", "requeue_after", "requeue", "error"} {
			if n := reconciles1[result] - reconciles0[result]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f", result, n))
			}
		}
		row.notes = append(row.notes, "RoomStats reconciles in the step: "+strings.Join(parts, ", "))
	}
	if row.hotExact > 2*time.Second {
		row.notes = append(row.notes, fmt.Sprintf("the hot room counted %s of %s at the first read after the last answer; its count last changed %s after the last answer",
			fmtCount(hotFirst), fmtCount(row.hotWant), fmtDur(hotChanged.Sub(last))))
		if n, first, err := loggedErrors(h.mgrLog, t0); err != nil {
			row.notes = append(row.notes, "the manager's log could not be read: "+err.Error())
		} else if n > 0 {
			row.notes = append(row.notes, fmt.Sprintf("the manager logged %d errors in the step, the first: %s", n, first))
		}
	}
	if checks1, err := h.battleResultChecks(ctx); err == nil && checksErr == nil && checks1 > checks0 {
		row.notes = append(row.notes, fmt.Sprintf("the API server checked its cache of BattleResults against etcd %.0f time(s) during the step (a list of every BattleResult from etcd, every 5 to 7.5 minutes: apiserver_storage_consistency_checks_total)", checks1-checks0))
	}
	if cpu1, err := h.mgr.cpuSeconds(); err == nil && len(stored) > 0 {
		row.cpuPer1000 = (cpu1 - cpu0) / float64(len(stored)) * 1000
		plane1 := h.controlPlaneWork()
		row.apiserverPer1000, _, _ = plane1.perThousand(plane0, len(stored))
		row.notes = append(row.notes, plane1.since(plane0, len(stored), "battles"))
	}
	row.window = time.Since(t0)
	if row.capped {
		row.notes = append(row.notes, fmt.Sprintf("capped at the %s budget", h.cfg.phaseBudget))
	}

	time.Sleep(3 * time.Second)
	row.rss, row.peak, _ = h.mgr.memory()
	if h.cfg.profiles != "" {
		path := filepath.Join(h.cfg.profiles, fmt.Sprintf("heap-%d.pb.gz", h.stored))
		heap, err := apiserverGet(context.Background(), h.restConfig, "/debug/pprof/heap?gc=1")
		if err == nil {
			err = os.WriteFile(filepath.Join(h.cfg.profiles, fmt.Sprintf("heap-apiserver-%d.pb.gz", h.stored)), heap, 0o644)
		}
		if err != nil {
			row.notes = append(row.notes, "the API server's heap profile: "+err.Error())
		}
		if err := h.mgr.heapProfile(path); err != nil {
			row.notes = append(row.notes, "heap profile: "+err.Error())
		} else if sums, err := testutil.ScrapeSums(h.mgr.Metrics); err == nil {
			// Right after the profile's collection: what is live, and what the process holds.
			h.logf("heap profile: %s; Go heap after GC: alloc %s, in use %s, idle %s (released %s), next GC at %s; stacks %s",
				path, fmtMiB(int64(sums["go_memstats_heap_alloc_bytes"])), fmtMiB(int64(sums["go_memstats_heap_inuse_bytes"])),
				fmtMiB(int64(sums["go_memstats_heap_idle_bytes"])), fmtMiB(int64(sums["go_memstats_heap_released_bytes"])),
				fmtMiB(int64(sums["go_memstats_next_gc_bytes"])), fmtMiB(int64(sums["go_memstats_stack_inuse_bytes"])))
		}
	}
	row.loadavg = loadAverage()
	if pid := pidOf(filepath.Join(h.assets, "kube-apiserver")); pid > 0 {
		if rss, _, err := procMemory(pid); err == nil {
			row.notes = append(row.notes, "the API server's RSS then "+fmtMiB(rss))
		}
	}
	if sums, err := testutil.ScrapeSums(h.env.ControlPlane.Etcd.URL.String() + "/metrics"); err == nil {
		row.etcdTotal, row.etcdInUse = int64(sums["etcd_mvcc_db_total_size_in_bytes"]), int64(sums["etcd_mvcc_db_total_size_in_use_in_bytes"])
	} else {
		row.notes = append(row.notes, "etcd metrics: "+err.Error())
	}
}

// planeWork is what the control plane has done so far: the API server's and etcd's CPU
// time, and etcd's compactions (the API server asks for one every 5 minutes).
type planeWork struct {
	apiserverCPU, etcdCPU    float64
	compactions, compactedMs float64
	err                      error
}

func (h *historyRun) controlPlaneWork() planeWork {
	var w planeWork
	var errs [3]error
	w.apiserverCPU, errs[0] = processCPUSeconds(pidOf(filepath.Join(h.assets, "kube-apiserver")))
	w.etcdCPU, errs[1] = processCPUSeconds(pidOf(filepath.Join(h.assets, "etcd")))
	var sums map[string]float64
	if sums, errs[2] = testutil.ScrapeSums(h.env.ControlPlane.Etcd.URL.String() + "/metrics"); errs[2] == nil {
		w.compactions = sums["etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_count"]
		w.compactedMs = sums["etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_sum"]
	}
	w.err = errors.Join(errs[:]...)
	return w
}

// perThousand is the CPU seconds the API server and etcd spent between before and w, per
// 1,000 of n things; an error when either reading failed.
func (w planeWork) perThousand(before planeWork, n int) (apiserver, etcd float64, err error) {
	if err := errors.Join(before.err, w.err); err != nil {
		return 0, 0, err
	}
	return (w.apiserverCPU - before.apiserverCPU) / float64(n) * 1000, (w.etcdCPU - before.etcdCPU) / float64(n) * 1000, nil
}

// since says what the control plane did between before and w, per 1,000 of n things (what).
func (w planeWork) since(before planeWork, n int, what string) string {
	apiserver, etcd, err := w.perThousand(before, n)
	if err != nil {
		return "the control plane's CPU: " + err.Error()
	}
	line := fmt.Sprintf("CPU per 1,000 %s: the API server %.2f s, etcd %.2f s", what, apiserver, etcd)
	if n := w.compactions - before.compactions; n > 0 {
		line += fmt.Sprintf("; etcd compacted %.0f time(s) during the step (%.0f ms)", n, w.compactedMs-before.compactedMs)
	}
	return line
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// writeLog records the writes the API server reports, per kind.
type writeLog struct {
	mu     sync.Mutex
	events []writeEvent
}

type writeEvent struct {
	at         time.Time
	kind, what string
}

// watchWrites follows every write to the namespace's RoomStats, BattleResults, Jobs and
// BattleReactions from now on.
func (h *historyRun) watchWrites(ctx context.Context) (*writeLog, error) {
	log := &writeLog{}
	kinds := []struct {
		kind string
		list func() client.ObjectList
	}{
		{"RoomStats", func() client.ObjectList { return &livev1alpha1.RoomStatsList{} }},
		{"BattleResult", func() client.ObjectList { return &livev1alpha1.BattleResultList{} }},
		{"Job", func() client.ObjectList { return &batchv1.JobList{} }},
		{"BattleReaction", func() client.ObjectList { return &livev1alpha1.BattleReactionList{} }},
	}
	for _, k := range kinds {
		list := k.list()
		if err := h.c.List(ctx, list, client.InNamespace(histNamespace), client.Limit(1)); err != nil {
			return nil, err
		}
		w, err := h.c.Watch(ctx, k.list(), &client.ListOptions{Namespace: histNamespace,
			Raw: &metav1.ListOptions{ResourceVersion: list.GetResourceVersion()}})
		if err != nil {
			return nil, err
		}
		go func() {
			defer w.Stop()
			for ev := range w.ResultChan() {
				what := string(ev.Type)
				if obj, ok := ev.Object.(client.Object); ok {
					what += " " + obj.GetName()
				} else if status, ok := ev.Object.(*metav1.Status); ok {
					what += " " + status.Message
				}
				if ev.Type == watch.Bookmark {
					continue
				}
				log.mu.Lock()
				log.events = append(log.events, writeEvent{at: time.Now(), kind: k.kind, what: what})
				log.mu.Unlock()
			}
		}()
	}
	return log, nil
}

// summary counts the writes in [from, to], per kind, with a few examples.
func (l *writeLog) summary(from, to time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[string]int{}
	examples := map[string][]string{}
	for _, e := range l.events {
		if e.at.Before(from) || e.at.After(to) {
			continue
		}
		counts[e.kind]++
		if len(examples[e.kind]) < 2 {
			examples[e.kind] = append(examples[e.kind], e.what)
		}
	}
	var parts []string
	for _, kind := range []string{"RoomStats", "BattleResult", "Job", "BattleReaction"} {
		p := fmt.Sprintf("%s %d", kind, counts[kind])
		if len(examples[kind]) > 0 {
			p += " (e.g. " + strings.Join(examples[kind], ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// restart stops the manager and starts it again twice with the whole history stored: the first
// time nothing changes (how many writes it makes), the second time a matching battle arrives
// as soon as it is ready (how long until its Job exists).
func (h *historyRun) restart() {
	ctx, cancel := h.budget(h.cfg.phaseBudget)
	defer cancel()
	h.logf("restart: stopping the manager, %s stored", fmtCount(h.stored))
	h.failover = append(h.failover, fmt.Sprintf("Restart with %s BattleResults stored, the manager stopped with SIGTERM and started again:", fmtCount(h.stored)))

	// 1. Nothing changes while it starts: it should write nothing.
	h.mgr.stop()
	writes, err := h.watchWrites(ctx)
	if err != nil {
		h.failover = append(h.failover, "  could not watch the writes: "+err.Error())
		return
	}
	h.startManager()
	t0 := h.mgr.Started
	ready := time.Since(t0)
	var firstReconcile time.Duration
	for firstReconcile == 0 && ctx.Err() == nil && !h.managerGone() {
		if sums, err := testutil.ScrapeSums(h.mgr.Metrics); err == nil && sums["controller_runtime_reconcile_total"] > 0 {
			firstReconcile = time.Since(t0)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	end := t0.Add(max(20*time.Second, firstReconcile+20*time.Second))
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
	}
	rss, _, _ := h.mgr.memory()
	h.failover = append(h.failover,
		fmt.Sprintf("  - nothing new: ready (/readyz) %s after start, first reconcile %s after start; writes from start until 20 s after the first reconcile: %s; RSS then %s",
			fmtDur(ready), fmtDur(firstReconcile), writes.summary(t0, end), fmtMiB(rss)))
	h.logf("restart 1: %s", h.failover[len(h.failover)-1])

	// 2. A matching battle arrives as soon as the restarted manager is ready.
	h.mgr.stop()
	h.startManager()
	t0 = h.mgr.Started
	ready = time.Since(t0)
	i := h.next
	h.next++
	hc := newHistHTTPClient(1)
	var a histAnswer
	h.send(hc, i, true, &a)
	if !a.ok() {
		h.failover = append(h.failover, fmt.Sprintf("  - new matching battle: not answered OK (HTTP %d ErrorCode %d %s)", a.status, a.code, a.err))
		return
	}
	h.stored++
	line := fmt.Sprintf("  - new matching battle, sent when ready (%s after start), answered in %s: ", fmtDur(ready), fmtDur(a.answered.Sub(a.sent)))
	for ctx.Err() == nil && !h.managerGone() {
		if t, ok := h.jobs.get(a.br); ok {
			line += fmt.Sprintf("its Job exists %s after the start (%s after the answer)", fmtDur(t.Sub(t0)), fmtDur(t.Sub(a.answered)))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := h.jobs.get(a.br); !ok {
		line += fmt.Sprintf("no Job %s after the start", fmtDur(time.Since(t0)))
	}
	for ctx.Err() == nil && !h.managerGone() {
		if got, err := h.hotBattles(ctx); err == nil && got == h.stored {
			line += fmt.Sprintf("; the hot room exact %s after the start", fmtDur(time.Since(t0)))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.failover = append(h.failover, line)
	h.logf("restart 2: %s", line)
	h.failOver(ctx)
}

// failOver runs two replicas with leader election, SIGKILLs the leader once the standby is
// warm, and sends a matching battle through the standby's receiver at once: how long from the
// death until the battle's Job exists, and what the new leader writes besides that battle.
func (h *historyRun) failOver(ctx context.Context) {
	h.mgr.stop()
	args := append(append([]string{}, h.args...), "--leader-elect", "--leader-election-namespace", histNamespace,
		"--leader-election-id", "history-failover")
	start := func() *histManager {
		m, err := startHistManager(ctx, h.binary, args, h.mgrLog, false)
		if err != nil {
			h.fatalf("starting a replica: %v", err)
		}
		return m
	}
	leading := func(m *histManager) bool {
		sums, err := testutil.ScrapeSums(m.Metrics)
		return err == nil && sums["leader_election_master_status"] > 0
	}
	leader := start()
	for !leading(leader) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	standby := start()
	h.mgr = standby
	// The standby lists the history into its cache (controller warm-up) while the leader
	// leads: warm once its memory stops growing (under 1% in 5 s, after at least 20 s).
	warming := time.Now()
	var standbyRSS int64
	for ctx.Err() == nil {
		before, _, _ := standby.memory()
		time.Sleep(5 * time.Second)
		after, _, _ := standby.memory()
		standbyRSS = after
		if time.Since(warming) >= 20*time.Second && after-before < after/100 {
			break
		}
	}
	writes, err := h.watchWrites(ctx)
	if err != nil {
		h.failover = append(h.failover, "  could not watch the writes: "+err.Error())
		return
	}

	killed := time.Now()
	_ = leader.Cmd.Process.Kill()
	<-leader.Exited()
	_ = leader.log.Close()
	i := h.next
	h.next++
	var a histAnswer
	h.send(newHistHTTPClient(1), i, true, &a)
	line := fmt.Sprintf("Fail-over with %s stored: two replicas (--leader-elect, default lease), the standby warm after %s (RSS %s); the leader SIGKILLed and a matching battle sent to the standby at once, ",
		fmtCount(h.stored+1), fmtDur(time.Since(warming)), fmtMiB(standbyRSS))
	if !a.ok() {
		h.failover = append(h.failover, line+fmt.Sprintf("not answered OK (HTTP %d ErrorCode %d %s)", a.status, a.code, a.err))
		return
	}
	h.stored++
	line += fmt.Sprintf("answered in %s; ", fmtDur(a.answered.Sub(a.sent)))
	var led time.Time
	for ctx.Err() == nil && !h.managerGone() {
		if led.IsZero() && leading(standby) {
			led = time.Now()
		}
		if t, ok := h.jobs.get(a.br); ok {
			line += fmt.Sprintf("the standby leads %s after the death, and the battle's Job exists %s after it", fmtDur(led.Sub(killed)), fmtDur(t.Sub(killed)))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := h.jobs.get(a.br); !ok {
		line += fmt.Sprintf("no Job %s after the death", fmtDur(time.Since(killed)))
	}
	if !led.IsZero() {
		end := led.Add(20 * time.Second)
		select {
		case <-time.After(time.Until(end)):
		case <-ctx.Done():
		}
		line += fmt.Sprintf("; writes from the death until 20 s after the new leader took over (the new battle makes 1 BattleResult create and 1 record, 1 Job and its updates, its 3 rooms' RoomStats and the reaction's status): %s", writes.summary(killed, end))
	}
	h.failover = append(h.failover, line)
	h.logf("fail-over: %s", line)
}

func (h *historyRun) rowText(r histRow) string {
	stored := r.span()
	if r.capped {
		stored += " (capped)"
	}
	ingest := "-"
	if r.ingest > 0 {
		ingest = fmt.Sprintf("%.0f", r.ingest)
		if h.ceiling > 0 {
			ingest += fmt.Sprintf(" (%.2f×)", r.ingest/h.ceiling)
		}
	}
	ceiling, share := "-", "-"
	if r.ceiling > 0 {
		ceiling = fmt.Sprintf("%.0f", r.ceiling)
		if r.ingest > 0 {
			share = fmt.Sprintf("%.2f", r.ingest/r.ceiling)
		}
	}
	hot := fmtDur(r.hotExact)
	if !r.hotOK {
		hot = fmt.Sprintf("not exact after %s (%s of %s)", fmtDur(r.hotExact), fmtCount(r.hotGot), fmtCount(r.hotWant))
	}
	jobs := fmt.Sprintf("%s (%d Jobs)", fmtDur(r.jobP99), r.jobsSeen)
	if r.jobsSeen < r.jobsWant {
		jobs = fmt.Sprintf("%s (only %d of %d Jobs)", fmtDur(r.jobP99), r.jobsSeen, r.jobsWant)
	}
	apiserver := "-"
	if r.apiserverPer1000 > 0 {
		apiserver = fmt.Sprintf("%.2f s", r.apiserverPer1000)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s (peak %s) | %s (in use %s) | %.2f s | %s |",
		stored, ingest, ceiling, share, fmtDur(r.p50), fmtDur(r.p99), hot, jobs, fmtMiB(r.rss), fmtMiB(r.peak),
		fmtMiB(r.etcdTotal), fmtMiB(r.etcdInUse), r.cpuPer1000, apiserver)
}

func (h *historyRun) report() {
	var s strings.Builder
	fmt.Fprintf(&s, "\nBenchmarkHistory: the operator's cost against the BattleResults stored (issue 9)\n")
	fmt.Fprintf(&s, "manager: %s %s; control plane: envtest, %s; machine: %s; %s\n",
		h.binary, strings.Join(h.args[2:], " "), h.assetsNote, machine(), runtime.Version())
	if h.retention == "" {
		fmt.Fprintf(&s, "retention: the manager has no --battle-retention flag, every battle is kept\n")
	}
	if len(h.ceilings) > 0 {
		fmt.Fprintf(&s, "API server ceiling, %s direct creates by %d workers: %s\n", fmtCount(h.cfg.ceiling), h.cfg.loaders, strings.Join(h.ceilings, "; "))
	}
	offered := ""
	if h.cfg.rate > 0 {
		offered = fmt.Sprintf(", %d offered per second", h.cfg.rate)
	}
	fmt.Fprintf(&s, "each step: the history filled to `stored` by direct creates (%d workers), then %s battles through the receiver (%d concurrent senders%s); every battle: the hot room + 2 of %s rooms; 10 BattleReactions, one for room %s (1 in %d measured battles)\n",
		h.cfg.loaders, fmtCount(h.cfg.battles), h.cfg.senders, offered, fmtCount(histOtherRooms), histMatchRoom, histMatchEvery)
	fmt.Fprintf(&s, "ingest: callbacks answered OK per second (× the first ceiling); ceiling then: the API server's direct creates per second measured just before the step's battles, the manager running and idle (it watches its namespace only); hot room exact: from the last answer until its RoomStats counts every battle; callback→Job: from a battle's answer until its Job is seen (watch); RSS: VmRSS 3 s after the step (peak VmHWM); etcd db size: etcd_mvcc_db_total_size_in_bytes (in use: _in_use_in_bytes) from etcd's /metrics; CPU: the manager's (and the API server's) utime+stime from the first callback until the manager is idle, per 1,000 battles; stored: the history when the step's battles began → when they ended\n\n")
	fmt.Fprintf(&s, "| stored | ingest /s | API server ceiling then /s | ingest ÷ ceiling then | answer p50 | answer p99 | hot room exact after last answer | callback→Job p99 | manager RSS | etcd db size | manager CPU per 1,000 battles | API server CPU per 1,000 battles |\n")
	fmt.Fprintf(&s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range h.rows {
		fmt.Fprintln(&s, h.rowText(r))
	}
	fmt.Fprintln(&s)
	if line := ingestRatios(h.rows); line != "" {
		fmt.Fprintln(&s, line)
		fmt.Fprintln(&s)
	}
	for _, r := range h.rows {
		var parts []string
		if r.loaded > 0 {
			parts = append(parts, fmt.Sprintf("loaded %s in %s (%.0f/s)", fmtCount(r.loaded), fmtDur(r.loadTook), float64(r.loaded)/r.loadTook.Seconds()))
		}
		parts = append(parts, fmt.Sprintf("manager caught up %s later", fmtDur(r.settleTook)),
			fmt.Sprintf("measured %s battles (%d OK) in %s", fmtCount(r.sent), r.ok, fmtDur(r.window)),
			"machine load average then "+r.loadavg)
		parts = append(parts, r.notes...)
		fmt.Fprintf(&s, "- %s stored: %s\n", fmtCount(r.stored), strings.Join(parts, "; "))
	}
	for _, line := range h.failover {
		fmt.Fprintln(&s, line)
	}
	for _, n := range h.notes {
		fmt.Fprintln(&s, "- "+n)
	}
	fmt.Fprintf(&s, "run time: %s; machine load average at the start %s, at the end %s (other processes share the CPUs)\n",
		time.Since(h.began).Round(time.Second), h.loadBefore, loadAverage())
	for _, w := range h.out {
		_, _ = io.WriteString(w, s.String())
	}
}

// cpuProfiles records HISTORY_PROFILE_SECONDS of CPU profile of the manager and of the API
// server, from now, into the profiles directory (cpu-manager-<stored>.pb.gz,
// cpu-apiserver-<stored>.pb.gz); the returned function waits for both.
func (h *historyRun) cpuProfiles(ctx context.Context) func() {
	query := fmt.Sprintf("profile?seconds=%d", h.cfg.profileSeconds)
	targets := map[string]struct {
		url    string
		client func() (*http.Client, error)
	}{
		"apiserver": {strings.TrimSuffix(h.restConfig.Host, "/") + "/debug/pprof/" + query, func() (*http.Client, error) { return rest.HTTPClientFor(h.restConfig) }},
	}
	if h.mgr.Pprof != "" {
		targets["manager"] = struct {
			url    string
			client func() (*http.Client, error)
		}{h.mgr.Pprof + query, func() (*http.Client, error) { return &http.Client{}, nil }}
	}
	var wg sync.WaitGroup
	for name, target := range targets {
		path := filepath.Join(h.cfg.profiles, fmt.Sprintf("cpu-%s-%d.pb.gz", name, h.stored))
		wg.Go(func() {
			if err := fetchTo(ctx, target.client, target.url, path); err != nil {
				h.logf("CPU profile of the %s: %v", name, err)
			}
		})
	}
	return wg.Wait
}

// fetchTo writes what a GET of url answers to path.
func fetchTo(ctx context.Context, newClient func() (*http.Client, error), url, path string) error {
	c, err := newClient()
	if err != nil {
		return err
	}
	body, err := testutil.GetOK(ctx, c, url)
	if err != nil {
		return err
	}
	return os.WriteFile(path, body, 0o644)
}

// battleResultChecks is how many times the API server has checked its watch cache of
// BattleResults against etcd (DetectCacheInconsistency, on by default since Kubernetes 1.34):
// each check lists and decodes every BattleResult from etcd.
func (h *historyRun) battleResultChecks(ctx context.Context) (float64, error) {
	families, err := apiserverMetrics(ctx, h.restConfig, "/metrics")
	if err != nil {
		return 0, err
	}
	return testutil.SumWhere(families["apiserver_storage_consistency_checks_total"], map[string]string{"resource": "battleresults"}), nil
}

// apiserverMetrics GETs path from the API server of cfg (its own /metrics, or the endpoint of
// a component it serves) and parses it as Prometheus text.
func apiserverMetrics(ctx context.Context, cfg *rest.Config, path string) (map[string]*dto.MetricFamily, error) {
	body, err := apiserverGet(ctx, cfg, path)
	if err != nil {
		return nil, err
	}
	return testutil.ParseMetrics(path, body)
}

// apiserverGet GETs path (with its query) from the API server of cfg, with cfg's credentials.
func apiserverGet(ctx context.Context, cfg *rest.Config, path string) ([]byte, error) {
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return testutil.GetOK(ctx, c, strings.TrimSuffix(cfg.Host, "/")+path)
}

// watchBattleResults records when a watch of the history's namespace, started now, first sees
// each BattleResult, until the returned function stops it.
func (h *historyRun) watchBattleResults(ctx context.Context) (*seenSet, func()) {
	seen := &seenSet{at: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	// A one-item list gives the current resourceVersion without reading the history.
	var list livev1alpha1.BattleResultList
	if err := h.c.List(ctx, &list, client.InNamespace(histNamespace), client.Limit(1)); err != nil {
		cancel()
		close(done)
		return seen, func() {}
	}
	w, err := h.c.Watch(ctx, &livev1alpha1.BattleResultList{}, &client.ListOptions{Namespace: histNamespace,
		Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		cancel()
		close(done)
		return seen, func() {}
	}
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added {
				if br, ok := ev.Object.(*livev1alpha1.BattleResult); ok {
					seen.add(br.Name, time.Now())
				}
			}
		}
	}()
	return seen, func() { w.Stop(); cancel(); <-done }
}
