// Package controllers holds the reconcilers of battle-operator's kinds.
package controllers

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/battlestore"
	"github.com/battleops/battle-operator/internal/retention"
)

// RoomStatsReconciler keeps one RoomStats per (SDKAppID, room) exact. It is the only writer of
// RoomStats. It holds each room's running tally in memory (battle.RoomTally): built once per
// process from the cache, then fed by BattleResult events, so a new battle costs a fold of the
// room's latest battles, not of its history. Retention hands it the battles it is about to
// delete (FoldPruned): their contribution moves into status.pruned, written before they go.
type RoomStatsReconciler struct {
	Client client.Client
	// Reader reads from the API server, for the rare question the cache may answer late.
	Reader client.Reader
	// Battles are the stored BattleResults; their events feed the rooms' tallies.
	Battles *battlestore.Store
	// Retention is what retention prunes, shown in each RoomStats' Ready condition.
	Retention retention.Policy
	// OnFolded is told, after the status holding them is stored, which battles a room folded
	// into status.pruned (may be nil).
	OnFolded func(room types.NamespacedName, battleResults []string)

	mu    sync.Mutex
	rooms map[types.NamespacedName]*roomState
	// writes remembers each RoomStats' last status write until the cache shows it.
	writes  ownWrites[*livev1alpha1.RoomStats]
	enqueue chan event.GenericEvent
}

// roomState is one room's tally and the battles retention asked it to fold.
type roomState struct {
	mu sync.Mutex
	// tally counts the room's stored battles from the BattleResult events, the informer's
	// initial list included; its base is the room's RoomStats' status.pruned once based. It
	// exists from the room state's creation (room).
	tally *battle.RoomTally
	based bool      // the base was read from the RoomStats of uid (or there was none)
	uid   types.UID // of the RoomStats the base was read from; "" when there was none
	spec  livev1alpha1.RoomStatsSpec
	fold  []string
	// unwritten counts the battle events since the statistics of the last write were taken:
	// the room's place in the queue (more first).
	unwritten int
}

func (r *RoomStatsReconciler) room(key types.NamespacedName) *roomState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rooms == nil {
		r.rooms = map[types.NamespacedName]*roomState{}
	}
	st := r.rooms[key]
	if st == nil {
		st = &roomState{tally: battle.NewRoomTally(nil, nil)}
		r.rooms[key] = st
	}
	return st
}

// FoldPruned asks the controller to fold the named BattleResults into the room's
// status.pruned; OnFolded says when that is stored. Repeating a request is harmless.
func (r *RoomStatsReconciler) FoldPruned(ctx context.Context, room types.NamespacedName, battleResults []string) {
	st := r.room(room)
	st.mu.Lock()
	st.fold = append(st.fold, battleResults...)
	st.mu.Unlock()
	obj := &livev1alpha1.RoomStats{ObjectMeta: metav1.ObjectMeta{Namespace: room.Namespace, Name: room.Name}}
	select {
	case r.enqueue <- event.GenericEvent{Object: obj}:
	case <-ctx.Done():
	}
}

// +kubebuilder:rbac:groups=live.battleops.io,resources=battleresults,verbs=get;list;watch
// +kubebuilder:rbac:groups=live.battleops.io,resources=roomstats,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=live.battleops.io,resources=roomstats/status,verbs=get;update

