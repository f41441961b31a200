package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EndReason says why a battle ended. It is derived from the callback's OpType.
// +kubebuilder:validation:Enum=TimeUp;AllHostsExited;NeverStarted;Unknown
type EndReason string

const (
	// EndReasonTimeUp (OpType 0): the battle ran its full time and ended normally.
	EndReasonTimeUp EndReason = "TimeUp"
	// EndReasonAllHostsExited (OpType 1): the battle started, then every host left it.
	EndReasonAllHostsExited EndReason = "AllHostsExited"
	// EndReasonNeverStarted (OpType 2): no invited host accepted; the battle never started.
	EndReasonNeverStarted EndReason = "NeverStarted"
	// EndReasonUnknown is an OpType this version of the operator does not know.
	EndReasonUnknown EndReason = "Unknown"
)

// RoomResult is what a battle meant for one room.
// +kubebuilder:validation:Enum=Win;Loss;Draw;NoContest
type RoomResult string

const (
	// RoomResultWin means the room alone had the highest score of a completed battle.
	RoomResultWin RoomResult = "Win"
	// RoomResultLoss means another room scored higher in a completed battle.
	RoomResultLoss RoomResult = "Loss"
	// RoomResultDraw means the room shared the highest score of a completed battle.
	RoomResultDraw RoomResult = "Draw"
	// RoomResultNoContest means the battle was not completed (abandoned, never started, unknown).
	RoomResultNoContest RoomResult = "NoContest"
)

// Outcome is what a battle meant as a whole.
// +kubebuilder:validation:Enum=Win;Draw;NoContest
type Outcome string

const (
	// OutcomeWin is a completed battle with exactly one room on the highest score.
	OutcomeWin Outcome = "Win"
	// OutcomeDraw is a completed battle whose highest score is shared.
	OutcomeDraw Outcome = "Draw"
	// OutcomeNoContest is a battle that was not completed.
	OutcomeNoContest Outcome = "NoContest"
)

// RoomID is a Tencent Live room ID, as sent.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=256
type RoomID string

// BattleRoom is one room of a battle: what the callback said of it, and its result.
type BattleRoom struct {
	// roomId is the room's ID (RoomId), exactly as sent.
	// +required
	RoomID RoomID `json:"roomId,omitempty"`

	// score is the room's battle score (Score). It may be negative.
	// +required
	Score int64 `json:"score"`

	// ownerAccount is the room owner's account ID (Owner_Account). Tencent sends it as a JSON
	// string or a JSON number; a number is kept as its exact digits, never rounded.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	OwnerAccount string `json:"ownerAccount"`

	// caller is true for the room that started the battle (FromRoomInfo).
	// +required
	Caller bool `json:"caller"`

	// result is what the battle meant for this room, computed when the battle was received.
	// +required
	Result RoomResult `json:"result,omitempty"`

	// rank is the room's competition rank by score (scores 9, 9, 4 rank 1, 1, 3).
	// +required
	// +kubebuilder:validation:Minimum=1
	Rank int32 `json:"rank,omitempty"`

	// extraFields holds the members of this room's object that the operator does not model,
	// as the exact JSON object text received. Empty when there were none.
	// +optional
	// +kubebuilder:validation:MinLength=1
	ExtraFields string `json:"extraFields,omitempty"`
}

