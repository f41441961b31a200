//go:build e2e

package e2e

// Helpers of BenchmarkHistory (history_bench_test.go): its settings, its workload, the manager
// process it runs, and what it reads from /proc and from metrics endpoints.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/testutil"
)

// The workload of BenchmarkHistory.
const (
	histApp        = "1400000001"
	histNamespace  = "history"
	histCeilingNS  = "history-ceiling"
	histHotRoom    = "hot-room" // in every battle
	histMatchRoom  = "match-me" // in 1 of every histMatchEvery measured battles, in no loaded one
	histOtherRooms = 2000       // every battle has 2 of them (or 1 and match-me)
	// One measured battle in histMatchEvery has match-me and gets a Job: 200 Jobs in a step of
	// 10,000. Nothing runs them here (no kube-controller-manager), so they never finish and the
	// reaction cannot prune them as it would in a cluster; more would grow the manager's cache
	// of Jobs with every step, which is not what the benchmark measures.
	histMatchEvery    = 50
	histEpoch         = 1763800000 // battle i ends at histEpoch+i
	histMatchReaction = "match-me-room"
	histCeilingFirst  = 50_000_000 // battle numbers of the ceiling's creates, apart from the history's
)

var histDelivery = battle.Delivery{SDKAppID: histApp, ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}

// histConfig is what the environment asks of BenchmarkHistory.
type histConfig struct {
	steps          []int         // HISTORY_STEPS: stored BattleResults at each measurement
	battles        int           // HISTORY_BATTLES: battles sent through the receiver per step
	senders        int           // HISTORY_SENDERS: concurrent callback senders
	rate           int           // HISTORY_RATE: callbacks offered per second (0: as fast as the senders go)
	loaders        int           // HISTORY_LOADERS: workers of the direct-create loader and of the ceiling
	ceiling        int           // HISTORY_CEILING: creates measuring the API server's ceiling (0: none)
	failover       bool          // HISTORY_FAILOVER: restart the manager after the last step
	phaseBudget    time.Duration // HISTORY_BUDGET: the longest a load, a settle or a measurement may take
	manager        string        // HISTORY_MANAGER: a prebuilt manager binary (default: go build ./cmd)
	out            string        // HISTORY_OUT: a file that gets the progress and the table too
	profiles       string        // HISTORY_PROFILES: a directory for CPU and heap profiles
	profileSeconds int           // HISTORY_PROFILE_SECONDS: the length of each CPU profile
	apiserver      []string      // HISTORY_APISERVER_ARGS: more kube-apiserver flags, --name=value separated by spaces
}

func loadHistConfig() (histConfig, error) {
	c := histConfig{steps: []int{0, 10_000, 30_000, 50_000, 100_000}, battles: 10_000, senders: 32, loaders: 32,
		ceiling: 3000, failover: true, phaseBudget: 10 * time.Minute, profileSeconds: 10,
		manager: os.Getenv("HISTORY_MANAGER"), out: os.Getenv("HISTORY_OUT"),
		profiles: os.Getenv("HISTORY_PROFILES"), apiserver: strings.Fields(os.Getenv("HISTORY_APISERVER_ARGS"))}
	for _, f := range c.apiserver {
		if name, _, ok := strings.Cut(strings.TrimPrefix(f, "--"), "="); !ok || name == "" || !strings.HasPrefix(f, "--") {
			return c, fmt.Errorf("HISTORY_APISERVER_ARGS: %q is not --name=value", f)
		}
	}
	if v := os.Getenv("HISTORY_STEPS"); v != "" {
		c.steps = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(f, "_", "")))
			if err != nil || n < 0 {
				return c, fmt.Errorf("HISTORY_STEPS=%q: want stored counts like 0,2000,5000", v)
			}
			c.steps = append(c.steps, n)
		}
		sort.Ints(c.steps)
	}
	for _, p := range []struct {
		name string
		dst  *int
		min  int
	}{{"HISTORY_BATTLES", &c.battles, 1}, {"HISTORY_SENDERS", &c.senders, 1}, {"HISTORY_LOADERS", &c.loaders, 1}, {"HISTORY_CEILING", &c.ceiling, 0}, {"HISTORY_PROFILE_SECONDS", &c.profileSeconds, 1}, {"HISTORY_RATE", &c.rate, 0}} {
		if v := os.Getenv(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < p.min {
				return c, fmt.Errorf("%s=%q: want an integer of at least %d", p.name, v, p.min)
			}
			*p.dst = n
		}
	}
	if v := os.Getenv("HISTORY_FAILOVER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("HISTORY_FAILOVER=%q: want 1 or 0", v)
		}
		c.failover = b
	}
	if v := os.Getenv("HISTORY_BUDGET"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("HISTORY_BUDGET=%q: want a duration like 10m", v)
		}
		c.phaseBudget = d
	}
	return c, nil
}

