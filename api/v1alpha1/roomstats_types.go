package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoomStatsSpec is the identity of the room the statistics are about. The controller writes
// it once, when it creates the RoomStats; the object's name is derived from it.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
type RoomStatsSpec struct {
	// sdkAppId is the SDKAppID the room's battles were delivered for.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]{1,20}$`
	SDKAppID string `json:"sdkAppId"`

	// roomId is the room's ID exactly as Tencent sends it, also when the object name had to be
	// hashed.
	// +required
	RoomID RoomID `json:"roomId,omitempty"`
}

// LastBattle is the room's most recent battle by end time.
type LastBattle struct {
	// battleResult is the name of the BattleResult.
	// +required
	BattleResult string `json:"battleResult"`

	// battleId is Tencent's BattleId.
	// +required
	BattleID string `json:"battleId"`

	// endedAt is when the battle ended; absent when the callback had no usable EndTime.
	// +optional
	EndedAt *metav1.Time `json:"endedAt,omitempty"`

	// endReason is why the battle ended.
	// +required
	EndReason EndReason `json:"endReason,omitempty"`

	// result is what the battle meant for this room.
	// +required
	Result RoomResult `json:"result,omitempty"`

	// score is the room's score in the battle.
	// +required
	Score int64 `json:"score"`
}

// RoomCounts are a room's statistics over a set of battles: every battle in the status, the
// pruned ones in status.pruned.
type RoomCounts struct {
	// battles counts the battles played: those that started (TimeUp and AllHostsExited).
	// +optional
	Battles int64 `json:"battles"`

	// completed counts the battles that ran their full time (TimeUp).
	// +optional
	Completed int64 `json:"completed"`

	// wins counts the completed battles the room won alone.
	// +optional
	Wins int64 `json:"wins"`

	// losses counts the completed battles another room won or drew above this one.
	// +optional
	Losses int64 `json:"losses"`

	// draws counts the completed battles whose highest score the room shared.
	// +optional
	Draws int64 `json:"draws"`

	// abandoned counts the battles every host left (AllHostsExited).
	// +optional
	Abandoned int64 `json:"abandoned"`

	// neverStarted counts the battles that never started (NeverStarted). They are not played.
	// +optional
	NeverStarted int64 `json:"neverStarted"`

	// unknown counts the battles with an end reason this version does not know.
	// +optional
	Unknown int64 `json:"unknown"`

	// totalScore is the sum of the room's scores over the battles played.
	// +optional
	TotalScore int64 `json:"totalScore"`

	// highestScore is the room's highest score in a battle played; absent before the first.
	// +optional
	HighestScore *int64 `json:"highestScore,omitempty"`

	// currentWinStreak counts the wins since the last completed battle that was not a win, in
	// order of end time (ties broken by BattleId). Battles that were not completed neither
	// extend nor break a streak.
	// +optional
	CurrentWinStreak int64 `json:"currentWinStreak"`

	// longestWinStreak is the longest run of wins, counted the same way.
	// +optional
	LongestWinStreak int64 `json:"longestWinStreak"`

	// lastBattle is the room's latest battle by end time, of any kind.
	// +optional
	LastBattle LastBattle `json:"lastBattle,omitzero"`

	// ownerAccount is the room owner's account in the last battle.
	// +optional
	// +kubebuilder:validation:MinLength=1
	OwnerAccount string `json:"ownerAccount,omitempty"`
}

// PrunedBattles is the part of a room's statistics that comes from BattleResults deleted by
// retention (--battle-retention, --max-battle-results): their counts, scores and streaks in
// end-time order, as they stood when the last of them was deleted. A BattleResult deleted by
// hand is not folded in here: its battle is subtracted from the statistics.
type PrunedBattles struct {
	// battleResults counts the pruned BattleResults of the room.
	// +optional
	BattleResults int64 `json:"battleResults"`

	// The counts, scores, streaks and last battle of the pruned battles, as the status above
	// has them for every battle.
	RoomCounts `json:",inline"`

	// folded names the BattleResults folded in here whose deletion the controller has not
	// seen yet: while one is still stored it is not counted a second time.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=10000
	Folded []string `json:"folded,omitempty"`
}

