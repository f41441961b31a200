// Package battle is the battle domain: decoding Tencent Live callback bodies losslessly,
// and the pure rules that turn a battle-end callback into a BattleResult spec.
package battle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Commands this package knows by name.
const (
	CommandCreateBattle = "Live.CallbackAfterCreateBattle"
	CommandStartBattle  = "Live.CallbackAfterStartBattle"
	CommandEndBattle    = "Live.CallbackAfterEndBattle"
)

// Limits a battle-end callback must respect. They match the BattleResult CRD's validation,
// so a callback this package accepts is never refused by the API server.
const (
	MaxRooms          = 100
	MaxBattleIDLength = 256
	MaxRoomIDLength   = 256
	MaxAccountLength  = 256
)

// FieldError says which member of a callback body is wrong, by Tencent's names
// (e.g. "ToRoomList[1].Score").
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// member is one member of a JSON object, with its key and value exactly as received.
type member struct {
	key    string          // decoded key
	rawKey []byte          // the key's JSON text as received, quotes included
	value  json.RawMessage // the value's JSON text as received
}

// object is a JSON object's members in the order received.
type object []member

// parseObject reads one JSON object and nothing else from data. field names the object in
// errors ("" for the body itself).
func parseObject(data []byte, field string) (object, error) {
	what := "body"
	if field != "" {
		what = field
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fieldErr(field, "%s is not valid JSON: %v", what, jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fieldErr(field, "%s must be a JSON object", what)
	}
	var obj object
	for dec.More() {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fieldErr(field, "%s is not valid JSON: %v", what, jsonErr(err))
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fieldErr(field, "%s is not valid JSON: member name expected", what)
		}
		end := dec.InputOffset()
		start := before + int64(bytes.IndexByte(data[before:end], '"'))
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fieldErr(field, "%s is not valid JSON: %v", what, jsonErr(err))
		}
		obj = append(obj, member{key: key, rawKey: data[start:end], value: value})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fieldErr(field, "%s is not valid JSON: %v", what, jsonErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr(field, "%s is not valid JSON: data after the object", what)
	}
	return obj, nil
}

func jsonErr(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// require is take for a member of the body that must be there.
func (o object) require(key string, used map[string]bool) (json.RawMessage, error) {
	raw, ok, err := o.take(key, key, used)
	if err == nil && !ok {
		err = fieldErr(key, "missing")
	}
	return raw, err
}

// take returns the value of the member named key and whether it is present and not null,
// and fails when the key appears twice. It marks the member as used.
func (o object) take(key, field string, used map[string]bool) (json.RawMessage, bool, error) {
	used[key] = true
	var found json.RawMessage
	n := 0
	for _, m := range o {
		if m.key == key {
			found = m.value
			n++
		}
	}
	if n > 1 {
		return nil, false, fieldErr(field, "appears %d times", n)
	}
	if n == 0 || string(found) == "null" {
		return nil, false, nil
	}
	return found, true, nil
}

// extra returns the members not marked as used, as the JSON text of an object holding them,
// each key and value exactly as received; "" when there are none.
func (o object) extra(used map[string]bool) string {
	var b strings.Builder
	for _, m := range o {
		if used[m.key] {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.Write(m.rawKey)
		b.WriteByte(':')
		b.Write(m.value)
	}
	if b.Len() == 0 {
		return ""
	}
	b.WriteByte('}')
	return b.String()
}

func decodeString(raw json.RawMessage, field string) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fieldErr(field, "must be a string")
	}
	if loneSurrogate(raw) {
		return "", fieldErr(field, "holds a \\u escape of half a UTF-16 surrogate pair, which no string can keep exactly")
	}
	return s, nil
}

// loneSurrogate says whether a JSON string's text escapes half of a UTF-16 surrogate pair
// without its other half (e.g. "\ud800"). Decoding makes it U+FFFD, so two different strings
// would become one: such a string is refused, not altered.
func loneSurrogate(raw []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // an escape of one character: skip it (it may be a backslash)
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			low, ok := hex4(i + 6)
			if !ok || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		default:
			i += 5
		}
	}
	return false
}

