package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunFor says for whom a reaction runs its Job.
// +kubebuilder:validation:Enum=Battle;EachRoom;EachWinner
type RunFor string

const (
	// RunForBattle runs one Job per matching battle.
	RunForBattle RunFor = "Battle"
	// RunForEachRoom runs one Job per room of a matching battle.
	RunForEachRoom RunFor = "EachRoom"
	// RunForEachWinner runs one Job per winning room of a matching battle; a draw or a battle
	// that was not completed has no winner and gets no Job.
	RunForEachWinner RunFor = "EachWinner"
)

// BattleMatch says which battles a reaction reacts to. Every criterion given must hold; an
// empty match matches every battle.
type BattleMatch struct {
	// endReasons are the reasons the battle may have ended for. Empty: any reason.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	EndReasons []EndReason `json:"endReasons,omitempty"`
	// outcomes are the outcomes the battle may have. Empty: any outcome.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	Outcomes []Outcome `json:"outcomes,omitempty"`
	// rooms are rooms of which at least one took part in the battle. Empty: any rooms.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	Rooms []RoomID `json:"rooms,omitempty"`
	// minTopScore is the least highest score of the battle.
	// +optional
	MinTopScore *int64 `json:"minTopScore,omitempty"`
	// expression is a CEL expression that must evaluate to true. The variable `battle` is the
	// BattleResult's spec, e.g. `battle.rooms.exists(r, r.score >= 1000) && battle.durationMs >= 60000`.
	// An expression that does not compile, or does not give a bool, sets Ready=False.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Expression string `json:"expression,omitempty"`
}

// BattleReactionSpec is "when a battle like this ends, run this Job" (or send this request).
// +kubebuilder:validation:XValidation:rule="has(self.jobTemplate) != has(self.http)",message="exactly one of jobTemplate and http must be set"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.http) == has(self.http)",message="a reaction cannot switch between jobTemplate and http: create another reaction"
type BattleReactionSpec struct {
	// match selects the battles to react to. Only BattleResults of the reaction's own
	// namespace are considered.
	// +optional
	Match BattleMatch `json:"match,omitempty"`
	// runFor says whether a matching battle gets one Job (Battle), one per room (EachRoom) or
	// one per winning room (EachWinner).
	// +optional
	// +default="Battle"
	RunFor RunFor `json:"runFor,omitempty"`
	// startingAfter is when the battles that count begin: those whose BattleResult was
	// created (arrived) at or after it. Default: the reaction's creation. Set it earlier to react to battles already
	// stored. Arrival time is what counts, not the battle's end time, so a late delivery
	// still fires.
	// +optional
	StartingAfter *metav1.Time `json:"startingAfter,omitempty"`
	// suspend stops Job creation while true. When it turns false again, the battles that
	// arrived meanwhile get their Jobs.
	// +optional
	// +default=false
	Suspend bool `json:"suspend,omitempty"`
	// maxRunningJobs limits the reaction's unfinished Jobs; 0 means no limit. Jobs beyond the
	// limit wait, in order of battle arrival. For an http reaction it limits the requests in
	// flight, and 0 means 100.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxRunningJobs int32 `json:"maxRunningJobs,omitempty"`
	// successfulJobsHistoryLimit is how many succeeded Jobs are kept. Default 3.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +default=3
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`
	// failedJobsHistoryLimit is how many failed Jobs are kept. Default 1.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +default=1
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`
	// jobTemplate is the Job to run. Every container gets the battle as environment variables
	// (BATTLE_ID, BATTLE_RESULT, BATTLE_NAMESPACE, BATTLE_END_REASON, BATTLE_OUTCOME,
	// BATTLE_WINNER_ROOMS, BATTLE_JSON, and for per-room runs ROOM_ID, ROOM_SCORE,
	// ROOM_RESULT, ROOM_RANK, ROOM_OWNER_ACCOUNT), so `$(BATTLE_ID)` works in command and args.
	// Exactly one of jobTemplate and http is set.
	// +optional
	JobTemplate *batchv1.JobTemplateSpec `json:"jobTemplate,omitempty"`
	// http sends an HTTP request instead of running a Job: one POST per run (battle, room or
	// winner), delivered at least once and recorded exactly once. Exactly one of jobTemplate
	// and http is set.
	// +optional
	HTTP HTTPAction `json:"http,omitzero"`
}

// HTTPFormat is the body of an HTTP reaction's request.
// +kubebuilder:validation:Enum=Battle;TencentCallback
type HTTPFormat string

