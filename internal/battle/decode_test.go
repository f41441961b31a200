package battle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/battleops/battle-operator/internal/testutil"
)

// decodeFixture parses a fixture and decodes it as a battle-end callback.
func decodeFixture(tb testing.TB, name string) *EndBattle {
	tb.Helper()
	b, err := Parse(testutil.Fixture(tb, name))
	if err != nil {
		tb.Fatalf("Parse(%s): %v", name, err)
	}
	e, err := b.EndBattle()
	if err != nil {
		tb.Fatalf("EndBattle(%s): %v", name, err)
	}
	return e
}

// decodeEnd runs Parse then EndBattle, as the receiver does.
func decodeEnd(body string) (*EndBattle, error) {
	b, err := Parse([]byte(body))
	if err != nil {
		return nil, err
	}
	return b.EndBattle()
}

// rooms builds the JSON text of n callee rooms named prefix0, prefix1, ...
func rooms(prefix string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"RoomId":"%s%d","Score":%d}`, prefix, i, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestFixturesDecode(t *testing.T) {
	// What each fixture must say; every fixture file must be listed here, so a new one gets
	// its expectations written down.
	want := map[string]struct {
		command   string
		battleID  string
		rooms     int
		endErrFld string // Field of EndBattle's error; "" when it decodes
	}{
		"end-battle-all-hosts-exited.json": {CommandEndBattle, "YWxsLWhvc3RzLWV4aXRlZC1leGFtcGxlLTAwMDAwMDE=", 2, ""},
		"end-battle-caller-wins.json":      {CommandEndBattle, "kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=", 2, ""},
		"end-battle-draw.json":             {CommandEndBattle, "ZHJhdy1iYXR0bGUtZXhhbXBsZS0wMDAwMDAwMDAwMDE=", 2, ""},
		"end-battle-four-rooms.json":       {CommandEndBattle, "Qm9vayBvZiBiYXR0bGVzIGZvdXIgcm9vbXMgLyArID0=", 4, ""},
		"end-battle-never-started.json":    {CommandEndBattle, "bmV2ZXItc3RhcnRlZC1leGFtcGxlLTAwMDAwMDAwMDE=", 2, ""},
		"end-battle-official-example.json": {CommandEndBattle, "4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=", 2, ""},
		// A start-battle body has no OpType: it is a valid callback, but not a battle end.
		"start-battle.json": {CommandStartBattle, "", 0, "OpType"},
	}
	for _, name := range testutil.Fixtures(t) {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("fixture %s has no expectations in this test", name)
			}
			b, err := Parse(testutil.Fixture(t, name))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			cmd, err := b.Command()
			if err != nil {
				t.Fatalf("Command: %v", err)
			}
			if cmd != w.command {
				t.Errorf("Command = %q, want %q", cmd, w.command)
			}
			e, err := b.EndBattle()
			if w.endErrFld != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != w.endErrFld {
					t.Fatalf("EndBattle error = %v, want a *FieldError for %s", err, w.endErrFld)
				}
				return
			}
			if err != nil {
				t.Fatalf("EndBattle: %v", err)
			}
			if e.BattleID != w.battleID {
				t.Errorf("BattleID = %q, want %q", e.BattleID, w.battleID)
			}
			if len(e.Rooms) != w.rooms {
				t.Fatalf("got %d rooms, want %d", len(e.Rooms), w.rooms)
			}
			if !e.Rooms[0].Caller {
				t.Errorf("first room %q is not marked as the caller", e.Rooms[0].RoomID)
			}
			for i, r := range e.Rooms[1:] {
				if r.Caller {
					t.Errorf("callee %d (%q) is marked as the caller", i, r.RoomID)
				}
			}
			if e.Extra != "" {
				t.Errorf("Extra = %q, want none: every member of a fixture is modelled", e.Extra)
			}
		})
	}
	for name := range want {
		if _, err := os.Stat(filepath.Join(testutil.FixtureDir(), name)); err != nil {
			t.Errorf("expected fixture %s is missing: %v", name, err)
		}
	}
}

func TestEndBattleFixtureFields(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		want    *EndBattle
	}{
		{
			name:    "The four-rooms fixture decodes every member, caller first then callees in order.",
			fixture: "end-battle-four-rooms.json",
			want: &EndBattle{
				BattleID:   "Qm9vayBvZiBiYXR0bGVzIGZvdXIgcm9vbXMgLyArID0=",
				OpType:     0,
				Duration:   180000,
				CreateTime: 1763801000,
				StartTime:  1763801010,
				EndTime:    1763801190,
				EventTime:  1763801190877,
				Rooms: []Room{
					{RoomID: "live_room_1001", Score: 300, OwnerAccount: "host_alice", Caller: true},
					{RoomID: "live_room_2002", Score: 4100, OwnerAccount: "host_bob"},
					{RoomID: "live_room_3003", Score: 2750, OwnerAccount: "144115245353757792"},
					{RoomID: "live_room_4004", Score: 0, OwnerAccount: "host_dana"},
				},
			},
		},
		{
			name:    "The official example keeps both 18-digit numeric Owner_Accounts digit for digit.",
			fixture: "end-battle-official-example.json",
			want: &EndBattle{
				BattleID:   "4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=",
				OpType:     0,
				Duration:   30000,
				CreateTime: 1739956115,
				StartTime:  1739956115,
				EndTime:    1739956145,
				EventTime:  1739956146119,
				Rooms: []Room{
					{RoomID: "pk-3", Score: 0, OwnerAccount: "144115245353757792", Caller: true},
					{RoomID: "pk-5", Score: 0, OwnerAccount: "144115245442327522"},
				},
			},
		},
		{
			name:    "The never-started fixture keeps OpType 2 and StartTime 0 as sent.",
			fixture: "end-battle-never-started.json",
			want: &EndBattle{
				BattleID:   "bmV2ZXItc3RhcnRlZC1leGFtcGxlLTAwMDAwMDAwMDE=",
				OpType:     2,
				Duration:   300000,
				CreateTime: 1763804000,
				StartTime:  0,
				EndTime:    1763804010,
				EventTime:  1763804010021,
				Rooms: []Room{
					{RoomID: "live_room_1001", Score: 0, OwnerAccount: "host_alice", Caller: true},
					{RoomID: "live_room_4004", Score: 0, OwnerAccount: "host_dana"},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeFixture(t, tt.fixture)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("EndBattle mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndBattleDecodes(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		body string
		want *EndBattle
	}{
		{
			name: "A surrogate pair escaped in full, an escaped backslash before a u, and other escapes are kept exactly.",
			body: `{"BattleId":"b\ud83d\ude00\\ud800\u00e9\"","OpType":0,"FromRoomInfo":{"RoomId":"r1"}}`,
			want: &EndBattle{BattleID: "b\U0001F600\\ud800\u00e9\"", Rooms: []Room{{RoomID: "r1", Caller: true}}},
		},
		{
			name: "Owner_Account sent as a string is kept as that string.",
			body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","Owner_Account":"10100015411"}}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1", OwnerAccount: "10100015411", Caller: true}}},
		},
		{
			name: "Owner_Account sent as an 18-digit number keeps every digit instead of rounding through float64.",
			body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","Owner_Account":144115245442327522}}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1", OwnerAccount: "144115245442327522", Caller: true}}},
		},
		{
			name: "Owner_Account numbers beyond int64 or with a fraction are kept as their exact text.",
			body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Owner_Account":123456789012345678901234567890},{"RoomId":"r2","Owner_Account":-1.50e3}]}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{
				{RoomID: "r1", OwnerAccount: "123456789012345678901234567890"},
				{RoomID: "r2", OwnerAccount: "-1.50e3"},
			}},
		},
		{
			name: "null for every optional integer and for Owner_Account means zero and empty.",
			body: `{"BattleId":"b","OpType":1,"Duration":null,"CreateTime":null,"StartTime":null,"EndTime":null,"EventTime":null,` +
				`"FromRoomInfo":{"RoomId":"r1","Score":null,"Owner_Account":null}}`,
			want: &EndBattle{BattleID: "b", OpType: 1, Rooms: []Room{{RoomID: "r1", Caller: true}}},
		},
		{
			name: "Absent optional members decode as zero.",
			body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1"}]}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1"}}},
		},
		{
			name: "A body with ToRoomList but no FromRoomInfo has only callees and no caller.",
			body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Score":5},{"RoomId":"r2","Score":7}]}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1", Score: 5}, {RoomID: "r2", Score: 7}}},
		},
		{
			name: "FromRoomInfo null is treated like an absent caller.",
			body: `{"BattleId":"b","OpType":0,"FromRoomInfo":null,"ToRoomList":[{"RoomId":"r1"}]}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1"}}},
		},
		{
			name: "A caller with an empty ToRoomList is a one-room battle.",
			body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","Score":3},"ToRoomList":[]}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1", Score: 3, Caller: true}}},
		},
		{
			name: "Negative scores and integers at the int64 limits are kept exactly.",
			body: `{"BattleId":"b","OpType":-9223372036854775808,"EventTime":9223372036854775807,` +
				`"FromRoomInfo":{"RoomId":"r1","Score":-9223372036854775808},"ToRoomList":[{"RoomId":"r2","Score":-5}]}`,
			want: &EndBattle{BattleID: "b", OpType: -9223372036854775808, EventTime: 9223372036854775807, Rooms: []Room{
				{RoomID: "r1", Score: -9223372036854775808, Caller: true},
				{RoomID: "r2", Score: -5},
			}},
		},
		{
			name: "Members are found in any order and JSON escapes in strings are decoded.",
			body: "{\"ToRoomList\":[{\"Score\":2,\"RoomId\":\"r\\u00e9/2\"}] , \"OpType\" : 0,\n\t\"BattleId\":\"a\\/b+c=\",\"FromRoomInfo\":{\"Owner_Account\":\"\\u5f20\\u4e09\",\"RoomId\":\"r1\"}}",
			want: &EndBattle{BattleID: "a/b+c=", Rooms: []Room{
				{RoomID: "r1", OwnerAccount: "张三", Caller: true},
				{RoomID: "ré/2", Score: 2},
			}},
		},
		{
			name: "A key written with escapes is the member it decodes to.",
			body: `{"\u0042attleId":"b","Op\u0054ype":2,"FromRoomInfo":{"\u0052oomId":"r1"}}`,
			want: &EndBattle{BattleID: "b", OpType: 2, Rooms: []Room{{RoomID: "r1", Caller: true}}},
		},
		{
			name: "Unknown top-level members are kept in Extra as exact JSON text, spacing inside values included.",
			body: `{"BattleId":"b", "Future" :  { "a" : [1, 2 ,3] ,"b":{"c":"x  y"}} ,"OpType":0,"Big":144115245442327522,"F":1.50E+2,"S":"tab\tquote\"","N":null,"T":true,` +
				`"FromRoomInfo":{"RoomId":"r1"}}`,
			want: &EndBattle{
				BattleID: "b",
				Rooms:    []Room{{RoomID: "r1", Caller: true}},
				Extra:    `{"Future":{ "a" : [1, 2 ,3] ,"b":{"c":"x  y"}},"Big":144115245442327522,"F":1.50E+2,"S":"tab\tquote\"","N":null,"T":true}`,
			},
		},
		{
			name: "Escaped unknown keys are kept escaped, exactly as received.",
			body: `{"BattleId":"b","OpType":0,"\u0041b":1,"k\"q":2,"\u00e9t\u00e9":"\u00e9","FromRoomInfo":{"RoomId":"r1"}}`,
			want: &EndBattle{
				BattleID: "b",
				Rooms:    []Room{{RoomID: "r1", Caller: true}},
				Extra:    `{"\u0041b":1,"k\"q":2,"\u00e9t\u00e9":"\u00e9"}`,
			},
		},
		{
			name: "Unknown members inside rooms are kept in that room's Extra and not the body's.",
			body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","Gift":{"id": 7 , "n":[ ]},"Score":1},` +
				`"ToRoomList":[{"RoomId":"r2"},{"Level":  3.0,"RoomId":"r3","\u0041b":"x"}]}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{
				{RoomID: "r1", Score: 1, Caller: true, Extra: `{"Gift":{"id": 7 , "n":[ ]}}`},
				{RoomID: "r2"},
				{RoomID: "r3", Extra: `{"Level":3.0,"\u0041b":"x"}`},
			}},
		},
		{
			name: "Keys that differ from modelled members only in case are unknown members, not the modelled ones.",
			body: `{"BattleId":"b","battleid":"other","OpType":0,"FromRoomInfo":{"RoomId":"r1","roomid":"r9","score":5}}`,
			want: &EndBattle{
				BattleID: "b",
				Rooms:    []Room{{RoomID: "r1", Caller: true, Extra: `{"roomid":"r9","score":5}`}},
				Extra:    `{"battleid":"other"}`,
			},
		},
		{
			name: "CallbackCommand is a known member and never lands in Extra.",
			body: `{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1"}}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "r1", Caller: true}}},
		},
		{
			name: "BattleId, RoomId and Owner_Account of exactly 256 bytes are accepted.",
			body: `{"BattleId":"` + long(256) + `","OpType":0,"FromRoomInfo":{"RoomId":"` + long(256) + `","Owner_Account":"` + long(256) + `"}}`,
			want: &EndBattle{BattleID: long(256), Rooms: []Room{{RoomID: long(256), OwnerAccount: long(256), Caller: true}}},
		},
		{
			name: "Room IDs that differ only in case are different rooms.",
			body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"room"},"ToRoomList":[{"RoomId":"Room"}]}`,
			want: &EndBattle{BattleID: "b", Rooms: []Room{{RoomID: "room", Caller: true}, {RoomID: "Room"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeEnd(tt.body)
			if err != nil {
				t.Fatalf("decoding %s: %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("EndBattle mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndBattleRoomLimit(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantRooms int
		wantErr   string // substring of the error; "" when the body decodes
	}{
		{
			name:      "A caller and 99 callees make 100 rooms, the most allowed.",
			body:      `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"caller"},"ToRoomList":` + rooms("r", 99) + `}`,
			wantRooms: 100,
		},
		{
			name:      "100 callees without a caller are allowed.",
			body:      `{"BattleId":"b","OpType":0,"ToRoomList":` + rooms("r", 100) + `}`,
			wantRooms: 100,
		},
		{
			name:    "A caller and 100 callees make 101 rooms, one too many.",
			body:    `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"caller"},"ToRoomList":` + rooms("r", 100) + `}`,
			wantErr: "ToRoomList: a battle has at most 100 rooms, got 101",
		},
		{
			name:    "101 callees without a caller are one too many.",
			body:    `{"BattleId":"b","OpType":0,"ToRoomList":` + rooms("r", 101) + `}`,
			wantErr: "ToRoomList: a battle has at most 100 rooms, got 101",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeEnd(tt.body)
			if tt.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "ToRoomList" || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want a *FieldError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EndBattle: %v", err)
			}
			if len(got.Rooms) != tt.wantRooms {
				t.Errorf("got %d rooms, want %d", len(got.Rooms), tt.wantRooms)
			}
			if last := got.Rooms[len(got.Rooms)-1]; last.RoomID != fmt.Sprintf("r%d", len(got.Rooms)-1-boolInt(got.Rooms[0].Caller)) {
				t.Errorf("last room is %q: rooms are not in payload order", last.RoomID)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDecodeErrors(t *testing.T) {
	const rooms1 = `"FromRoomInfo":{"RoomId":"r1"}`
	long := strings.Repeat("x", 257)
	tests := []struct {
		name      string
		body      string
		atParse   bool     // the error comes from Parse, not EndBattle
		wantField string   // FieldError.Field
		wantMsg   []string // substrings of Error()
	}{
		// The body as a whole.
		{name: "A body that is not JSON is refused.", body: `BattleId=abc`, atParse: true, wantMsg: []string{"body is not valid JSON"}},
		{name: "An empty body is refused as cut short.", body: ``, atParse: true, wantMsg: []string{"body is not valid JSON", "unexpected end of input"}},
		{name: "A body cut off in the middle is refused as cut short.", body: `{"BattleId":"b","OpType":0`, atParse: true, wantMsg: []string{"body is not valid JSON", "unexpected end of input"}},
		{name: "A body with a member missing its value is refused.", body: `{"BattleId":}`, atParse: true, wantMsg: []string{"body is not valid JSON"}},
		{name: "A body with two members and no comma between them is refused.", body: `{"BattleId":"b" "OpType":0}`, atParse: true, wantMsg: []string{"body is not valid JSON"}},
		{name: "A body with a trailing comma is refused.", body: `{"BattleId":"b",}`, atParse: true, wantMsg: []string{"body is not valid JSON"}},
		{name: "A body carrying // comments like the documentation's example is refused.", body: "{\"BattleId\":\"b\", // the battle\n\"OpType\":0}", atParse: true, wantMsg: []string{"body is not valid JSON"}},
		{name: "A JSON array body is refused as not an object.", body: `[{"BattleId":"b"}]`, atParse: true, wantMsg: []string{"body must be a JSON object"}},
		{name: "A JSON string body is refused as not an object.", body: `"BattleId"`, atParse: true, wantMsg: []string{"body must be a JSON object"}},
		{name: "A JSON null body is refused as not an object.", body: `null`, atParse: true, wantMsg: []string{"body must be a JSON object"}},
		{name: "A second object after the body is refused as trailing data.", body: `{"BattleId":"b"} {}`, atParse: true, wantMsg: []string{"body is not valid JSON", "data after the object"}},
		{name: "Garbage after the body is refused.", body: `{"BattleId":"b"}x`, atParse: true, wantMsg: []string{"body is not valid JSON"}},
		{name: "An extra closing brace after the body is refused.", body: `{"BattleId":"b"}}`, atParse: true, wantMsg: []string{"body is not valid JSON"}},
		{name: "Invalid UTF-8 inside a string is refused.", body: "{\"BattleId\":\"b\xff\",\"OpType\":0," + rooms1 + "}", atParse: true, wantMsg: []string{"body is not valid UTF-8"}},
		{name: "Invalid UTF-8 inside an unknown member is refused too.", body: "{\"BattleId\":\"b\",\"OpType\":0," + rooms1 + ",\"X\":\"\xc3\x28\"}", atParse: true, wantMsg: []string{"body is not valid UTF-8"}},

		// BattleId.
		{name: "A missing BattleId is refused.", body: `{"OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"missing"}},
		{name: "A null BattleId counts as missing.", body: `{"BattleId":null,"OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"missing"}},
		{name: "An empty BattleId is refused.", body: `{"BattleId":"","OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"empty"}},
		{name: "A BattleId escaping a lone high surrogate is refused, not altered.", body: `{"BattleId":"b\ud800","OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"half a UTF-16 surrogate pair"}},
		{name: "A BattleId escaping a lone low surrogate is refused.", body: `{"BattleId":"\udc00b","OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"half a UTF-16 surrogate pair"}},
		{name: "A high surrogate followed by another high one is refused.", body: `{"BattleId":"\ud800\ud800","OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"half a UTF-16 surrogate pair"}},
		{name: "A RoomId escaping a lone surrogate is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r\udfff"}}`, wantField: "FromRoomInfo.RoomId", wantMsg: []string{"half a UTF-16 surrogate pair"}},
		{name: "An Owner_Account escaping a lone surrogate is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r","Owner_Account":"\ud83d"}}`, wantField: "FromRoomInfo.Owner_Account", wantMsg: []string{"half a UTF-16 surrogate pair"}},
		{name: "A numeric BattleId is refused as not a string.", body: `{"BattleId":12345,"OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"must be a string"}},
		{name: "An object BattleId is refused as not a string.", body: `{"BattleId":{"id":"b"},"OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"must be a string"}},
		{name: "A BattleId of 257 bytes is refused as too long.", body: `{"BattleId":"` + long + `","OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"longer than 256 bytes"}},
		{name: "A BattleId of 129 two-byte characters is refused because the limit is in bytes.", body: `{"BattleId":"` + strings.Repeat("é", 129) + `","OpType":0,` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"longer than 256 bytes"}},
		{name: "A BattleId given twice is refused.", body: `{"BattleId":"b","OpType":0,"BattleId":"c",` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"appears 2 times"}},
		{name: "A BattleId given twice, once with an escaped key, is refused.", body: `{"BattleId":"b","OpType":0,"\u0042attleId":"c",` + rooms1 + `}`, wantField: "BattleId", wantMsg: []string{"appears 2 times"}},

		// OpType and the other integers.
		{name: "A missing OpType is refused.", body: `{"BattleId":"b",` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"missing"}},
		{name: "A null OpType counts as missing.", body: `{"BattleId":"b","OpType":null,` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"missing"}},
		{name: "An OpType sent as a string is refused.", body: `{"BattleId":"b","OpType":"0",` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"must be an integer"}},
		{name: "An OpType sent as a float is refused.", body: `{"BattleId":"b","OpType":1.0,` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"must be an integer"}},
		{name: "An OpType in exponent form is refused.", body: `{"BattleId":"b","OpType":1e0,` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"must be an integer"}},
		{name: "An OpType sent as a bool is refused.", body: `{"BattleId":"b","OpType":true,` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"must be an integer"}},
		{name: "An OpType just above the int64 range is refused as out of range.", body: `{"BattleId":"b","OpType":9223372036854775808,` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"integer out of range"}},
		{name: "An OpType just below the int64 range is refused as out of range.", body: `{"BattleId":"b","OpType":-9223372036854775809,` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"integer out of range"}},
		{name: "An OpType given twice is refused.", body: `{"BattleId":"b","OpType":0,"OpType":1,` + rooms1 + `}`, wantField: "OpType", wantMsg: []string{"appears 2 times"}},
		{name: "A Duration sent as a string is refused and named.", body: `{"BattleId":"b","OpType":0,"Duration":"30000",` + rooms1 + `}`, wantField: "Duration", wantMsg: []string{"must be an integer"}},
		{name: "An EndTime sent as a float is refused and named.", body: `{"BattleId":"b","OpType":0,"EndTime":1763801190.5,` + rooms1 + `}`, wantField: "EndTime", wantMsg: []string{"must be an integer"}},
		{name: "An EventTime beyond int64 is refused as out of range.", body: `{"BattleId":"b","OpType":0,"EventTime":99999999999999999999,` + rooms1 + `}`, wantField: "EventTime", wantMsg: []string{"integer out of range"}},
		{name: "A CreateTime given twice is refused.", body: `{"BattleId":"b","OpType":0,"CreateTime":1,"CreateTime":1,` + rooms1 + `}`, wantField: "CreateTime", wantMsg: []string{"appears 2 times"}},

		// Rooms.
		{name: "A caller Score sent as a float is refused and names the caller.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","Score":1.5}}`, wantField: "FromRoomInfo.Score", wantMsg: []string{"must be an integer"}},
		{name: "A callee Score sent as a float is refused and names the callee's index.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Score":1},{"RoomId":"r2","Score":2.0}]}`, wantField: "ToRoomList[1].Score", wantMsg: []string{"must be an integer"}},
		{name: "A Score sent as a string is refused.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Score":"5"}]}`, wantField: "ToRoomList[0].Score", wantMsg: []string{"must be an integer"}},
		{name: "A Score beyond int64 is refused as out of range.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Score":9223372036854775808}]}`, wantField: "ToRoomList[0].Score", wantMsg: []string{"integer out of range"}},
		{name: "An Owner_Account sent as a bool is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","Owner_Account":true}}`, wantField: "FromRoomInfo.Owner_Account", wantMsg: []string{"must be a string or a number"}},
		{name: "An Owner_Account sent as an object is refused.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Owner_Account":{"id":1}}]}`, wantField: "ToRoomList[0].Owner_Account", wantMsg: []string{"must be a string or a number"}},
		{name: "An Owner_Account sent as an array is refused.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Owner_Account":["a"]}]}`, wantField: "ToRoomList[0].Owner_Account", wantMsg: []string{"must be a string or a number"}},
		{name: "An Owner_Account of 257 bytes is refused as too long.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","Owner_Account":"` + long + `"}}`, wantField: "FromRoomInfo.Owner_Account", wantMsg: []string{"longer than 256 bytes"}},
		{name: "A ToRoomList that is an object is refused as not an array.", body: `{"BattleId":"b","OpType":0,"ToRoomList":{"RoomId":"r1"}}`, wantField: "ToRoomList", wantMsg: []string{"must be an array"}},
		{name: "A ToRoomList that is a string is refused as not an array.", body: `{"BattleId":"b","OpType":0,"ToRoomList":"r1"}`, wantField: "ToRoomList", wantMsg: []string{"must be an array"}},
		{name: "A callee that is a string is refused as not an object.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1"},"r2"]}`, wantField: "ToRoomList[1]", wantMsg: []string{"must be an object"}},
		{name: "A callee that is null is refused as not an object.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[null]}`, wantField: "ToRoomList[0]", wantMsg: []string{"must be an object"}},
		{name: "A FromRoomInfo that is an array is refused as not an object.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":[{"RoomId":"r1"}]}`, wantField: "FromRoomInfo", wantMsg: []string{"must be an object"}},
		{name: "A FromRoomInfo given twice is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1"},"FromRoomInfo":{"RoomId":"r2"}}`, wantField: "FromRoomInfo", wantMsg: []string{"appears 2 times"}},
		{name: "A room without RoomId is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1"},"ToRoomList":[{"Score":5}]}`, wantField: "ToRoomList[0].RoomId", wantMsg: []string{"missing"}},
		{name: "A caller without RoomId is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"Score":5}}`, wantField: "FromRoomInfo.RoomId", wantMsg: []string{"missing"}},
		{name: "An empty RoomId is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":""}}`, wantField: "FromRoomInfo.RoomId", wantMsg: []string{"empty"}},
		{name: "A numeric RoomId is refused as not a string.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":1001}]}`, wantField: "ToRoomList[0].RoomId", wantMsg: []string{"must be a string"}},
		{name: "A RoomId of 257 bytes is refused as too long.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1"},{"RoomId":"` + long + `"}]}`, wantField: "ToRoomList[1].RoomId", wantMsg: []string{"longer than 256 bytes"}},
		{name: "A RoomId given twice inside one room is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1","RoomId":"r2"}}`, wantField: "FromRoomInfo.RoomId", wantMsg: []string{"appears 2 times"}},
		{name: "A Score given twice inside a callee is refused.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r1","Score":1,"Score":1}]}`, wantField: "ToRoomList[0].Score", wantMsg: []string{"appears 2 times"}},
		{
			name:      "A callee with the caller's RoomId is refused and the message names both places.",
			body:      `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1"},"ToRoomList":[{"RoomId":"r2"},{"RoomId":"r1"}]}`,
			wantField: "ToRoomList[1].RoomId",
			wantMsg:   []string{`room "r1" already appears as FromRoomInfo`},
		},
		{
			name:      "Two callees with one RoomId are refused and the message names both places.",
			body:      `{"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"r1"},"ToRoomList":[{"RoomId":"r2"},{"RoomId":"r3"},{"RoomId":"r2"}]}`,
			wantField: "ToRoomList[2].RoomId",
			wantMsg:   []string{`room "r2" already appears as ToRoomList[0]`},
		},
		{
			name:      "Two callees with one RoomId and no caller are named by their own indexes.",
			body:      `{"BattleId":"b","OpType":0,"ToRoomList":[{"RoomId":"r2"},{"RoomId":"r2"}]}`,
			wantField: "ToRoomList[1].RoomId",
			wantMsg:   []string{`room "r2" already appears as ToRoomList[0]`},
		},
		{name: "A body without any room is refused.", body: `{"BattleId":"b","OpType":0}`, wantField: "FromRoomInfo", wantMsg: []string{"missing", "at least one room"}},
		{name: "A body with no caller and an empty ToRoomList is refused.", body: `{"BattleId":"b","OpType":0,"ToRoomList":[]}`, wantField: "FromRoomInfo", wantMsg: []string{"at least one room"}},
		{name: "A body with no caller and a null ToRoomList is refused.", body: `{"BattleId":"b","OpType":0,"FromRoomInfo":null,"ToRoomList":null}`, wantField: "FromRoomInfo", wantMsg: []string{"at least one room"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, perr := Parse([]byte(tt.body))
			var err error
			if tt.atParse {
				if perr == nil {
					t.Fatalf("Parse accepted %q", tt.body)
				}
				if body != nil {
					t.Errorf("Parse returned a body with its error")
				}
				err = perr
			} else {
				if perr != nil {
					t.Fatalf("Parse: %v", perr)
				}
				var got *EndBattle
				got, err = body.EndBattle()
				if err == nil {
					t.Fatalf("EndBattle accepted %q: %+v", tt.body, got)
				}
				if got != nil {
					t.Errorf("EndBattle returned a result with its error")
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (error: %v)", fe.Field, tt.wantField, err)
			}
			msg := err.Error()
			if tt.wantField != "" && !strings.HasPrefix(msg, tt.wantField+": ") {
				t.Errorf("error %q does not start with the field name %q", msg, tt.wantField)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
		})
	}
}

func TestFieldErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *FieldError
		want string
	}{
		{name: "An error about a field starts with the field's name.", err: &FieldError{Field: "ToRoomList[1].Score", Reason: "must be an integer"}, want: "ToRoomList[1].Score: must be an integer"},
		{name: "An error about the whole body is just the reason.", err: &FieldError{Reason: "body is not valid UTF-8"}, want: "body is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      string
		wantField string // FieldError.Field; "" when Command succeeds
		wantMsg   string
	}{
		{name: "The battle-end command is returned.", body: `{"CallbackCommand":"Live.CallbackAfterEndBattle"}`, want: CommandEndBattle},
		{name: "Commands this package does not model are returned as sent.", body: `{"CallbackCommand":"Live.CallbackBeforeSendGift","GiftId":"g"}`, want: "Live.CallbackBeforeSendGift"},
		{name: "An escaped command string is decoded.", body: `{"CallbackCommand":"Live.CallbackAfter\u0045ndBattle"}`, want: CommandEndBattle},
		{name: "A body without CallbackCommand has the empty command.", body: `{"BattleId":"b"}`, want: ""},
		{name: "An empty object has the empty command.", body: `{}`, want: ""},
		{name: "A null CallbackCommand is the empty command.", body: `{"CallbackCommand":null}`, want: ""},
		{name: "A numeric CallbackCommand is refused.", body: `{"CallbackCommand":3}`, wantField: "CallbackCommand", wantMsg: "must be a string"},
		{name: "An object CallbackCommand is refused.", body: `{"CallbackCommand":{"name":"Live.CallbackAfterEndBattle"}}`, wantField: "CallbackCommand", wantMsg: "must be a string"},
		{name: "A CallbackCommand given twice is refused.", body: `{"CallbackCommand":"a","CallbackCommand":"a"}`, wantField: "CallbackCommand", wantMsg: "appears 2 times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := b.Command()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Command: %v", err)
				}
				if got != tt.want {
					t.Errorf("Command = %q, want %q", got, tt.want)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Command error = %v (%T), want a *FieldError", err, err)
			}
			if fe.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Command error = %q (field %q), want field %q saying %q", err, fe.Field, tt.wantField, tt.wantMsg)
			}
			if got != "" {
				t.Errorf("Command returned %q with its error", got)
			}
		})
	}
}

func TestBodyIsReusable(t *testing.T) {
	// The receiver reads the command and then the battle from one parsed body.
	b, err := Parse(testutil.Fixture(t, "end-battle-caller-wins.json"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	first, err := b.EndBattle()
	if err != nil {
		t.Fatalf("EndBattle: %v", err)
	}
	if cmd, err := b.Command(); err != nil || cmd != CommandEndBattle {
		t.Fatalf("Command = %q, %v; want %q", cmd, err, CommandEndBattle)
	}
	second, err := b.EndBattle()
	if err != nil {
		t.Fatalf("second EndBattle: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("decoding one body twice gave different results (-first +second):\n%s", diff)
	}
}
