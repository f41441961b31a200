package battle

import (
	"testing"

	"github.com/battleops/battle-operator/internal/testutil"
)

// BenchmarkDecodeFourRooms measures the receiver's CPU work per battle: parsing a four-room
// battle-end body, decoding it, and computing its BattleResult spec and name.
func BenchmarkDecodeFourRooms(b *testing.B) {
	body := testutil.Fixture(b, "end-battle-four-rooms.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		parsed, err := Parse(body)
		if err != nil {
			b.Fatal(err)
		}
		e, err := parsed.EndBattle()
		if err != nil {
			b.Fatal(err)
		}
		_ = Spec(e, Delivery{SDKAppID: "1400000001"})
		_ = Name(e.BattleID)
	}
}