const (
	// HTTPFormatBattle sends the battle as JSON: {"reaction", "namespace", "battleResult",
	// "idempotencyKey", "battle" (the BattleResult's spec), and for per-room runs "room"}.
	HTTPFormatBattle HTTPFormat = "Battle"
	// HTTPFormatTencentCallback sends a Live.CallbackAfterEndBattle body equivalent to the one
	// Tencent sent, so a backend that handles Tencent's callback handles it unchanged.
	HTTPFormatTencentCallback HTTPFormat = "TencentCallback"
)

// HTTPAction is the request an HTTP reaction sends for each run.
type HTTPAction struct {
	// url is where the request goes: an http or https URL. HTTPS certificates are verified
	// against the manager's system roots; redirects are not followed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="must be an absolute http or https URL"
	URL string `json:"url,omitempty"`
	// headers are added to every request. The operator sets Content-Type, Idempotency-Key and
	// User-Agent itself.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Headers []HTTPHeader `json:"headers,omitempty"`
	// format is the request's body: Battle (default) or TencentCallback.
	// +optional
	// +default="Battle"
	Format HTTPFormat `json:"format,omitempty"`
	// timeoutSeconds bounds one attempt, from connecting to the end of the answer. Default 5.
	// +optional
	// +default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=300
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// retryForSeconds is how long a run is retried, with exponential backoff (1 s doubling,
	// at most 1 m apart), after an attempt that failed: no answer, or an answer 408, 429 or
	// 5xx. Any other answer that is not 2xx fails the run at once. A run still failing when
	// the next attempt would start after retryForSeconds is recorded as failed with its last
	// answer. Default 600 (10 minutes); 0 makes one attempt.
	// +optional
	// +default=600
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=604800
	RetryForSeconds *int32 `json:"retryForSeconds,omitempty"`
}

// HTTPHeader is one header of an HTTP reaction's requests: a value, or a key of a Secret in
// the reaction's namespace (read by the manager when it sends; a change applies to the next
// attempt).
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.valueFrom)",message="exactly one of value and valueFrom must be set"
type HTTPHeader struct {
	// name is the header's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	// +kubebuilder:validation:XValidation:rule="!(self.lowerAscii() in ['content-type', 'content-length', 'idempotency-key', 'host', 'transfer-encoding', 'connection'])",message="is set by the operator"
	Name string `json:"name,omitempty"`
	// value is the header's value.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value *string `json:"value,omitempty"`
	// valueFrom takes the header's value from a key of a Secret in the reaction's namespace.
	// +optional
	ValueFrom HeaderSource `json:"valueFrom,omitzero"`
}

// HeaderSource is where a header's value comes from.
type HeaderSource struct {
	// secretKeyRef selects a key of a Secret in the reaction's namespace.
	// +required
	SecretKeyRef SecretKeyRef `json:"secretKeyRef,omitzero"`
}

// SecretKeyRef names one key of a Secret in the same namespace.
type SecretKeyRef struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// key is the key in the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// FiredBattle names the last battle a reaction fired for.
type FiredBattle struct {
	// battleResult is the BattleResult's name.
	// +required
	BattleResult string `json:"battleResult"`
	// battleId is the battle's BattleId.
	// +required
	BattleID string `json:"battleId"`
	// job is the name of the (first) Job started for it.
	// +required
	Job string `json:"job"`
	// time is when the battle's BattleResult arrived.
	// +required
	Time metav1.Time `json:"time"`
}

// CriteriaRecord remembers which match criteria are in force and since when, so an edit of
// the criteria applies to battles arriving after it.
type CriteriaRecord struct {
	// hash identifies spec.match and spec.runFor.
	// +required
	Hash string `json:"hash"`
	// since is when these criteria were set by an edit; zero for the reaction's first criteria.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
}

// JobAccounting keeps the lifetime counts of Jobs that no longer exist. It lets the counts in
// the status outlive pruned and deleted Jobs, counted exactly once.
type JobAccounting struct {
	// started counts the Jobs gone (pruned or deleted).
	// +optional
	Started int64 `json:"started"`
	// succeeded counts the Jobs gone that had succeeded.
	// +optional
	Succeeded int64 `json:"succeeded"`
	// failed counts the Jobs gone that had failed.
	// +optional
	Failed int64 `json:"failed"`
	// leaving names the Jobs already counted above that still exist, their deletion pending.
	// +optional
	// +listType=set
	Leaving []string `json:"leaving,omitempty"`
}

