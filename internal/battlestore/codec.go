package battlestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// A record is one BattleResult in a compact binary form: varints for numbers, a length and the
// bytes for strings, one byte for the API's enumerations and for a UID that is a UUID. It
// keeps everything the controllers read (and that a Job's BATTLE_JSON or a CEL expression may
// see): the whole spec, the reactions' records, and the metadata below. It drops what no
// controller reads: managedFields, the last-applied annotation, owner references,
// generateName.
//
// Encoded, a battle of 2 or 3 rooms is about 200 bytes (the fixtures: 196 to 215 bytes with 2
// rooms, 286 with 4), against about 1,000 bytes as a decoded Go object. The name and namespace
// are the store's keys, not part of the record.

// enums are the strings the record writes as one byte: the values of the API's enumerations.
// A value not listed is written as a string. Never reorder: only append.
var enums = []string{
	"", // 0: a string follows
	string(livev1alpha1.EndReasonTimeUp), string(livev1alpha1.EndReasonAllHostsExited),
	string(livev1alpha1.EndReasonNeverStarted), string(livev1alpha1.EndReasonUnknown),
	string(livev1alpha1.RoomResultWin), string(livev1alpha1.RoomResultLoss),
	string(livev1alpha1.RoomResultDraw), string(livev1alpha1.RoomResultNoContest),
}

var enumCode = func() map[string]byte {
	m := map[string]byte{}
	for i, s := range enums[1:] {
		m[s] = byte(i + 1) // Win is both a RoomResult and an Outcome: one code
	}
	return m
}()

// Field presence bits of a record's metadata.
const (
	hasDeletion = 1 << iota
	hasLabels
	hasAnnotations
	hasFinalizers
	hasEndedAt
)

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *encoder) string(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) enum(s string) {
	if c, ok := enumCode[s]; ok {
		e.b = append(e.b, c)
		return
	}
	e.b = append(e.b, 0)
	e.string(s)
}

// uid writes a UUID in its 16 bytes, anything else as a string.
func (e *encoder) uid(s types.UID) {
	if u, err := uuid.Parse(string(s)); err == nil && u.String() == string(s) {
		e.b = append(e.b, 1)
		e.b = append(e.b, u[:]...)
		return
	}
	e.b = append(e.b, 0)
	e.string(string(s))
}

// resourceVersion writes a decimal resource version as a number, anything else as a string.
func (e *encoder) resourceVersion(s string) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil && strconv.FormatUint(n, 10) == s {
		e.uint(n + 1)
		return
	}
	e.uint(0)
	e.string(s)
}

// length writes a slice's length, keeping nil (JSON null) apart from empty ([]).
func (e *encoder) length(isNil bool, n int) {
	if isNil {
		e.uint(0)
		return
	}
	e.uint(uint64(n) + 1)
}

func (e *encoder) time(t time.Time) {
	e.int(t.Unix())
	e.uint(uint64(t.Nanosecond()))
}

func (e *encoder) stringMap(m map[string]string) {
	e.uint(uint64(len(m)))
	for k, v := range m {
		e.string(k)
		e.string(v)
	}
}

// encode is br as a record.
func encode(br *livev1alpha1.BattleResult) string {
	e := encoder{b: make([]byte, 0, 256)}
	var flags byte
	if br.DeletionTimestamp != nil {
		flags |= hasDeletion
	}
	if len(br.Labels) > 0 {
		flags |= hasLabels
	}
	annotations := br.Annotations
	if _, ok := annotations[corev1.LastAppliedConfigAnnotation]; ok {
		annotations = maps.Clone(annotations)
		delete(annotations, corev1.LastAppliedConfigAnnotation)
	}
	if len(annotations) > 0 {
		flags |= hasAnnotations
	}
	if len(br.Finalizers) > 0 {
		flags |= hasFinalizers
	}
	if br.Spec.EndedAt != nil {
		flags |= hasEndedAt
	}
	e.b = append(e.b, flags)
	e.uid(br.UID)
	e.resourceVersion(br.ResourceVersion)
	e.int(br.Generation)
	e.time(br.CreationTimestamp.Time)
	if br.DeletionTimestamp != nil {
		e.time(br.DeletionTimestamp.Time)
	}
	if flags&hasLabels != 0 {
		e.stringMap(br.Labels)
	}
	if flags&hasAnnotations != 0 {
		e.stringMap(annotations)
	}
	if flags&hasFinalizers != 0 {
		e.uint(uint64(len(br.Finalizers)))
		for _, f := range br.Finalizers {
			e.string(f)
		}
	}

	s := &br.Spec
	e.string(s.BattleID)
	e.string(s.SDKAppID)
	e.string(s.ClientIP)
	e.string(s.OptPlatform)
	e.int(s.OpType)
	e.enum(string(s.EndReason))
	e.int(s.DurationMs)
	e.int(s.CreateTime)
	e.int(s.StartTime)
	e.int(s.EndTime)
	if s.EndedAt != nil {
		e.time(s.EndedAt.Time)
	}
	e.int(s.EventTimeMs)
	e.length(s.Rooms == nil, len(s.Rooms))
	for i := range s.Rooms {
		r := &s.Rooms[i]
		e.string(string(r.RoomID))
		e.int(r.Score)
		e.string(r.OwnerAccount)
		if r.Caller {
			e.b = append(e.b, 1)
		} else {
			e.b = append(e.b, 0)
		}
		e.enum(string(r.Result))
		e.int(int64(r.Rank))
		e.string(r.ExtraFields)
	}
	e.int(int64(s.RoomCount))
	e.enum(string(s.Outcome))
	e.length(s.Winners == nil, len(s.Winners))
	for _, w := range s.Winners {
		e.string(string(w))
	}
	e.string(s.ExtraFields)

	e.uint(uint64(len(br.Status.Reactions)))
	for i := range br.Status.Reactions {
		rec := &br.Status.Reactions[i]
		e.string(rec.Reaction)
		e.uid(types.UID(rec.UID))
		e.int(int64(rec.Jobs))
		e.time(rec.FiredAt.Time)
	}
	return string(e.b)
}

