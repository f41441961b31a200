package reaction

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/types"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
)

// IdempotencyKey is the Idempotency-Key of an HTTP reaction's run: the same on every attempt
// of the run, in every process, and different for another reaction (a new reaction of the same
// name too), another battle or another room.
func IdempotencyKey(uid types.UID, battleResult string, room *livev1alpha1.BattleRoom) string {
	return runHash(string(uid), battleResult, room)[:32]
}

// battleBody is the body of an HTTP reaction's request in the Battle format.
type battleBody struct {
	Reaction       string                         `json:"reaction"`
	Namespace      string                         `json:"namespace"`
	BattleResult   string                         `json:"battleResult"`
	IdempotencyKey string                         `json:"idempotencyKey"`
	Battle         *livev1alpha1.BattleResultSpec `json:"battle"`
	Room           *livev1alpha1.BattleRoom       `json:"room,omitempty"`
}

// IsHTTP says whether the reaction sends requests (spec.http) rather than running Jobs.
func IsHTTP(rx *livev1alpha1.BattleReaction) bool { return rx.Spec.HTTP.URL != "" }

// HTTPBody is the body of an HTTP reaction's request for a run, in the reaction's format.
func HTTPBody(rx *livev1alpha1.BattleReaction, br *livev1alpha1.BattleResult, run Run) ([]byte, error) {
	if rx.Spec.HTTP.Format == livev1alpha1.HTTPFormatTencentCallback {
		return battle.EndBattleBody(&br.Spec)
	}
	return json.Marshal(battleBody{
		Reaction:       rx.Name,
		Namespace:      br.Namespace,
		BattleResult:   br.Name,
		IdempotencyKey: IdempotencyKey(rx.UID, br.Name, run.Room),
		Battle:         &br.Spec,
		Room:           run.Room,
	})
}