func decodeInt(raw json.RawMessage, field string) (int64, error) {
	s := string(raw)
	if len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, fieldErr(field, "must be an integer")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange) {
			return 0, fieldErr(field, "integer out of range")
		}
		return 0, fieldErr(field, "must be an integer")
	}
	return v, nil
}

// Body is a parsed callback body: a JSON object whose members are kept exactly as received.
type Body struct {
	obj object
}

// Parse checks that body is UTF-8 text holding exactly one JSON object and keeps its members.
func Parse(body []byte) (*Body, error) {
	if !utf8.Valid(body) {
		return nil, fieldErr("", "body is not valid UTF-8")
	}
	obj, err := parseObject(body, "")
	if err != nil {
		return nil, err
	}
	return &Body{obj: obj}, nil
}

// Command returns the body's CallbackCommand member; "" when it is absent.
func (b *Body) Command() (string, error) {
	raw, ok, err := b.obj.take("CallbackCommand", "CallbackCommand", map[string]bool{})
	if err != nil || !ok {
		return "", err
	}
	return decodeString(raw, "CallbackCommand")
}

// Room is one room of a battle-end callback, as sent.
type Room struct {
	// RoomID is RoomId.
	RoomID string
	// Score is Score; 0 when absent.
	Score int64
	// OwnerAccount is Owner_Account: a string as sent, or a number's exact digits.
	OwnerAccount string
	// Caller is true for FromRoomInfo.
	Caller bool
	// Extra is the room's unmodelled members as JSON object text, "" when none.
	Extra string
}

// EndBattle is a Live.CallbackAfterEndBattle body, as sent. Integer members that are absent
// or null are 0.
type EndBattle struct {
	BattleID   string
	OpType     int64
	Duration   int64
	CreateTime int64
	StartTime  int64
	EndTime    int64
	EventTime  int64
	// Rooms are FromRoomInfo (when present) followed by ToRoomList in order.
	Rooms []Room
	// Extra is the body's unmodelled members as JSON object text, "" when none.
	Extra string
}

// EndBattle decodes the body as a battle-end callback and validates it: BattleId and OpType
// present, every field of the right type, 1 to MaxRooms rooms, each with a RoomId, none twice.
// The error is a *FieldError naming the member at fault.
func (b *Body) EndBattle() (*EndBattle, error) {
	used := map[string]bool{"CallbackCommand": true}
	e := &EndBattle{}

	raw, err := b.obj.require("BattleId", used)
	if err != nil {
		return nil, err
	}
	if e.BattleID, err = decodeString(raw, "BattleId"); err != nil {
		return nil, err
	}
	if e.BattleID == "" {
		return nil, fieldErr("BattleId", "empty")
	}
	if len(e.BattleID) > MaxBattleIDLength {
		return nil, fieldErr("BattleId", "longer than %d bytes", MaxBattleIDLength)
	}

	if raw, err = b.obj.require("OpType", used); err != nil {
		return nil, err
	}
	if e.OpType, err = decodeInt(raw, "OpType"); err != nil {
		return nil, err
	}

	for _, f := range []struct {
		name string
		dst  *int64
	}{
		{"Duration", &e.Duration},
		{"CreateTime", &e.CreateTime},
		{"StartTime", &e.StartTime},
		{"EndTime", &e.EndTime},
		{"EventTime", &e.EventTime},
	} {
		raw, ok, err := b.obj.take(f.name, f.name, used)
		if err != nil {
			return nil, err
		}
		if ok {
			if *f.dst, err = decodeInt(raw, f.name); err != nil {
				return nil, err
			}
		}
	}

	raw, ok, err := b.obj.take("FromRoomInfo", "FromRoomInfo", used)
	if err != nil {
		return nil, err
	}
	if ok {
		room, err := decodeRoom(raw, "FromRoomInfo")
		if err != nil {
			return nil, err
		}
		room.Caller = true
		e.Rooms = append(e.Rooms, room)
	}

	raw, ok, err = b.obj.take("ToRoomList", "ToRoomList", used)
	if err != nil {
		return nil, err
	}
	if ok {
		var list []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
			return nil, fieldErr("ToRoomList", "must be an array")
		}
		if len(e.Rooms)+len(list) > MaxRooms {
			return nil, fieldErr("ToRoomList", "a battle has at most %d rooms, got %d", MaxRooms, len(e.Rooms)+len(list))
		}
		for i, r := range list {
			room, err := decodeRoom(r, fmt.Sprintf("ToRoomList[%d]", i))
			if err != nil {
				return nil, err
			}
			e.Rooms = append(e.Rooms, room)
		}
	}
	if len(e.Rooms) == 0 {
		return nil, fieldErr("FromRoomInfo", "missing: a battle needs at least one room")
	}
	seen := make(map[string]int, len(e.Rooms))
	for i, r := range e.Rooms {
		if j, dup := seen[r.RoomID]; dup {
			return nil, fieldErr(roomField(e.Rooms, i)+".RoomId", "room %q already appears as %s", r.RoomID, roomField(e.Rooms, j))
		}
		seen[r.RoomID] = i
	}

	e.Extra = b.obj.extra(used)
	return e, nil
}