var errCorrupt = errors.New("corrupt battle record")

type decoder struct {
	s   string
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.s = ""
}

func (d *decoder) byte() byte {
	if len(d.s) == 0 {
		d.fail()
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func (d *decoder) uint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c := d.byte()
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	d.fail()
	return 0
}

func (d *decoder) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) string() string {
	n := d.uint()
	if n > uint64(len(d.s)) {
		d.fail()
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) enum() string {
	c := d.byte()
	if c == 0 {
		return d.string()
	}
	if int(c) >= len(enums) {
		d.fail()
		return ""
	}
	return enums[c]
}

func (d *decoder) uid() types.UID {
	if d.byte() == 0 {
		return types.UID(d.string())
	}
	if len(d.s) < 16 {
		d.fail()
		return ""
	}
	var u uuid.UUID
	copy(u[:], d.s[:16])
	d.s = d.s[16:]
	return types.UID(u.String())
}

func (d *decoder) resourceVersion() string {
	if n := d.uint(); n > 0 {
		return strconv.FormatUint(n-1, 10)
	}
	return d.string()
}

// time reads a time as the API's JSON decoding gives it: in the local zone.
func (d *decoder) time() metav1.Time {
	sec := d.int()
	nsec := d.uint()
	return metav1.NewTime(time.Unix(sec, int64(nsec)).Local())
}

// timeIf is the next time when the record holds one (present), nil otherwise.
func (d *decoder) timeIf(present bool) *metav1.Time {
	if !present {
		return nil
	}
	t := d.time()
	return &t
}

func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.s)) { // every element takes a byte at least
		d.fail()
		return 0
	}
	return int(n)
}

// length reads what encoder.length wrote: -1 for nil.
func (d *decoder) length() int {
	n := d.uint()
	if n == 0 {
		return -1
	}
	if n-1 > uint64(len(d.s)) {
		d.fail()
		return -1
	}
	return int(n - 1)
}

func (d *decoder) stringMap() map[string]string {
	n := d.count()
	m := make(map[string]string, n)
	for range n {
		k := d.string()
		m[k] = d.string()
	}
	return m
}

// decode is the BattleResult that record rec of namespace/name holds: a new object that the
// caller may change (its strings share the record's bytes, which never change).
func decode(namespace, name, rec string) (*livev1alpha1.BattleResult, error) {
	d := decoder{s: rec}
	br := &livev1alpha1.BattleResult{}
	br.APIVersion, br.Kind = livev1alpha1.GroupVersion.String(), "BattleResult"
	br.Namespace, br.Name = namespace, name
	flags := d.byte()
	br.UID = d.uid()
	br.ResourceVersion = d.resourceVersion()
	br.Generation = d.int()
	br.CreationTimestamp = d.time()
	br.DeletionTimestamp = d.timeIf(flags&hasDeletion != 0)
	if flags&hasLabels != 0 {
		br.Labels = d.stringMap()
	}
	if flags&hasAnnotations != 0 {
		br.Annotations = d.stringMap()
	}
	if flags&hasFinalizers != 0 {
		br.Finalizers = make([]string, d.count())
		for i := range br.Finalizers {
			br.Finalizers[i] = d.string()
		}
	}

	s := &br.Spec
	s.BattleID = d.string()
	s.SDKAppID = d.string()
	s.ClientIP = d.string()
	s.OptPlatform = d.string()
	s.OpType = d.int()
	s.EndReason = livev1alpha1.EndReason(d.enum())
	s.DurationMs = d.int()
	s.CreateTime = d.int()
	s.StartTime = d.int()
	s.EndTime = d.int()
	s.EndedAt = d.timeIf(flags&hasEndedAt != 0)
	s.EventTimeMs = d.int()
	if n := d.length(); n >= 0 {
		s.Rooms = make([]livev1alpha1.BattleRoom, n)
	}
	for i := range s.Rooms {
		r := &s.Rooms[i]
		r.RoomID = livev1alpha1.RoomID(d.string())
		r.Score = d.int()
		r.OwnerAccount = d.string()
		r.Caller = d.byte() == 1
		r.Result = livev1alpha1.RoomResult(d.enum())
		r.Rank = int32(d.int())
		r.ExtraFields = d.string()
	}
	s.RoomCount = int32(d.int())
	s.Outcome = livev1alpha1.Outcome(d.enum())
	if n := d.length(); n >= 0 {
		s.Winners = make([]livev1alpha1.RoomID, n)
	}
	for i := range s.Winners {
		s.Winners[i] = livev1alpha1.RoomID(d.string())
	}
	s.ExtraFields = d.string()

	if n := d.count(); n > 0 {
		br.Status.Reactions = make([]livev1alpha1.ReactionRecord, n)
		for i := range br.Status.Reactions {
			rec := &br.Status.Reactions[i]
			rec.Reaction = d.string()
			rec.UID = string(d.uid())
			rec.Jobs = int32(d.int())
			rec.FiredAt = d.time()
		}
	}
	if d.err == nil && len(d.s) > 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, fmt.Errorf("BattleResult %s/%s: %w", namespace, name, d.err)
	}
	return br, nil
}