// Reconcile brings one room's statistics up to date.
func (r *RoomStatsReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	began := time.Now()
	logger := log.FromContext(ctx)

	var stats livev1alpha1.RoomStats
	err := r.Client.Get(ctx, req.NamespacedName, &stats)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	if exists {
		stats = *r.writes.latest(&stats) // our last write, when the cache does not show it yet
	}
	st := r.room(req.NamespacedName)
	// The room's lock guards its tally, never an API call: the watch adds every new battle of
	// the room under it, and must not wait for a write (a hot room is in every battle).
	st.mu.Lock()
	uid := st.uid
	st.mu.Unlock()
	if !exists && uid != "" {
		// The cache may not show the RoomStats this process created yet.
		if err := r.Reader.Get(ctx, req.NamespacedName, &stats); err == nil {
			exists = true
		} else if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
	}

	st.mu.Lock()
	if !st.based || (exists && stats.UID != st.uid) || (!exists && st.uid != "") {
		// First look at the room in this process, or its RoomStats was deleted or replaced:
		// the base is what the RoomStats records (nothing for a new one: deleting a RoomStats
		// resets it to the stored battles).
		st.uid = ""
		var pruned *livev1alpha1.PrunedBattles
		if exists {
			pruned, st.uid, st.spec = stats.Status.Pruned, stats.UID, stats.Spec
		}
		st.tally.Rebase(pruned)
		st.based = true
	}
	fold := st.fold
	st.fold = nil
	st.tally.Fold(fold)
	empty := st.tally.Stored() == 0 && st.tally.Pruned() == 0
	taken := st.unwritten
	spec := st.spec
	var desired livev1alpha1.RoomStatsStatus
	if exists {
		desired = DesiredRoomStatsStatus(&stats, st.tally, r.Retention)
	}
	st.mu.Unlock()

	stored := false
	defer func() {
		if !stored { // asked again next time: Fold skips what it has
			st.mu.Lock()
			st.fold = append(fold, st.fold...)
			st.mu.Unlock()
		}
	}()

	if !exists {
		if empty {
			return reconcile.Result{}, nil // no battle, no stats
		}
		stats = livev1alpha1.RoomStats{ObjectMeta: metav1.ObjectMeta{Name: req.Name, Namespace: req.Namespace}, Spec: spec}
		if err := r.Client.Create(ctx, &stats); err != nil {
			return reconcile.Result{}, fmt.Errorf("creating the room's statistics: %w", err)
		}
		st.mu.Lock()
		st.uid = stats.UID
		desired = DesiredRoomStatsStatus(&stats, st.tally, r.Retention)
		st.mu.Unlock()
		roomStatsWrites.WithLabelValues("create").Inc()
		logger.Info("Created room statistics", "roomId", stats.Spec.RoomID, "sdkAppId", stats.Spec.SDKAppID)
	}

	if !equalButFoldedDeleted(stats.Status, desired) {
		// The whole status, with the object's resourceVersion: a conflict means a newer
		// RoomStats, and the reconcile it triggers writes again. (A merge patch would leave
		// zero counters out of a new status, and `kubectl get` would show them blank.)
		stats.Status = desired
		over, writing := stats.ResourceVersion, time.Now()
		err := r.Client.Status().Update(ctx, &stats)
		if err == nil {
			r.writes.wrote(&stats, over)
		}
		if apierrors.IsConflict(err) {
			// The cache is behind a newer RoomStats (often our own last write): try again.
			return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
		} else if err != nil {
			return reconcile.Result{}, fmt.Errorf("writing the room's statistics: %w", err)
		}
		roomStatsWrites.WithLabelValues("status").Inc()
		logger.V(1).Info("Updated room statistics", "battles", desired.Battles, "wins", desired.Wins,
			"reconcile", time.Since(began).String(), "write", time.Since(writing).String())
	}
	stored = true
	st.mu.Lock()
	st.unwritten -= taken
	st.mu.Unlock()
	if r.OnFolded != nil && len(fold) > 0 {
		var folded []string
		st.mu.Lock()
		for _, name := range fold {
			if st.tally.Folded(name) {
				folded = append(folded, name)
			}
		}
		st.mu.Unlock()
		r.OnFolded(req.NamespacedName, folded)
	}
	return reconcile.Result{}, nil
}

// equalButFoldedDeleted says whether stored needs no write to become desired: they are equal,
// or differ only in folded battles whose deletion was seen since. Forgetting those is left
// to the room's next write, so retention's deletions cost no write of their own.
func equalButFoldedDeleted(stored, desired livev1alpha1.RoomStatsStatus) bool {
	if stored.Pruned != nil && desired.Pruned != nil && len(desired.Pruned.Folded) < len(stored.Pruned.Folded) {
		d := *desired.Pruned
		d.Folded = stored.Pruned.Folded
		for _, name := range desired.Pruned.Folded {
			if !slices.Contains(stored.Pruned.Folded, name) {
				return false
			}
		}
		desired.Pruned = &d
	}
	return equality.Semantic.DeepEqual(stored, desired)
}