// roomField names the i-th room of rooms by Tencent's member names.
func roomField(rooms []Room, i int) string {
	if len(rooms) > 0 && rooms[0].Caller {
		if i == 0 {
			return "FromRoomInfo"
		}
		i--
	}
	return fmt.Sprintf("ToRoomList[%d]", i)
}

func decodeRoom(raw json.RawMessage, field string) (Room, error) {
	if raw[0] != '{' {
		return Room{}, fieldErr(field, "must be an object")
	}
	obj, err := parseObject(raw, field)
	if err != nil {
		return Room{}, err
	}
	used := map[string]bool{}
	var room Room

	v, ok, err := obj.take("RoomId", field+".RoomId", used)
	if err != nil {
		return Room{}, err
	}
	if !ok {
		return Room{}, fieldErr(field+".RoomId", "missing")
	}
	if room.RoomID, err = decodeString(v, field+".RoomId"); err != nil {
		return Room{}, err
	}
	if room.RoomID == "" {
		return Room{}, fieldErr(field+".RoomId", "empty")
	}
	if len(room.RoomID) > MaxRoomIDLength {
		return Room{}, fieldErr(field+".RoomId", "longer than %d bytes", MaxRoomIDLength)
	}

	v, ok, err = obj.take("Score", field+".Score", used)
	if err != nil {
		return Room{}, err
	}
	if ok {
		if room.Score, err = decodeInt(v, field+".Score"); err != nil {
			return Room{}, err
		}
	}

	v, ok, err = obj.take("Owner_Account", field+".Owner_Account", used)
	if err != nil {
		return Room{}, err
	}
	if ok {
		if room.OwnerAccount, err = decodeAccount(v, field+".Owner_Account"); err != nil {
			return Room{}, err
		}
	}

	room.Extra = obj.extra(used)
	return room, nil
}

// decodeAccount accepts Owner_Account as a JSON string, or as a JSON number kept as the
// exact text sent (18-digit IDs do not survive float64).
func decodeAccount(raw json.RawMessage, field string) (string, error) {
	var s string
	switch c := raw[0]; {
	case c == '"':
		var err error
		if s, err = decodeString(raw, field); err != nil {
			if loneSurrogate(raw) {
				return "", err
			}
			return "", fieldErr(field, "must be a string or a number")
		}
	case c == '-' || (c >= '0' && c <= '9'):
		s = string(raw)
	default:
		return "", fieldErr(field, "must be a string or a number")
	}
	if len(s) > MaxAccountLength {
		return "", fieldErr(field, "longer than %d bytes", MaxAccountLength)
	}
	return s, nil
}
