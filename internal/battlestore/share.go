package battlestore

import (
	"strings"
	"sync"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// share makes the strings that many battles repeat (namespace, app, room IDs, owners,
// results, reactions) point at one copy each, before handlers keep them: a room's tally
// holds its ID, owner and result once per battle, and they are the same strings every time.
func share(br *livev1alpha1.BattleResult) {
	br.ManagedFields = nil
	br.Namespace = intern(br.Namespace)
	spec := &br.Spec
	spec.SDKAppID, spec.ClientIP, spec.OptPlatform = intern(spec.SDKAppID), intern(spec.ClientIP), intern(spec.OptPlatform)
	spec.EndReason, spec.Outcome = intern(spec.EndReason), intern(spec.Outcome)
	for i := range spec.Rooms {
		room := &spec.Rooms[i]
		room.RoomID, room.OwnerAccount, room.Result = intern(room.RoomID), intern(room.OwnerAccount), intern(room.Result)
	}
	for i := range spec.Winners {
		spec.Winners[i] = intern(spec.Winners[i])
	}
	for i := range br.Status.Reactions {
		rec := &br.Status.Reactions[i]
		rec.Reaction, rec.UID = intern(rec.Reaction), intern(rec.UID)
	}
}

// interned holds the shared copies of the strings battles repeat. It grows with the distinct
// rooms, owners and apps, not with battles, and stops growing at maxInterned entries (a
// string past that is kept as decoded).
var interned = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

const maxInterned = 1 << 20

// intern returns the one shared copy of s.
func intern[S ~string](s S) S {
	if s == "" {
		return s
	}
	interned.Lock()
	defer interned.Unlock()
	if c, ok := interned.m[string(s)]; ok {
		return S(c)
	}
	if len(interned.m) >= maxInterned {
		return s
	}
	c := strings.Clone(string(s)) // not a slice of a larger decoded buffer
	interned.m[c] = c
	return S(c)
}
