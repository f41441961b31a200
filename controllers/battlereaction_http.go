package controllers

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/delivery"
	"github.com/battleops/battle-operator/internal/reaction"
)

// maxRecordError bounds the error text kept in a record.
const maxRecordError = 512

// maxRecording bounds the battles one reaction's status lists as being recorded.
const maxRecording = 1000

// deliver is the reconcile of an HTTP reaction. Each battle's record takes three steps, each
// one write that a restart resumes from:
//
//  1. its runs finish (in this process, not stored; a restart sends them again, same key);
//  2. the reaction's status counts them and lists the battle under deliveries.recording;
//  3. the record is written on the BattleResult from that list, and the battle leaves it.
//
// So a run is counted once and a recorded battle is never sent again.
func (r *BattleReactionReconciler) deliver(ctx context.Context, rx *livev1alpha1.BattleReaction, criteria *livev1alpha1.CriteriaRecord,
	matcher *reaction.Matcher, ready metav1.Condition) (reconcile.Result, error) {
	windowed := rx.DeepCopy() // what due reads: the criteria in force
	windowed.Status.Criteria = criteria
	var recordErr error
	for pass := 0; pass < 2; pass++ {
		// The battles the stored status counts already: a finished battle among them was
		// counted by a write that returned an error but was applied.
		counted := map[string]bool{}
		if rx.Status.Deliveries != nil {
			for _, rec := range rx.Status.Deliveries.Recording {
				counted[rec.BattleResult] = true
			}
		}
		// Step 3 for the battles the stored status lists.
		recording, err := r.recordDeliveries(ctx, rx)
		recordErr = err

		// The battles busy here, taken before the due ones: a battle this process recorded
		// stays busy until the store shows its record, and the store shows it to due too
		// from then on. Taken after due, the store could show the record to the snapshot
		// only, and a battle due on the older view would be sent again.
		runs, _, busy := r.http.snapshot(r.base, rx.UID, client.ObjectKeyFromObject(rx), func(name string) bool {
			br, ok := r.Battles.Get(rx.Namespace, name)
			return !ok || reaction.Recorded(br, rx.Name, string(rx.UID))
		})
		due, _ := r.due(ctx, windowed, matcher)
		if hook := afterDue.Load(); hook != nil {
			(*hook)(ctx, r.Battles, due)
		}
		listed := map[string]bool{}
		for _, rec := range recording {
			listed[rec.BattleResult] = true
		}
		plan := reaction.PlanDeliveries(reaction.DeliveryInput{
			Reaction: rx, Due: due, InFlight: runs, MaxRuns: maxJobsPerReconcile,
			Busy: func(name string) bool { return busy(name) || listed[name] },
		})
		for _, p := range plan.Start {
			reqs := make([]delivery.Request, len(p.Runs))
			for i, run := range p.Runs {
				if reqs[i], err = r.request(rx, p.Battle, run); err != nil {
					break
				}
			}
			if err != nil {
				// Its body cannot be made (a BattleResult written by hand): its runs fail now,
				// recorded as such, and the battles after it go on.
				log.FromContext(ctx).Info("A battle's request cannot be made; its runs are recorded as failed", "battleResult", p.Battle.Name, "error", err.Error())
				r.http.fail(r.base, rx, p.Battle, len(p.Runs), err)
				continue
			}
			r.http.start(r.base, rx, p.Battle, reqs, r.Sender.Send)
			runs += len(reqs)
		}
		runs, finished, _ := r.http.snapshot(r.base, rx.UID, client.ObjectKeyFromObject(rx), func(string) bool { return false })

		// Step 2 for the battles finished here.
		count := reaction.CountDeliveries(reaction.CountInput{
			Stored: rx.Status.Deliveries, Recording: recording, Finished: finished, InFlight: runs, MaxRecording: maxRecording,
			Counted: func(name string) bool { return listed[name] || counted[name] },
		})
		status, _, _ := r.compose(rx, criteria, ready, nil, &reaction.Fired{Waiting: plan.Waiting, Last: count.LastFired})
		status.Deliveries = count.Counts
		r.http.counted(rx.UID, count.CountedBefore)
		if equality.Semantic.DeepEqual(&rx.Status, status) {
			break
		}
		if err := r.writeStatus(ctx, rx, status); err != nil {
			return statusWriteFailed(ctx, err)
		}
		r.http.counted(rx.UID, count.Counting)
		if len(count.Counting) == 0 {
			break
		}
	}
	if recordErr != nil {
		return reconcile.Result{}, recordErr
	}
	// Battles left to count or to record (past maxRecording, or a record to retry) are not
	// waited for by any event: come back.
	if _, finished, _ := r.http.snapshot(r.base, rx.UID, client.ObjectKeyFromObject(rx), func(string) bool { return false }); len(finished) > 0 ||
		(rx.Status.Deliveries != nil && len(rx.Status.Deliveries.Recording) > 0) {
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	return reconcile.Result{}, nil
}

// recordDeliveries writes the records of the battles the reaction's status lists under
// deliveries.recording, and returns the list without those recorded (or gone).
func (r *BattleReactionReconciler) recordDeliveries(ctx context.Context, rx *livev1alpha1.BattleReaction) ([]livev1alpha1.DeliveryRecord, error) {
	if rx.Status.Deliveries == nil {
		return nil, nil
	}
	var left []livev1alpha1.DeliveryRecord
	var firstErr error
	for _, rec := range rx.Status.Deliveries.Recording {
		br, ok := r.Battles.Get(rx.Namespace, rec.BattleResult)
		if ok && !reaction.Recorded(br, rx.Name, string(rx.UID)) {
			err := r.record(ctx, rx, br, deliveryEntry(&rec))
			if err != nil && !apierrors.IsNotFound(err) {
				firstErr = cmp.Or(firstErr, err)
				left = append(left, rec)
				continue
			}
			r.http.wroteRecord(r.base, rx.UID, client.ObjectKeyFromObject(rx), rec.BattleResult)
		}
		r.pending.Settle(rx.UID, rec.BattleResult)
	}
	return left, firstErr
}

// deliveryEntry is the record's fields beyond the reaction's: what the runs came to.
func deliveryEntry(rec *livev1alpha1.DeliveryRecord) map[string]any {
	entry := map[string]any{"jobs": int64(0)}
	if rec.Delivered > 0 {
		entry["delivered"] = int64(rec.Delivered)
	}
	if rec.Failed > 0 {
		entry["failed"] = int64(rec.Failed)
	}
	if rec.LastStatus > 0 {
		entry["lastStatus"] = int64(rec.LastStatus)
	}
	if rec.LastError != "" {
		entry["lastError"] = rec.LastError
	}
	return entry
}

// request is a run's request: the reaction's URL, body and key, and its headers read when
// each attempt starts.
func (r *BattleReactionReconciler) request(rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult, run reaction.Run) (delivery.Request, error) {
	spec := &rx.Spec.HTTP
	body, err := reaction.HTTPBody(rx, br, run)
	if err != nil {
		return delivery.Request{}, fmt.Errorf("the body for BattleResult %s: %w", br.Name, err)
	}
	timeout, retryFor := 5*time.Second, 10*time.Minute
	if spec.TimeoutSeconds > 0 {
		timeout = time.Duration(spec.TimeoutSeconds) * time.Second
	}
	if spec.RetryForSeconds != nil {
		retryFor = time.Duration(*spec.RetryForSeconds) * time.Second
	}
	headers := slices.Clone(spec.Headers)
	namespace := rx.Namespace
	return delivery.Request{
		URL: spec.URL, Body: body, Key: reaction.IdempotencyKey(rx.UID, br.Name, run.Room),
		Timeout: timeout, RetryFor: retryFor,
		Headers: func(ctx context.Context) (http.Header, error) { return r.headers(ctx, namespace, headers) },
	}, nil
}

// headers are a reaction's headers, each Secret key read from the API server (Secrets are not
// cached: the manager would otherwise hold every Secret of the cluster).
func (r *BattleReactionReconciler) headers(ctx context.Context, namespace string, headers []livev1alpha1.HTTPHeader) (http.Header, error) {
	out := http.Header{}
	for _, h := range headers {
		if h.Value != nil {
			out.Add(h.Name, *h.Value)
			continue
		}
		ref := h.ValueFrom.SecretKeyRef
		var secret corev1.Secret
		if err := r.Secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &secret); err != nil {
			return nil, fmt.Errorf("header %s: reading Secret %s: %w", h.Name, ref.Name, err)
		}
		v, ok := secret.Data[ref.Key]
		if !ok {
			return nil, fmt.Errorf("header %s: Secret %s has no key %q", h.Name, ref.Name, ref.Key)
		}
		out.Add(h.Name, string(v))
	}
	return out, nil
}
