package battle

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecodeFourRooms measures the receiver's CPU work per battle: parsing a four-room
// battle-end body, decoding it, and computing its BattleResult spec and name.
func BenchmarkDecodeFourRooms(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("..", "..", "test", "fixtures", "end-battle-four-rooms.json"))
	if err != nil {
		b.Fatal(err)
	}
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
