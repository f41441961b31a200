package receiver

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/battleops/battle-operator/internal/battle"
)

// Values of the result label of battleops_callbacks_total: one per row of the answer table.
const (
	resultCreated          = "created"
	resultDuplicate        = "duplicate"
	resultConflict         = "conflicting_duplicate"
	resultIgnored          = "ignored"
	resultMethodNotAllowed = "method_not_allowed"
	resultNotFound         = "not_found"
	resultForbidden        = "forbidden"
	resultUnauthorized     = "unauthorized"
	resultTooLarge         = "too_large"
	resultBadRequest       = "bad_request"
	resultUnavailable      = "unavailable"
	resultSpooled          = "spooled"         // validated, not stored in time, written to --spool-dir and acknowledged
	resultForwarded        = "forwarded"       // relayed from the upstream (--forward-url), whatever it answered
	resultUpstreamFailed   = "upstream_failed" // the upstream failed or did not answer in time
)

// Values of the kind label of battleops_battleresult_duplicates_total.
const (
	duplicateIdentical   = "identical"   // the stored battle is the same: a repeated delivery
	duplicateConflicting = "conflicting" // same BattleId, different battle: the first is kept
	duplicateUnverified  = "unverified"  // the stored battle could not be read to compare
)

// commandOther stands for every CallbackCommand not known by name, so label values stay bounded.
const commandOther = "other"

// commandBeforeSendGift is the before-callback of a gift, which an upstream decides.
const commandBeforeSendGift = "Live.CallbackBeforeSendGift"

var knownCommands = map[string]bool{
	battle.CommandCreateBattle: true,
	battle.CommandStartBattle:  true,
	battle.CommandEndBattle:    true,
	commandBeforeSendGift:      true,
}

// commandLabel bounds a CallbackCommand to a label value.
func commandLabel(command string) string {
	if knownCommands[command] {
		return command
	}
	return commandOther
}

var (
	callbacksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_callbacks_total",
		Help: "Callbacks answered by the receiver, by CallbackCommand (known ones by name, the rest as other) and result.",
	}, []string{"command", "result"})

	callbackDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "battleops_callback_duration_seconds",
		Help:    "Time from a callback's arrival to its answer, by CallbackCommand. Tencent waits 2 seconds.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 5},
	}, []string{"command"})

	battleResultsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "battleops_battleresults_created_total",
		Help: "BattleResults the receiver created.",
	})

	battleResultDuplicates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_battleresult_duplicates_total",
		Help: "Battle-end callbacks whose BattleResult already existed, by kind: identical (a repeated delivery), conflicting (same BattleId, different battle; the first is kept) or unverified (the stored one could not be read to compare).",
	}, []string{"kind"})

	forwardedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_forwarded_total",
		Help: "Callbacks sent on to the upstream (--forward-url), by CallbackCommand and result: the class of the upstream's status (2xx, 3xx, 4xx, 5xx), error (no answer, refused, too large) or timeout.",
	}, []string{"command", "result"})

	forwardDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "battleops_forward_duration_seconds",
		Help:    "Time from sending a callback on to the upstream until its whole answer (or the failure), by CallbackCommand.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2},
	}, []string{"command"})

	tokensLoaded = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "battleops_callback_tokens",
		Help: "Callback tokens a Sign may be made with, by app (an SDKAppID, or * for the token file of every app without one of its own).",
	}, []string{"app"})

	deliveryLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "battleops_battle_delivery_lag_seconds",
		Help:    "From a battle's end event (EventTime) to the receiver's answer storing it, by app (SDKAppID): how late Tencent's callbacks arrive. New battles only; the clocks of Tencent and of the manager both count.",
		Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600},
	}, []string{"app"})

	spooledTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "battleops_spooled_total",
		Help: "Battles the receiver could not store in time, wrote to --spool-dir and acknowledged.",
	})

	spoolReplayed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_spool_replayed_total",
		Help: "Spooled battles taken out of the spool, by result: created, duplicate (stored already, e.g. by a replay before a crash) or refused (the API server will never store it; kept in the spool's refused/ directory).",
	}, []string{"result"})

	spoolBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "battleops_spool_bytes",
		Help: "The size of the battles in --spool-dir waiting to be stored (--spool-max-bytes bounds it).",
	})

	tokenReloadErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "battleops_callback_token_reload_errors_total",
		Help: "Reads of a callback token file that failed (unreadable, empty or invalid); the app keeps its last good tokens. By app, as battleops_callback_tokens.",
	}, []string{"app"})
)

func init() {
	metrics.Registry.MustRegister(callbacksTotal, callbackDuration, battleResultsCreated, battleResultDuplicates, forwardedTotal, forwardDuration, tokensLoaded, tokenReloadErrors,
		spooledTotal, spoolReplayed, spoolBytes, deliveryLag)
	for _, result := range []string{replayCreated, replayDuplicate, replayRefused} {
		spoolReplayed.WithLabelValues(result)
	}
	for _, kind := range []string{duplicateIdentical, duplicateConflicting, duplicateUnverified} {
		battleResultDuplicates.WithLabelValues(kind) // reported from the start, at 0
	}
}
