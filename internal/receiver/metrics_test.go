package receiver

import (
	"context"
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/testutil"
)

// unreadable is a Reader the API server refuses: the receiver cannot compare a duplicate.
type unreadable struct{ client.Reader }

func (unreadable) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: "live.battleops.io", Resource: "battleresults"}, key.Name, nil)
}

// A duplicate whose stored copy cannot be read is acknowledged (the battle is stored), and
// counted as unverified: neither as identical nor as conflicting, which nobody checked.
func TestUnreadableDuplicateIsCountedAsUnverified(t *testing.T) {
	r := newTestReceiver(t, Options{Reader: unreadable{k8sClient}})
	kinds := func() [3]float64 {
		var v [3]float64
		for i, kind := range []string{duplicateIdentical, duplicateConflicting, duplicateUnverified} {
			v[i] = promtest.ToFloat64(battleResultDuplicates.WithLabelValues(kind))
		}
		return v
	}
	body := testutil.Fixture(t, "end-battle-four-rooms.json")
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	before, duplicates := kinds(), counter(battle.CommandEndBattle, resultDuplicate)
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	if got, want := kinds(), [3]float64{before[0], before[1], before[2] + 1}; got != want {
		t.Errorf("duplicates (identical, conflicting, unverified) went from %v to %v, want %v", before, got, want)
	}
	if got := counter(battle.CommandEndBattle, resultDuplicate) - duplicates; got != 1 {
		t.Errorf("battleops_callbacks_total{result=duplicate} grew by %v, want 1", got)
	}
	wantStored(t, r.namespace, 1)
}