// RoomStatsStatus is the aggregate of every battle the room took part in: the stored
// BattleResults, and those retention deleted (status.pruned), kept by the RoomStats controller.
//
// The status is one atomic value: its controller writes it whole, and nobody else writes it,
// so field ownership is tracked for it as a whole. That makes each write cheaper for the API
// server (3.3 ms of its CPU instead of 4.0; a battle writes the status of each of its rooms).
// +structType=atomic
// +kubebuilder:validation:MinProperties=1
type RoomStatsStatus struct {
	// conditions are the statistics' conditions. Ready is True once they count every
	// BattleResult of the room in the controller's cache; its message says how many are stored
	// and pruned, and what retention prunes.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// The room's counts, scores, streaks and last battle, over every battle it took part in.
	RoomCounts `json:",inline"`

	// winRate is wins over completed battles, as text for people ("62.5%"); empty when none.
	// +optional
	// +kubebuilder:validation:MinLength=1
	WinRate string `json:"winRate,omitempty"`

	// pruned is what the room's BattleResults that retention deleted contributed. The
	// statistics above include it: they count the pruned battles and the stored ones.
	// +optional
	Pruned *PrunedBattles `json:"pruned,omitempty"`

	// observedGeneration is the generation of the RoomStats these statistics were computed for.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// RoomStats is the exact battle record of one room of one SDKAppID: battles, wins, losses,
// draws, streaks and scores, kept by its controller from the room's BattleResults.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=roomstats,singular=roomstats,shortName=rstats,categories=battleops
// +kubebuilder:selectablefield:JSONPath=`.spec.roomId`
// +kubebuilder:selectablefield:JSONPath=`.spec.sdkAppId`
// +kubebuilder:printcolumn:name="Room",type=string,JSONPath=`.spec.roomId`
// +kubebuilder:printcolumn:name="Battles",type=integer,JSONPath=`.status.battles`
// +kubebuilder:printcolumn:name="Wins",type=integer,JSONPath=`.status.wins`
// +kubebuilder:printcolumn:name="Losses",type=integer,JSONPath=`.status.losses`
// +kubebuilder:printcolumn:name="Draws",type=integer,JSONPath=`.status.draws`
// +kubebuilder:printcolumn:name="Win Rate",type=string,JSONPath=`.status.winRate`
// +kubebuilder:printcolumn:name="Streak",type=integer,JSONPath=`.status.currentWinStreak`
// +kubebuilder:printcolumn:name="Last Battle",type=date,JSONPath=`.status.lastBattle.endedAt`
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.sdkAppId`,priority=1
// +kubebuilder:printcolumn:name="Completed",type=integer,JSONPath=`.status.completed`,priority=1
// +kubebuilder:printcolumn:name="Abandoned",type=integer,JSONPath=`.status.abandoned`,priority=1
// +kubebuilder:printcolumn:name="Never Started",type=integer,JSONPath=`.status.neverStarted`,priority=1
// +kubebuilder:printcolumn:name="Longest",type=integer,JSONPath=`.status.longestWinStreak`,priority=1
// +kubebuilder:printcolumn:name="Total Score",type=integer,JSONPath=`.status.totalScore`,priority=1
// +kubebuilder:printcolumn:name="Highest",type=integer,JSONPath=`.status.highestScore`,priority=1
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.status.ownerAccount`,priority=1
// +kubebuilder:printcolumn:name="Pruned",type=integer,JSONPath=`.status.pruned.battleResults`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RoomStats struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the room's identity.
	// +required
	Spec RoomStatsSpec `json:"spec,omitzero"`

	// status is the room's statistics.
	// +optional
	Status RoomStatsStatus `json:"status,omitempty,omitzero"`
}

// RoomStatsList is a list of RoomStats.
// +kubebuilder:object:root=true
type RoomStatsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RoomStats `json:"items"`
}
