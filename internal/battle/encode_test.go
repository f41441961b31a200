package battle

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/battleops/battle-operator/internal/testutil"
)

// TestEndBattleBodyReadsBackAsTheSameBattle encodes every end-battle fixture's spec and one
// with unknown members, decodes the body as the receiver does, and finds the same battle.
func TestEndBattleBodyReadsBackAsTheSameBattle(t *testing.T) {
	bodies := map[string]string{
		"unknown members": `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b-x","OpType":1,"Duration":5,` +
			`"FromRoomInfo":{"RoomId":"r1","Score":3,"Owner_Account":12345678901234567890,"Level":{"n":[1,2]}},` +
			`"ToRoomList":[{"RoomId":"r2","Score":9,"Owner_Account":"bob","Gift":"rose","&k":"<b>"}],"EventTime":7,"Region":"ap-guangzhou","Nested":{"a":null}}`,
		"no caller room": `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b-y","OpType":2,"ToRoomList":[{"RoomId":"r2"},{"RoomId":"r3","Score":-4}]}`,
	}
	for _, name := range testutil.Fixtures(t) {
		if strings.HasPrefix(name, "end-battle-") {
			bodies[name] = string(testutil.Fixture(t, name))
		}
	}
	if len(bodies) < 5 {
		t.Fatalf("only %d bodies: the fixtures are missing", len(bodies))
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			e, err := decodeEnd(body)
			if err != nil {
				t.Fatal(err)
			}
			want := Spec(e, Delivery{SDKAppID: "1400000001"})
			encoded, err := EndBattleBody(&want)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(encoded) {
				t.Fatalf("not JSON: %s", encoded)
			}
			b, err := Parse(encoded)
			if err != nil {
				t.Fatal(err)
			}
			if cmd, err := b.Command(); err != nil || cmd != CommandEndBattle {
				t.Fatalf("command %q, %v", cmd, err)
			}
			again, err := b.EndBattle()
			if err != nil {
				t.Fatalf("%v in %s", err, encoded)
			}
			got := Spec(again, Delivery{SDKAppID: "1400000001"})
			if diff := Differences(want, got); len(diff) > 0 {
				t.Fatalf("differs in %v:\n sent    %s\n encoded %s", diff, body, encoded)
			}
		})
	}
}

func TestEndBattleBodyRefusesBrokenExtraFields(t *testing.T) {
	e, err := decodeEnd(`{"BattleId":"b","OpType":1,"FromRoomInfo":{"RoomId":"r"}}`)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec(e, Delivery{})
	spec.ExtraFields = `["not an object"]`
	if _, err := EndBattleBody(&spec); err == nil {
		t.Fatal("extra fields that are not an object were written")
	}
}
