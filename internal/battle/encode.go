package battle

import (
	"bytes"
	"encoding/json"
	"strconv"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// EndBattleBody is a Live.CallbackAfterEndBattle body for a stored battle: the one Tencent
// sent, member for member, as far as the spec keeps it. The caller's room is FromRoomInfo and
// the others ToRoomList, in their order; the unmodelled members of the body and of each room
// follow the known ones, exactly as received. Two things read differently from the original:
// Owner_Account is always a string (a number's exact digits), and members whose value was null
// or absent are written as 0 (integers) or left out (rooms). Decoding the body and Spec give
// back a spec with no Differences from spec.
func EndBattleBody(spec *livev1alpha1.BattleResultSpec) ([]byte, error) {
	var b bytes.Buffer
	w := objectWriter{b: &b}
	w.open()
	w.member("CallbackCommand", CommandEndBattle)
	w.member("BattleId", spec.BattleID)
	w.member("OpType", spec.OpType)
	w.member("Duration", spec.DurationMs)
	w.member("CreateTime", spec.CreateTime)
	w.member("StartTime", spec.StartTime)
	w.member("EndTime", spec.EndTime)
	w.member("EventTime", spec.EventTimeMs)
	var others []json.RawMessage
	for i := range spec.Rooms {
		room, err := roomBody(&spec.Rooms[i])
		if err != nil {
			return nil, err
		}
		if spec.Rooms[i].Caller {
			w.member("FromRoomInfo", room)
			continue
		}
		others = append(others, room)
	}
	if len(others) > 0 {
		w.member("ToRoomList", others)
	}
	w.extra(spec.ExtraFields)
	if w.err != nil {
		return nil, w.err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func roomBody(room *livev1alpha1.BattleRoom) (json.RawMessage, error) {
	var b bytes.Buffer
	w := objectWriter{b: &b}
	w.open()
	w.member("RoomId", string(room.RoomID))
	w.member("Score", room.Score)
	w.member("Owner_Account", room.OwnerAccount)
	w.extra(room.ExtraFields)
	b.WriteByte('}')
	return b.Bytes(), w.err
}

// objectWriter writes a JSON object's members in order.
type objectWriter struct {
	b   *bytes.Buffer
	n   int
	err error
}

func (w *objectWriter) open() { w.b.WriteByte('{') }

func (w *objectWriter) sep() {
	if w.n > 0 {
		w.b.WriteByte(',')
	}
	w.n++
}

func (w *objectWriter) member(key string, value any) {
	if w.err != nil {
		return
	}
	w.sep()
	w.b.WriteString(strconv.Quote(key))
	w.b.WriteByte(':')
	switch v := value.(type) {
	case json.RawMessage: // as it is: Marshal would escape <, > and & in it
		w.b.Write(v)
	case []json.RawMessage:
		w.b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.b.Write(item)
		}
		w.b.WriteByte(']')
	default:
		var raw []byte
		raw, w.err = json.Marshal(value)
		w.b.Write(raw)
	}
}

// extra writes the members of obj, the JSON text of an object as Body.extra keeps it.
func (w *objectWriter) extra(obj string) {
	if w.err != nil || obj == "" {
		return
	}
	members := bytes.TrimSpace([]byte(obj))
	if len(members) < 2 || members[0] != '{' || members[len(members)-1] != '}' {
		w.err = &FieldError{Reason: "extra fields are not a JSON object"}
		return
	}
	if inner := bytes.TrimSpace(members[1 : len(members)-1]); len(inner) > 0 {
		w.sep()
		w.b.Write(inner)
	}
}