// testTimeout is go test's -timeout (0: none).
func testTimeout() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if d, ok := g.Get().(time.Duration); ok {
			return d
		}
	}
	return 0
}

// histRooms are battle i's rooms, the caller first: the hot room, two of the other rooms (or
// one of them and match-me), the caller rotating among them.
func histRooms(i int, match bool) []string {
	a := (i * 7919) % histOtherRooms
	b := (a + 1 + (i*104729)%(histOtherRooms-1)) % histOtherRooms // never a
	rooms := []string{histHotRoom, fmt.Sprintf("room-%04d", a), fmt.Sprintf("room-%04d", b)}
	if match {
		rooms[2] = histMatchRoom
	}
	k := i % len(rooms)
	return append(append([]string{}, rooms[k:]...), rooms[:k]...)
}

func histBattleID(i int) string { return fmt.Sprintf("hist/%d+=", i) }

// histBody is battle i's Live.CallbackAfterEndBattle body: TimeUp, one in 20 AllHostsExited,
// scores from 0 to 999, owner accounts as numbers and as text.
func histBody(i int, match bool) []byte {
	rooms := histRooms(i, match)
	room := func(k int) string {
		account := strconv.FormatInt(144115245442327522+int64(i%1000), 10)
		if k%2 == 1 {
			account = strconv.Quote("host_" + rooms[k])
		}
		return fmt.Sprintf(`{"RoomId":%q,"Score":%d,"Owner_Account":%s}`, rooms[k], (i*37+k*53)%1000, account)
	}
	opType := 0
	if i%20 == 19 {
		opType = 1
	}
	end := int64(histEpoch + i)
	return fmt.Appendf(nil, `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":%q,"Duration":300000,"CreateTime":%d,"StartTime":%d,"EndTime":%d,"OpType":%d,"FromRoomInfo":%s,"ToRoomList":[%s,%s],"EventTime":%d}`,
		histBattleID(i), end-310, end-300, end, opType, room(0), room(1), room(2), end*1000+7)
}

// histObject is battle i as the receiver stores it.
func histObject(ns string, i int) (*livev1alpha1.BattleResult, error) {
	return storedAs(ns, histBody(i, false))
}

// storedAs is a battle-end body as the receiver stores it in ns: the same decoding, outcome
// and name.
func storedAs(ns string, body []byte) (*livev1alpha1.BattleResult, error) {
	parsed, err := battle.Parse(body)
	if err != nil {
		return nil, err
	}
	ended, err := parsed.EndBattle()
	if err != nil {
		return nil, err
	}
	return &livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Name: battle.Name(ended.BattleID), Namespace: ns},
		Spec:       battle.Spec(ended, histDelivery),
	}, nil
}

// histManager is the manager binary running as its own process, its output appended to a
// log file.
type histManager struct {
	*testutil.ManagerProcess
	log *os.File
}

// startHistManager starts the manager with args, its output appended to logPath, and waits
// until it is ready or ctx ends.
func startHistManager(ctx context.Context, binary string, args []string, logPath string, pprof bool) (*histManager, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	m, err := testutil.StartManager(ctx, binary, testutil.ManagerOptions{Args: args, Output: logFile, Pprof: pprof})
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	return &histManager{ManagerProcess: m, log: logFile}, nil
}

// stop ends the process as Kubernetes does (SIGTERM, then SIGKILL after 30 s) and closes its
// log. Stopping a stopped manager does nothing.
func (m *histManager) stop() {
	m.Stop()
	_ = m.log.Close()
}

// heapProfile writes the manager's heap profile, after a garbage collection, to path.
func (m *histManager) heapProfile(path string) error {
	if m.Pprof == "" {
		return fmt.Errorf("the manager serves no pprof")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return fetchTo(ctx, func() (*http.Client, error) { return &http.Client{}, nil }, m.Pprof+"heap?gc=1", path)
}

// cpuSeconds is the user and system CPU time the process used so far.
func (m *histManager) cpuSeconds() (float64, error) {
	return processCPUSeconds(m.Cmd.Process.Pid)
}

// processCPUSeconds is the user and system CPU time process pid used so far.
func processCPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc stat: %q", data)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux Go supports
	return float64(utime+stime) / clockTicks, nil
}

// memory is the process's resident set and its peak, in bytes.
func (m *histManager) memory() (rss, peak int64, err error) {
	return procMemory(m.Cmd.Process.Pid)
}

// procMemory is a process's resident memory now (VmRSS) and at its peak (VmHWM).
func procMemory(pid int) (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak, s.Err()
}

// busy is how many items the manager's controllers have queued or in work.
func (m *histManager) busy() (float64, error) {
	sums, err := testutil.ScrapeSums(m.Metrics)
	if err != nil {
		return 0, err
	}
	return sums["workqueue_depth"] + sums["controller_runtime_active_workers"], nil
}

