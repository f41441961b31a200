package receiver

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
)

// SpoolReserve is the part of the store budget kept for writing a battle to the spool.
const SpoolReserve = 300 * time.Millisecond

// replayEvery is how often Replay tries the spool while it holds battles.
const replayEvery = time.Second

// Values of the result label of battleops_spool_replayed_total.
const (
	replayCreated   = "created"
	replayDuplicate = "duplicate"
	replayRefused   = "refused"
)

// wake tells Replay a battle was spooled.
func (h *Handler) wake() {
	select {
	case h.replay <- struct{}{}:
	default:
	}
}

// Replay stores the spooled battles, in arrival order, until ctx ends: at start, when one is
// spooled, and every second while some remain. A battle that is stored already (a replay
// before a crash, another replica's delivery) counts as stored, as a repeated callback does;
// one the API server refuses for good (invalid, too large) is moved to the spool's refused/
// directory and logged. Any other failure ends a pass: the rest wait, in order. It runs on every replica
// (each has its own spool) and needs no leader election. Without a spool it returns at once.
func (h *Handler) Replay(ctx context.Context) error {
	if h.opts.Spool == nil {
		return nil
	}
	spoolBytes.Set(float64(h.opts.Spool.Bytes()))
	tick := time.NewTicker(replayEvery)
	defer tick.Stop()
	for {
		if h.opts.Spool.Len() > 0 {
			h.replayOnce(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-h.replay:
		}
	}
}

// replayOnce is one pass over the spool.
func (h *Handler) replayOnce(ctx context.Context) {
	log := h.opts.Log.WithName("spool")
	defer func() { spoolBytes.Set(float64(h.opts.Spool.Bytes())) }()
	// One battle in memory at a time: a spool may hold hundreds of megabytes.
	for _, file := range h.opts.Spool.Files() {
		if ctx.Err() != nil {
			return
		}
		br, ok, err := h.opts.Spool.Read(file)
		if err != nil {
			log.Error(err, "Reading the spool", "file", file)
			return
		}
		if !ok {
			continue // being written, or broken (moved to refused/)
		}
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = h.opts.Client.Create(attempt, br.DeepCopy())
		result := replayCreated
		switch {
		case err == nil:
			battleResultsCreated.Inc()
		case apierrors.IsAlreadyExists(err):
			result = replayDuplicate
			_ = h.duplicate(attempt, log.WithValues("battleResult", klog.KObj(br), "battleId", br.Spec.BattleID), br)
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || tooLarge(err):
			result = replayRefused // the battle itself: it can never be stored
		default:
			// Anything else may pass (the API server starting, a policy or quota, a namespace
			// being re-created): the battle was acknowledged, so it waits, with the rest.
			cancel()
			log.V(1).Info("The API server does not store spooled battles yet", "waiting", h.opts.Spool.Len(), "error", apiMessage(err))
			return
		}
		cancel()
		if result == replayRefused {
			log.Error(err, "The API server refused a spooled battle; it is kept in the spool's refused/ directory", "battleResult", klog.KObj(br), "file", file)
			err = h.opts.Spool.Refuse(file)
		} else {
			log.V(1).Info("Stored a spooled battle", "battleResult", klog.KObj(br), "result", result)
			err = h.opts.Spool.Done(file)
		}
		if err != nil {
			log.Error(err, "Taking a battle out of the spool", "file", file)
			return
		}
		spoolReplayed.WithLabelValues(result).Inc()
	}
}