// DesiredRoomStatsStatus is the status stats should have, given the room's tally and what
// retention prunes.
func DesiredRoomStatsStatus(stats *livev1alpha1.RoomStats, tally *battle.RoomTally, policy retention.Policy) livev1alpha1.RoomStatsStatus {
	desired := tally.Status()
	desired.ObservedGeneration = stats.Generation
	desired.Conditions = append([]metav1.Condition(nil), stats.Status.Conditions...)
	message := fmt.Sprintf("Counts the %d stored BattleResults of the room and %d pruned", tally.Stored(), tally.Pruned())
	if what := policy.String(); what != "" {
		message += "; " + what + ", and stay counted here"
	}
	meta.SetStatusCondition(&desired.Conditions, metav1.Condition{
		Type:               livev1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             livev1alpha1.ReasonCounted,
		Message:            message,
		ObservedGeneration: stats.Generation,
	})
	// A sum that reached an int64 bound stays there (battle.Fold saturates): say so, for good.
	if desired.TotalScore == math.MaxInt64 || desired.TotalScore == math.MinInt64 ||
		meta.IsStatusConditionTrue(desired.Conditions, livev1alpha1.ConditionScoreSaturated) {
		meta.SetStatusCondition(&desired.Conditions, metav1.Condition{
			Type:               livev1alpha1.ConditionScoreSaturated,
			Status:             metav1.ConditionTrue,
			Reason:             livev1alpha1.ReasonInt64Bound,
			Message:            "totalScore reached an int64 bound (±9223372036854775807) and stopped there: it is no longer the exact sum of the scores",
			ObservedGeneration: stats.Generation,
		})
	}
	return desired
}

// SetupWithManager registers the watches: a RoomStats is reconciled when it changes, when a
// BattleResult that includes its room is created or deleted (the event also feeds the room's
// tally), and when retention asks it to fold battles.
func (r *RoomStatsReconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	if r.Reader == nil {
		r.Reader = mgr.GetAPIReader()
	}
	r.enqueue = make(chan event.GenericEvent, 1024)
	return ctrl.NewControllerManagedBy(mgr).
		Named("roomstats").
		// Rooms are independent (a key is never reconciled twice at once, and each room's
		// tally has its own lock): several at once keep up with a battle touching 3 rooms.
		// Warm-up: a standby replica lists the BattleResults into its cache and feeds the
		// tallies before it leads, so a fail-over does not wait for a list of the history.
		WithOptions(controller.Options{MaxConcurrentReconciles: 8, EnableWarmup: ptr.To(true)}).
		// Every change of a RoomStats is reconciled, its own status writes included (they find
		// nothing to change), so an edit by hand is undone.
		For(&livev1alpha1.RoomStats{}).
		WatchesRawSource(r.Battles.Source(handler.Funcs{
			CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				r.battleEvent(e.Object, q, true, e.IsInInitialList)
			},
			// A BattleResult's spec never changes: status updates cannot change any room.
			DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				r.battleEvent(e.Object, q, false, false)
			},
		})).
		WatchesRawSource(source.Channel(r.enqueue, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// battleEvent adds a new BattleResult to the tallies of its rooms, or removes a deleted one,
// and queues the rooms. The events of the informer's initial list come before the first
// reconcile (the controller starts once its sources are synced), so a room's tally counts
// every stored battle by then.
//
// A room is queued with the number of its battles that are not in its statistics yet as its
// priority: when writes fall behind, a busy room (a hot room is in every battle) goes ahead of
// rooms with one new battle each, instead of waiting behind all of them. The initial list is
// queued at low priority: it rarely needs a write.
func (r *RoomStatsReconciler) battleEvent(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request], created, initial bool) {
	br, ok := obj.(*livev1alpha1.BattleResult)
	if !ok {
		return
	}
	for _, room := range br.Spec.Rooms {
		key := types.NamespacedName{Namespace: br.Namespace, Name: battle.RoomStatsName(br.Spec.SDKAppID, room.RoomID)}
		st := r.room(key)
		st.mu.Lock()
		if st.uid == "" {
			st.spec = livev1alpha1.RoomStatsSpec{SDKAppID: br.Spec.SDKAppID, RoomID: room.RoomID}
		}
		if !created {
			st.tally.Remove(br.Name)
		} else if b, ok := battle.RoomBattleOf(br, room.RoomID); ok && br.DeletionTimestamp == nil {
			st.tally.Add(b)
		}
		st.unwritten++
		priority := st.unwritten
		st.mu.Unlock()
		if initial {
			priority = handler.LowPriority
		}
		enqueue(q, reconcile.Request{NamespacedName: key}, priority)
	}
}

// enqueue adds req to q with priority, when q has priorities.
func enqueue(q workqueue.TypedRateLimitingInterface[reconcile.Request], req reconcile.Request, priority int) {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: &priority}, req)
		return
	}
	q.Add(req)
}