// roomStatsReconciles is how many reconciles the RoomStats controller has ended, by result
// (success, requeue_after, requeue, error).
func (m *histManager) roomStatsReconciles(ctx context.Context) (map[string]float64, error) {
	families, err := testutil.Scrape(ctx, http.DefaultClient, m.Metrics)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, result := range []string{"success", "requeue_after", "requeue", "error"} {
		out[result] = testutil.SumWhere(families["controller_runtime_reconcile_total"], map[string]string{"controller": "roomstats", "result": result})
	}
	return out, nil
}

// percentile of durations (sorted in place); 0 when there are none.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	k := int(math.Ceil(q*float64(len(d)))) - 1
	return d[max(0, min(k, len(d)-1))]
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.0f s", d.Seconds())
	}
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// fmtCount writes n with thousands separators: 100,000.
func fmtCount(n int) string {
	if n < 0 {
		return "-" + fmtCount(-n)
	}
	s := strconv.Itoa(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// machine describes this machine for the report.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				mem = fmt.Sprintf(", %.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s", runtime.NumCPU(), model, mem)
}

// loadAverage is the machine's 1, 5 and 15-minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// pidOf is the process running the program at path, 0 when none.
func pidOf(path string) int {
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		return 0
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == want {
			return pid
		}
	}
	return 0
}

// logEntries decodes into a new E each entry of the manager's JSON log
// (--zap-time-encoding=rfc3339nano) whose line contains marker, and hands it to each with
// the entry's time.
func logEntries[E any](logPath, marker string, each func(e *E, at time.Time)) error {
	f, err := os.Open(logPath)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(marker)) {
			continue
		}
		var ts struct{ TS string }
		e := new(E)
		if json.Unmarshal(line, &ts) != nil || json.Unmarshal(line, e) != nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts.TS)
		if err != nil {
			return fmt.Errorf("the manager's log times are not RFC 3339 with nanoseconds: %q", ts.TS)
		}
		each(e, at)
	}
	return sc.Err()
}

// loggedErrors counts the error entries of the manager's log from since on, and returns the
// first one's message and error.
func loggedErrors(logPath string, since time.Time) (n int, first string, err error) {
	type entry struct{ Msg, Error, Controller string }
	err = logEntries(logPath, `"level":"error"`, func(e *entry, at time.Time) {
		if at.Before(since) {
			return
		}
		if n++; n == 1 {
			first = fmt.Sprintf("%s %q (%s)", e.Msg, e.Error, e.Controller)
		}
	})
	return n, first, err
}

// createdJob is when the manager logged a Job created, right after the API server accepted
// it, and how long its create call took.
type createdJob struct {
	at   time.Time
	took time.Duration
}

// createdJobs reads each "Created Job" of the manager's log, by BattleResult.
func createdJobs(logPath string) (map[string]createdJob, error) {
	type entry struct {
		BattleResult string `json:"battleResult"`
		Took         string `json:"took"`
	}
	created := map[string]createdJob{}
	err := logEntries(logPath, `"msg":"Created Job"`, func(e *entry, at time.Time) {
		took, _ := time.ParseDuration(e.Took)
		if _, seen := created[e.BattleResult]; !seen {
			created[e.BattleResult] = createdJob{at: at, took: took}
		}
	})
	return created, err
}

// ingestRatios states issue 9's ingest target for the rows: ingest at 50,000–60,000 stored
// against ingest at 0–10,000, as measured and with each step's ingest divided by the API
// server's ceiling measured just before it (which takes out how fast the machine was then).
func ingestRatios(rows []histRow) string {
	var late *histRow
	for k := range rows {
		if rows[k].stored >= 50_000 && rows[k].stored <= 60_000 && rows[k].ingest > 0 {
			late = &rows[k]
		}
	}
	if late == nil {
		return ""
	}
	var parts []string
	for k := range rows {
		early := &rows[k]
		if early.stored > 10_000 || early.ingest == 0 {
			continue
		}
		part := fmt.Sprintf("against %s stored: %.2f× as measured (%.0f/%.0f)", early.span(), late.ingest/early.ingest, late.ingest, early.ingest)
		if late.ceiling > 0 && early.ceiling > 0 {
			part += fmt.Sprintf(", %.2f× as a share of each step's ceiling (%.2f/%.2f; the ceiling %.0f/%.0f)",
				(late.ingest/late.ceiling)/(early.ingest/early.ceiling), late.ingest/late.ceiling, early.ingest/early.ceiling, late.ceiling, early.ceiling)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("Ingest at %s stored (target ≥ 0.9×): %s.", late.span(), strings.Join(parts, "; "))
}