// BattleResultSpec is one ended battle: everything Tencent's Live.CallbackAfterEndBattle
// callback said, losslessly, and the outcome computed from it when it was received.
// Field names are the lowerCamel form of Tencent's names.
//
// The spec is one atomic value: it is written once, whole, by the receiver and never changed,
// so field ownership is tracked for it as a whole rather than for each field of each room.
// That takes managedFields from about 650 bytes to about 20 per battle and makes every stored
// battle cheaper for the API server: 7.3 KiB of its memory instead of 12.1, 4 ms of its CPU per
// create instead of 6 (docs/benchmarks.md).
// +structType=atomic
// +kubebuilder:validation:XValidation:rule="self.rooms.all(r, self.winners.exists(w, w == r.roomId) == (r.result == 'Win'))",message="winners must be exactly the rooms whose result is Win"
type BattleResultSpec struct {
	// battleId is Tencent's opaque battle ID (BattleId), exactly as sent. Select on it with
	// `kubectl get br --field-selector spec.battleId=<id>` (write `=` as `\=`).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	BattleID string `json:"battleId,omitempty"`

	// sdkAppId is the SDKAppID the callback was delivered for (the SdkAppid query parameter).
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]{1,20}$`
	SDKAppID string `json:"sdkAppId"`

	// clientIP is the ClientIP query parameter of the delivery.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	ClientIP string `json:"clientIP,omitempty"`

	// optPlatform is the OptPlatform query parameter of the delivery (RESTAPI, Web, Android, iOS, ...).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	OptPlatform string `json:"optPlatform,omitempty"`

	// opType is the callback's OpType, as sent: 0 time up, 1 all hosts exited, 2 never started.
	// +required
	OpType int64 `json:"opType"`

	// endReason is opType as a name; an OpType the operator does not know is Unknown.
	// +required
	EndReason EndReason `json:"endReason,omitempty"`

	// durationMs is the planned battle length in milliseconds (Duration).
	// +optional
	DurationMs int64 `json:"durationMs"`

	// createTime is when the battle was created, Unix seconds as sent (CreateTime).
	// +optional
	CreateTime int64 `json:"createTime"`

	// startTime is when the battle started, Unix seconds as sent (StartTime). A battle that never
	// started may carry any value here.
	// +optional
	StartTime int64 `json:"startTime"`

	// endTime is when the battle ended, Unix seconds as sent (EndTime).
	// +optional
	EndTime int64 `json:"endTime"`

	// endedAt is endTime as a time, for people and for `kubectl get` columns. It is absent
	// when endTime is 0 or outside the years 0 to 9999 (endTime itself is kept as sent).
	// +optional
	EndedAt *metav1.Time `json:"endedAt,omitempty"`

	// eventTimeMs is when Tencent fired the callback, Unix milliseconds (EventTime).
	// +optional
	EventTimeMs int64 `json:"eventTimeMs"`

	// rooms are the battle's rooms: the caller (FromRoomInfo) first, then ToRoomList in order.
	// +required
	// +listType=map
	// +listMapKey=roomId
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	Rooms []BattleRoom `json:"rooms,omitempty"`

	// roomCount is the number of rooms, for `kubectl get` columns.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	RoomCount int32 `json:"roomCount,omitempty"`

	// outcome is what the battle meant as a whole, computed when it was received.
	// +required
	Outcome Outcome `json:"outcome,omitempty"`

	// winners are the IDs of the rooms whose result is Win: one room for a Win, none otherwise.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Winners []RoomID `json:"winners"`

	// extraFields holds the members of the callback body that the operator does not model, as
	// the exact JSON object text received. Empty when there were none.
	// +optional
	// +kubebuilder:validation:MinLength=1
	ExtraFields string `json:"extraFields,omitempty"`
}

// BattleResultStatus is what happened after the battle was stored. The receiver writes no
// status; controllers that react to battles record their work here.
// +kubebuilder:validation:MinProperties=1
type BattleResultStatus struct {
	// reactions records the BattleReactions that started their Jobs for this battle, so each
	// reaction runs once per battle, also after its Jobs are pruned. Each reaction writes only
	// its own entry (server-side apply).
	// +optional
	// +listType=map
	// +listMapKey=reaction
	// +kubebuilder:validation:MaxItems=1000
	Reactions []ReactionRecord `json:"reactions,omitempty"`
}

// ReactionRecord says that a BattleReaction started its Jobs for a battle.
type ReactionRecord struct {
	// reaction is the BattleReaction's name.
	// +required
	Reaction string `json:"reaction"`
	// uid is the BattleReaction's UID: a new reaction of the same name is another reaction.
	// +required
	UID string `json:"uid"`
	// jobs is how many Jobs the reaction started for the battle (0 for an HTTP reaction).
	// +required
	Jobs int32 `json:"jobs"`
	// firedAt is when the last of them was created (for an HTTP reaction: when its last run
	// finished).
	// +required
	FiredAt metav1.Time `json:"firedAt"`
	// delivered is how many of an HTTP reaction's runs for the battle were answered 2xx;
	// absent when none.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Delivered int32 `json:"delivered,omitempty"`
	// failed is how many of an HTTP reaction's runs for the battle failed; absent when none.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Failed int32 `json:"failed,omitempty"`
	// lastStatus is the HTTP status of the last answer to a failed run; absent when it got
	// none.
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=999
	LastStatus int32 `json:"lastStatus,omitempty"`
	// lastError says why the last failed run failed.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	LastError string `json:"lastError,omitempty"`
}

// BattleResult is one ended Tencent Live battle (PK). The callback receiver creates it, with
// its outcome, when Tencent's Live.CallbackAfterEndBattle arrives; its spec never changes.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=br,categories=battleops
// +kubebuilder:selectablefield:JSONPath=`.spec.battleId`
// +kubebuilder:selectablefield:JSONPath=`.spec.endReason`
// +kubebuilder:selectablefield:JSONPath=`.spec.outcome`
// +kubebuilder:selectablefield:JSONPath=`.spec.sdkAppId`
// +kubebuilder:printcolumn:name="Battle ID",type=string,JSONPath=`.spec.battleId`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.endReason`
// +kubebuilder:printcolumn:name="Outcome",type=string,JSONPath=`.spec.outcome`
// +kubebuilder:printcolumn:name="Winners",type=string,JSONPath=`.spec.winners[*]`
// +kubebuilder:printcolumn:name="Rooms",type=integer,JSONPath=`.spec.roomCount`
// +kubebuilder:printcolumn:name="Ended",type=date,JSONPath=`.spec.endedAt`
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.sdkAppId`,priority=1
// +kubebuilder:printcolumn:name="Duration (ms)",type=integer,JSONPath=`.spec.durationMs`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BattleResult struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the battle as Tencent reported it, with its outcome. Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
	Spec BattleResultSpec `json:"spec,omitzero"`

	// status is what happened after the battle was stored.
	// +optional
	Status BattleResultStatus `json:"status,omitempty,omitzero"`
}

// BattleResultList is a list of BattleResults.
// +kubebuilder:object:root=true
type BattleResultList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BattleResult `json:"items"`
}
