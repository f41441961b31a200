//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/battleops/battle-operator/internal/testutil"
)

// metricSamples are the battleops_* samples of one scrape, and controller-runtime's
// controller_runtime_reconcile_total, keyed `name{label="value",…}`
// with the labels sorted; a histogram gives its _count and _sum.
type metricSamples map[string]float64

// scrapeMetrics reads battle-operator's metrics from the manager's plain-HTTP metrics
// endpoint (dev.sh runs it with --metrics-secure=false).
func (d *devRun) scrapeMetrics(t *testing.T) metricSamples {
	t.Helper()
	families, err := testutil.Scrape(t.Context(), http.DefaultClient, "http://"+d.metrics+"/metrics")
	if err != nil {
		t.Fatalf("scraping the metrics: %v", err)
	}
	samples := metricSamples{}
	for name, family := range families {
		if !strings.HasPrefix(name, "battleops_") && !kept[name] {
			continue
		}
		for _, m := range family.GetMetric() {
			key := func(suffix string) string { return name + suffix + labelString(m.GetLabel()) }
			switch family.GetType() {
			case dto.MetricType_COUNTER:
				samples[key("")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				samples[key("")] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				samples[key("_count")] = float64(m.GetHistogram().GetSampleCount())
				samples[key("_sum")] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return samples
}

// kept are the metrics of controller-runtime that scrapeMetrics keeps too.
var kept = map[string]bool{"controller_runtime_reconcile_total": true, "controller_runtime_active_workers": true}

// waitIdle waits until the manager has nothing to do (testutil.WaitQuiet).
func (d *devRun) waitIdle(t *testing.T) {
	t.Helper()
	testutil.WaitQuiet(t, func() (running, ended float64, err error) {
		for k, v := range d.scrapeMetrics(t) {
			switch {
			case strings.HasPrefix(k, "controller_runtime_active_workers"):
				running += v
			case strings.HasPrefix(k, "controller_runtime_reconcile_total"):
				ended += v
			}
		}
		return running, ended, nil
	})
}

func labelString(labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return ""
	}
	pairs := make([]string, len(labels))
	for i, l := range labels {
		pairs[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	sort.Strings(pairs)
	return "{" + strings.Join(pairs, ",") + "}"
}

// delta is how much each sample named with prefix grew from before to after.
func delta(before, after metricSamples, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if strings.HasPrefix(k, prefix) {
			out[k] = v - before[k]
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok && strings.HasPrefix(k, prefix) {
			out[k] = -v // a series that went away: a restarted manager
		}
	}
	return out
}

// reactionCounts sums the lifetime Job counts in the status of every BattleReaction, and says
// whether every reaction has settled: its status is of its generation, no Job runs and no
// battle waits.
func (d *devRun) reactionCounts(t *testing.T) (started, succeeded, failed int, settled bool, byName map[string][3]int) {
	t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Namespace, Name string
				Generation      int64
			}
			Status struct {
				ObservedGeneration                                                  int64
				JobsStarted, JobsSucceeded, JobsFailed, JobsRunning, WaitingBattles int
			}
		}
	}
	if err := json.Unmarshal(d.kubectl(t, "", "get", "battlereactions", "-A", "-o", "json"), &list); err != nil {
		t.Fatal(err)
	}
	settled, byName = true, map[string][3]int{}
	for _, rx := range list.Items {
		s := rx.Status
		started, succeeded, failed = started+s.JobsStarted, succeeded+s.JobsSucceeded, failed+s.JobsFailed
		settled = settled && s.ObservedGeneration == rx.Metadata.Generation && s.JobsRunning == 0 && s.WaitingBattles == 0
		byName[rx.Metadata.Namespace+"/"+rx.Metadata.Name] = [3]int{s.JobsStarted, s.JobsSucceeded, s.JobsFailed}
	}
	return started, succeeded, failed, settled, byName
}

// testMetricsCountWhatHappened scrapes the manager's metrics before and after a known set of
// callbacks and the Jobs and room statistics they cause, and checks that every battleops_*
// counter moved by exactly what happened. It runs last: its battles would change what the
// other subtests count.
func (d *devRun) testMetricsCountWhatHappened(t *testing.T) {
	nonce := fmt.Sprint(time.Now().UnixNano())
	const battles = 3
	var rooms []string
	for i := range battles {
		rooms = append(rooms, fmt.Sprintf("e2e-metrics-%s-%d-a", nonce, i), fmt.Sprintf("e2e-metrics-%s-%d-b", nonce, i))
	}
	// Two reactions on these new rooms only: one whose Jobs complete, one whose Jobs fail.
	match := "{rooms: [" + strings.Join(rooms, ", ") + "]}"
	okRx, failRx := "e2e-metrics-"+nonce+"-ok", "e2e-metrics-"+nonce+"-fail"
	d.kubectlApply(t, reactionManifest(okRx, "Battle", match, ""))
	d.kubectlApply(t, reactionManifest(failRx, "Battle", match, fmt.Sprintf("%s: %q", failLabel, failValue)))

	// Before: every reaction settled (the Jobs of earlier subtests counted), and the same
	// counts on both sides of the scrape.
	var before metricSamples
	var startedBefore, succeededBefore, failedBefore int
	if !testutil.Within(2*time.Minute, 250*time.Millisecond, func(context.Context) bool {
		s1, ok1, f1, settled, _ := d.reactionCounts(t)
		before = d.scrapeMetrics(t)
		s2, ok2, f2, _, _ := d.reactionCounts(t)
		startedBefore, succeededBefore, failedBefore = s1, ok1, f1
		return settled && s1 == s2 && ok1 == ok2 && f1 == f2
	}) {
		t.Fatalf("the reactions did not settle within 2 minutes:\n%s", d.reactionsDump(t, okRx, failRx))
	}

	// The callbacks: 3 new battles, 1 repeated delivery, 1 conflicting duplicate, 1 start of
	// a battle, 1 battle end of an SDKAppID that is not ours.
	endQuery := testutil.EndBattleQuery(devAppID)
	var bodies [][]byte
	for i := range battles {
		bodies = append(bodies, battleBody(t, "end-battle-caller-wins.json", fmt.Sprintf("e2e-metrics-%s-%d", nonce, i), rooms[2*i], rooms[2*i+1], 0))
	}
	for _, send := range []struct {
		what, query string
		body        []byte
		status      int
	}{
		{"new battle 1", endQuery, bodies[0], http.StatusOK},
		{"new battle 2", endQuery, bodies[1], http.StatusOK},
		{"new battle 3", endQuery, bodies[2], http.StatusOK},
		{"battle 1 again", endQuery, bodies[0], http.StatusOK},
		{"battle 2 with another score", endQuery,
			battleBody(t, "end-battle-caller-wins.json", fmt.Sprintf("e2e-metrics-%s-%d", nonce, 1), rooms[2], rooms[3], 7), http.StatusOK},
		{"a battle start", "SdkAppid=" + devAppID + "&CallbackCommand=Live.CallbackAfterStartBattle&contenttype=json",
			testutil.Fixture(t, "start-battle.json"), http.StatusOK},
		{"another SDKAppID", testutil.EndBattleQuery("1400009999"), bodies[2], http.StatusForbidden},
	} {
		resp, err := http.Post("http://"+d.callback+"/callback?"+send.query, "application/json", bytes.NewReader(send.body))
		if err != nil {
			t.Fatalf("%s: %v", send.what, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != send.status {
			t.Fatalf("%s: HTTP %d, want %d", send.what, resp.StatusCode, send.status)
		}
	}

	// After: every room counted, the reactions settled, each of ours with a Job per battle.
	var after metricSamples
	var byName map[string][3]int
	var started, succeeded, failed int
	counted, settled := 0, false
	if !testutil.Within(2*time.Minute, 250*time.Millisecond, func(context.Context) bool {
		counted = 0
		var stats struct {
			Items []struct {
				Spec   struct{ RoomID string }
				Status struct{ Battles int }
			}
		}
		if err := json.Unmarshal(d.kubectl(t, "", "get", "roomstats", "-n", "default", "-o", "json"), &stats); err != nil {
			t.Fatal(err)
		}
		for _, rs := range stats.Items {
			if strings.HasPrefix(rs.Spec.RoomID, "e2e-metrics-"+nonce+"-") && rs.Status.Battles == 1 {
				counted++
			}
		}
		started, succeeded, failed, settled, byName = d.reactionCounts(t)
		ours := byName["default/"+okRx] == [3]int{battles, battles, 0} && byName["default/"+failRx] == [3]int{battles, 0, battles}
		return counted == len(rooms) && settled && ours
	}) {
		t.Fatalf("after 2 minutes: %d of %d new rooms counted; reactions settled %v, %s %v, %s %v (started, succeeded, failed; want %d each, and %d succeeded or failed)\n%s",
			counted, len(rooms), settled, okRx, byName["default/"+okRx], failRx, byName["default/"+failRx], battles, battles, d.reactionsDump(t, okRx, failRx))
	}
	// The reaction metrics grew by what the reactions' status counts grew by. They move right
	// after the status writes kubectl shows: a few scrapes allow for that.
	wantJobs := map[string]float64{
		"battleops_reaction_jobs_created_total":                      float64(started - startedBefore),
		`battleops_reaction_jobs_finished_total{result="succeeded"}`: float64(succeeded - succeededBefore),
		`battleops_reaction_jobs_finished_total{result="failed"}`:    float64(failed - failedBefore),
	}
	testutil.Within(10*time.Second, 250*time.Millisecond, func(context.Context) bool {
		after = d.scrapeMetrics(t)
		return maps.Equal(delta(before, after, "battleops_reaction_jobs_"), wantJobs)
	})
	wantExactly(t, delta(before, after, "battleops_reaction_jobs_"), wantJobs)
	t.Logf("reaction Jobs: created %d, succeeded %d, failed %d while the callbacks were handled (all reactions)",
		started-startedBefore, succeeded-succeededBefore, failed-failedBefore)

	// The receiver's counters: exactly what was sent, and nothing else.
	const end, start = "Live.CallbackAfterEndBattle", "Live.CallbackAfterStartBattle"
	callback := func(command, result string) string {
		return fmt.Sprintf("battleops_callbacks_total{command=%q,result=%q}", command, result)
	}
	wantExactly(t, delta(before, after, "battleops_callbacks_total"), map[string]float64{
		callback(end, "created"):               battles,
		callback(end, "duplicate"):             1,
		callback(end, "conflicting_duplicate"): 1,
		callback(start, "forwarded"):           1, // to make dev's upstream (hack/upstream)
		callback(end, "forbidden"):             1,
	})
	wantExactly(t, delta(before, after, "battleops_callback_duration_seconds_count"), map[string]float64{
		fmt.Sprintf("battleops_callback_duration_seconds_count{command=%q}", end):   battles + 3,
		fmt.Sprintf("battleops_callback_duration_seconds_count{command=%q}", start): 1,
	})
	wantExactly(t, delta(before, after, "battleops_forwarded_total"), map[string]float64{
		fmt.Sprintf("battleops_forwarded_total{command=%q,result=%q}", start, "2xx"): 1,
	})
	wantExactly(t, delta(before, after, "battleops_battleresult"), map[string]float64{
		"battleops_battleresults_created_total":                       battles,
		`battleops_battleresults_stored{namespace="default"}`:         battles, // what the manager's store holds
		`battleops_battleresult_duplicates_total{kind="identical"}`:   1,
		`battleops_battleresult_duplicates_total{kind="conflicting"}`: 1,
	})

	// RoomStats: one created per new room, each at least one status write and reconcile.
	rs := delta(before, after, "battleops_roomstats_")
	if got := rs[`battleops_roomstats_writes_total{operation="create"}`]; got != float64(len(rooms)) {
		t.Errorf("battleops_roomstats_writes_total{operation=create} grew by %v, want %d (one per new room)", got, len(rooms))
	}
	if got := rs[`battleops_roomstats_writes_total{operation="status"}`]; got < float64(len(rooms)) {
		t.Errorf("battleops_roomstats_writes_total{operation=status} grew by %v, want at least %d", got, len(rooms))
	}
	// Reconciles are controller-runtime's own metric, by result.
	reconciles := 0.0
	for _, v := range delta(before, after, `controller_runtime_reconcile_total{controller="roomstats"`) {
		reconciles += v
	}
	if reconciles < float64(len(rooms)) {
		t.Errorf("controller_runtime_reconcile_total{controller=roomstats} grew by %v, want at least %d", reconciles, len(rooms))
	}
	t.Logf("RoomStats: %v", rs)
}

// wantExactly checks that every sample in got grew by its value in want, and the others by 0.
func wantExactly(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s grew by %v, want %v", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && v != 0 {
			t.Errorf("%s grew by %v, want 0", k, v)
		}
	}
}

// battleBody is a battle-end fixture with its BattleId and its two rooms replaced, and its
// caller's score raised by addScore.
func battleBody(t *testing.T, fixture, battleID, from, to string, addScore int64) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(testutil.Fixture(t, fixture)))
	dec.UseNumber()
	var cb map[string]any
	if err := dec.Decode(&cb); err != nil {
		t.Fatal(err)
	}
	cb["BattleId"] = battleID
	caller := cb["FromRoomInfo"].(map[string]any)
	caller["RoomId"] = from
	score, err := caller["Score"].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	caller["Score"] = score + addScore
	others := cb["ToRoomList"].([]any)
	if len(others) != 1 {
		t.Fatalf("%s has %d other rooms, want 1", fixture, len(others))
	}
	others[0].(map[string]any)["RoomId"] = to
	body, err := json.Marshal(cb)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// monitoredMetric finds the metric names an alert or a dashboard queries.
var monitoredMetric = regexp.MustCompile(`\b(?:battleops|controller_runtime|workqueue)_[a-z0-9_]+`)

// testMonitoringNamesExist: every metric the shipped alerts (config/prometheus/alerts.yaml)
// and dashboard (config/grafana/battle-operator.json) query is one the running manager
// exports, so they cannot drift from the code.
func (d *devRun) testMonitoringNamesExist(t *testing.T) {
	families, err := testutil.Scrape(t.Context(), http.DefaultClient, "http://"+d.metrics+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exported := func(name string) bool {
		if _, ok := families[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := families[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
		return false
	}
	for _, file := range []string{"config/prometheus/alerts.yaml", "config/grafana/battle-operator.json"} {
		data, err := os.ReadFile(filepath.Join(d.root, file))
		if err != nil {
			t.Fatal(err)
		}
		names := monitoredMetric.FindAllString(string(data), -1)
		if len(names) < 5 {
			t.Fatalf("%s queries %d metrics: the pattern no longer finds them", file, len(names))
		}
		seen := map[string]bool{}
		for _, name := range names {
			if !seen[name] && !exported(name) {
				t.Errorf("%s queries %s, which the manager does not export", file, name)
			}
			seen[name] = true
		}
		t.Logf("%s: %d metrics, each exported", file, len(seen))
	}
	// The pruning alert compares the stored count with the cap the manager exports: make dev
	// runs with the default --max-battle-results.
	if f := families["battleops_retention_max_battle_results"]; f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != 100000 {
		t.Errorf("battleops_retention_max_battle_results = %v, want 100000 (--max-battle-results' default)", f)
	}
}
