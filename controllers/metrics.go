package controllers

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battlestore"
)

// The controllers' metrics. None has a per-object label (the namespace of the stored
// BattleResults is bounded by the apps the receiver is configured with): reactions and rooms are created by
// users and by battles, so their number is unbounded; each reaction's own counts are in its
// status (jobsStarted, jobsSucceeded, jobsFailed), each room's in its RoomStats.
var (
	reactionJobsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "battleops_reaction_jobs_created_total",
		Help: "Jobs created by BattleReactions.",
	})

	reactionJobsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_reaction_jobs_finished_total",
		Help: "BattleReaction Jobs counted as finished in their reaction's status, by result (succeeded, failed). Each Job counts once.",
	}, []string{"result"})

	reactionDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_reaction_deliveries_total",
		Help: "HTTP reaction runs counted as finished in their reaction's status, by result (delivered, failed). Each run counts once.",
	}, []string{"result"})

	reactionBattlesExamined = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "battleops_reaction_examined_battles",
		Help: "Battles one round of a BattleReaction reconcile examined: those that arrived since the last round and those waiting for Jobs, " +
			"plus every battle of the namespace when it scans (its first reconcile in this process, or its criteria or window changed).",
		Buckets: []float64{0, 1, 2, 5, 10, 100, 1000, 10000, 100000},
	})

	reactionScans = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "battleops_reaction_scans_total",
		Help: "Scans of every battle of a namespace by a BattleReaction, to build its index of pending battles.",
	})

	roomStatsWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_roomstats_writes_total",
		Help: "Successful writes of RoomStats to the API server, by operation (create, status).",
	}, []string{"operation"})

	battleResultsPruned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_battleresults_pruned_total",
		Help: "BattleResults deleted by retention, after their rooms' statistics stored them, by reason: age (--battle-retention) or count (--max-battle-results).",
	}, []string{"reason"})
	retentionCap = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "battleops_retention_max_battle_results",
		Help: "The most BattleResults retention keeps per namespace (--max-battle-results; 0: no cap), for alerts that compare battleops_battleresults_stored with it.",
	})
)

// storedBattleCount reports how many BattleResults the battle store of this process holds, per
// namespace: what retention keeps, and what memory and etcd grow with (docs/sizing.md).
type storedBattleCount struct {
	store atomic.Pointer[battlestore.Store]
}

var (
	battleResultsStored = &storedBattleCount{}
	storedDesc          = prometheus.NewDesc("battleops_battleresults_stored",
		"BattleResults stored, per namespace, as this replica's battle store holds them (--max-battle-results caps it).", []string{"namespace"}, nil)
)

func (c *storedBattleCount) Describe(ch chan<- *prometheus.Desc) { ch <- storedDesc }

func (c *storedBattleCount) Collect(ch chan<- prometheus.Metric) {
	if s := c.store.Load(); s != nil {
		for ns, n := range s.Counts() {
			ch <- prometheus.MustNewConstMetric(storedDesc, prometheus.GaugeValue, float64(n), ns)
		}
	}
}

// waitingBattles reports the matching battles the reactions of each namespace wait to run for
// (suspended, or behind maxRunningJobs): the sum of their status.waitingBattles, read from
// the controllers' cache at each scrape. By namespace, not by reaction: reactions are many.
type waitingBattles struct {
	reader atomic.Pointer[client.Reader]
}

var (
	reactionsWaiting = &waitingBattles{}
	waitingDesc      = prometheus.NewDesc("battleops_reaction_waiting_battles",
		"Matching battles the BattleReactions of a namespace wait to run for (suspended, or behind maxRunningJobs): the sum of their status.waitingBattles, on the leader.", []string{"namespace"}, nil)
)

func (w *waitingBattles) Describe(ch chan<- *prometheus.Desc) { ch <- waitingDesc }

func (w *waitingBattles) Collect(ch chan<- prometheus.Metric) {
	r := w.reader.Load()
	if r == nil {
		return
	}
	var list livev1alpha1.BattleReactionList
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := (*r).List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return // the cache is not ready (a standby before it leads, or stopping)
	}
	sums := map[string]int64{}
	for i := range list.Items {
		sums[list.Items[i].Namespace] += list.Items[i].Status.WaitingBattles
	}
	for ns, n := range sums {
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(n), ns)
	}
}

func init() {
	metrics.Registry.MustRegister(reactionJobsCreated, reactionJobsFinished, reactionDeliveries, reactionBattlesExamined, reactionScans, roomStatsWrites,
		battleResultsPruned, battleResultsStored, reactionsWaiting, retentionCap)
	// Every series exists from the start, so a rate over a fresh process is not "no data".
	for _, result := range []string{"succeeded", "failed"} {
		reactionJobsFinished.WithLabelValues(result)
	}
	for _, result := range []string{"delivered", "failed"} {
		reactionDeliveries.WithLabelValues(result)
	}
	for _, op := range []string{"create", "status"} {
		roomStatsWrites.WithLabelValues(op)
	}
	for _, reason := range []string{"age", "count"} {
		battleResultsPruned.WithLabelValues(reason)
	}
}

// countFinishedJobs counts the Jobs (and HTTP runs) that a reaction's status write, which
// succeeded, newly counts as succeeded or failed (delivered or failed): the increase of jobsSucceeded and jobsFailed from the status
// it replaced. The write carried the replaced status's resourceVersion, so that was the
// stored one: each increase of the stored counts is counted once, by the process that wrote
// it, whichever replica leads. A count that went down (a Job gone without its finalizer)
// counts nothing.
func countFinishedJobs(before, after *livev1alpha1.BattleReactionStatus) {
	if d := after.JobsSucceeded - before.JobsSucceeded; d > 0 {
		reactionJobsFinished.WithLabelValues("succeeded").Add(float64(d))
	}
	if d := after.JobsFailed - before.JobsFailed; d > 0 {
		reactionJobsFinished.WithLabelValues("failed").Add(float64(d))
	}
	if before.Deliveries == nil || after.Deliveries == nil {
		if after.Deliveries == nil {
			return
		}
		before = &livev1alpha1.BattleReactionStatus{Deliveries: &livev1alpha1.DeliveryCounts{}}
	}
	if d := after.Deliveries.Delivered - before.Deliveries.Delivered; d > 0 {
		reactionDeliveries.WithLabelValues("delivered").Add(float64(d))
	}
	if d := after.Deliveries.Failed - before.Deliveries.Failed; d > 0 {
		reactionDeliveries.WithLabelValues("failed").Add(float64(d))
	}
}