// BattleReactionStatus is what the reaction has done.
// +kubebuilder:validation:MinProperties=1
type BattleReactionStatus struct {
	// conditions are the reaction's conditions. Ready is True when its spec is usable, False
	// with a reason (InvalidExpression, InvalidJobTemplate) when the user must fix it.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// jobsStarted is the number of Jobs the reaction ever created.
	// +optional
	JobsStarted int64 `json:"jobsStarted"`
	// jobsSucceeded is the number of its Jobs that ever succeeded.
	// +optional
	JobsSucceeded int64 `json:"jobsSucceeded"`
	// jobsFailed is the number of its Jobs that ever failed.
	// +optional
	JobsFailed int64 `json:"jobsFailed"`
	// jobsRunning is the number of its Jobs not finished now.
	// +optional
	JobsRunning int64 `json:"jobsRunning"`
	// waitingBattles is the number of matching battles whose Jobs are not all created yet
	// (suspended, or over maxRunningJobs).
	// +optional
	WaitingBattles int64 `json:"waitingBattles"`
	// lastFired is the last battle the reaction started Jobs for.
	// +optional
	LastFired *FiredBattle `json:"lastFired,omitempty"`
	// criteria records the match criteria in force.
	// +optional
	Criteria *CriteriaRecord `json:"criteria,omitempty"`
	// accounting keeps the counts of Jobs that are gone.
	// +optional
	Accounting JobAccounting `json:"accounting,omitempty"`
	// deliveries counts an HTTP reaction's runs.
	// +optional
	Deliveries *DeliveryCounts `json:"deliveries,omitempty"`
}

// DeliveryCounts counts an HTTP reaction's runs (one request, retried until it succeeds or
// its retryFor is over), each exactly once.
type DeliveryCounts struct {
	// delivered is the number of runs ever answered 2xx.
	// +optional
	Delivered int64 `json:"delivered"`
	// failed is the number of runs that ever failed (a refusal, or retryFor over).
	// +optional
	Failed int64 `json:"failed"`
	// inFlight is the number of runs started and not finished: being sent, retried, or
	// waiting for one of the maxRunningJobs requests at once.
	// +optional
	InFlight int64 `json:"inFlight"`
	// recording are finished battles counted above whose record on the BattleResult is not
	// written yet; the record is written from here, so a restart neither counts nor sends
	// them again.
	// +optional
	// +listType=map
	// +listMapKey=battleResult
	// +kubebuilder:validation:MaxItems=1000
	Recording []DeliveryRecord `json:"recording,omitempty"`
}

// DeliveryRecord is what an HTTP reaction's runs for one battle came to.
type DeliveryRecord struct {
	// battleResult is the BattleResult's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	BattleResult string `json:"battleResult,omitempty"`
	// delivered is how many of its runs were answered 2xx.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Delivered int32 `json:"delivered"`
	// failed is how many of its runs failed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Failed int32 `json:"failed"`
	// lastStatus is the HTTP status of the last answer to a failed run; absent when it got none.
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

// BattleReaction runs a Job when a matching battle of its namespace ends.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=brx,categories=battleops
// +kubebuilder:printcolumn:name="Run For",type=string,JSONPath=`.spec.runFor`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Started",type=integer,JSONPath=`.status.jobsStarted`
// +kubebuilder:printcolumn:name="Succeeded",type=integer,JSONPath=`.status.jobsSucceeded`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.jobsFailed`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.jobsRunning`
// +kubebuilder:printcolumn:name="Delivered",type=integer,JSONPath=`.status.deliveries.delivered`,priority=1
// +kubebuilder:printcolumn:name="Undelivered",type=integer,JSONPath=`.status.deliveries.failed`,priority=1
// +kubebuilder:printcolumn:name="Last Battle",type=string,JSONPath=`.status.lastFired.battleId`,priority=1
// +kubebuilder:printcolumn:name="Last Fired",type=date,JSONPath=`.status.lastFired.time`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BattleReaction struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// spec says which battles to react to and which Job to run.
	// +required
	Spec BattleReactionSpec `json:"spec"`
	// status is what the reaction has done.
	// +optional
	Status BattleReactionStatus `json:"status,omitempty,omitzero"`
}

// BattleReactionList is a list of BattleReactions.
// +kubebuilder:object:root=true
type BattleReactionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BattleReaction `json:"items"`
}
