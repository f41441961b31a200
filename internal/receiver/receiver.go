// Package receiver is the HTTP endpoint Tencent Cloud Live POSTs its callbacks to. It turns
// every Live.CallbackAfterEndBattle into a BattleResult and answers only once it is stored.
package receiver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/spool"
)

// ErrorCode values of the answers. 0 is OK; every failure has its own code.
const (
	CodeOK               = 0
	CodeInvalidJSON      = 40001 // the body is not a UTF-8 JSON object
	CodeBadCommand       = 40002 // CallbackCommand missing, of the wrong type, or query and body disagree
	CodeInvalidField     = 40003 // a battle-end field is missing, of the wrong type or out of range
	CodeBadSignature     = 40100 // Sign or RequestTime missing, wrong, or RequestTime outside the skew
	CodeUnknownApp       = 40300 // SdkAppid missing or not one of ours
	CodeNotFound         = 40400 // not the callback path
	CodeMethodNotAllowed = 40500 // not a POST
	CodeBodyTooLarge     = 41300 // body over --callback-max-body-bytes
	CodeUnavailable      = 50300 // the BattleResult could not be stored within --callback-timeout
	CodeUpstreamFailed   = 50200 // --forward-url: the upstream failed, refused the connection, or answered too much
	CodeUpstreamTimeout  = 50400 // --forward-url: no whole answer from the upstream within --forward-timeout
)

// Answer is the JSON body of every answer, as Tencent documents it.
type Answer struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

// Options configure a Handler.
type Options struct {
	// Path is the URL path Tencent POSTs to.
	Path string
	// Apps maps every accepted SDKAppID to the namespace its BattleResults go to.
	Apps map[string]string
	// Tokens are the callback tokens, per app; nil when callback authentication is off.
	Tokens *Tokens
	// Forward, when set, gets every callback but the battle end, once it passed the method,
	// path, SdkAppid, Sign and body size checks; nil answers them OK and drops them.
	Forward *Forwarder
	// MaxSkew is how far RequestTime may be from now.
	MaxSkew time.Duration
	// MaxBodyBytes is the largest body accepted.
	MaxBodyBytes int64
	// Timeout is the budget for storing a battle, retries included, before answering 503.
	Timeout time.Duration

	// Client creates BattleResults. It must not throttle on the client side.
	Client client.Client
	// Reader reads a BattleResult that already exists, straight from the API server (the
	// receiver serves before caches sync).
	Reader client.Reader
	// Recorder records Events on BattleResults.
	Recorder events.EventRecorder
	// Spool, when set, keeps a validated battle that could not be stored within the budget,
	// which is then answered OK; Replay stores it later. Storing gets Timeout minus
	// SpoolReserve, so the spool write fits in Timeout.
	Spool *spool.Spool
	// Log is the receiver's logger.
	Log logr.Logger
	// Now returns the time; time.Now when nil.
	Now func() time.Time
}

// The receiver creates BattleResults, reads one back on a repeated delivery, and records Events.
// +kubebuilder:rbac:groups=live.battleops.io,resources=battleresults,verbs=get;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Handler answers Tencent Live callbacks.
type Handler struct {
	opts Options
	// replay wakes Replay when a battle was spooled.
	replay chan struct{}
}

// NewHandler returns a Handler; it checks that the options are complete.
func NewHandler(opts Options) (*Handler, error) {
	switch {
	case opts.Path == "" || !strings.HasPrefix(opts.Path, "/"):
		return nil, fmt.Errorf("the callback path must start with /, got %q", opts.Path)
	case len(opts.Apps) == 0:
		return nil, fmt.Errorf("at least one SDKAppID is required")
	case opts.MaxBodyBytes <= 0:
		return nil, fmt.Errorf("the body limit must be positive, got %d", opts.MaxBodyBytes)
	case opts.Timeout <= 0:
		return nil, fmt.Errorf("the store timeout must be positive, got %s", opts.Timeout)
	case opts.Tokens != nil && opts.MaxSkew <= 0:
		return nil, fmt.Errorf("the RequestTime skew must be positive, got %s", opts.MaxSkew)
	case opts.Client == nil || opts.Reader == nil || opts.Recorder == nil:
		return nil, fmt.Errorf("a client, a reader and an event recorder are required")
	case opts.Spool != nil && opts.Timeout <= 2*SpoolReserve:
		return nil, fmt.Errorf("with a spool, the store timeout must be over %s, got %s", 2*SpoolReserve, opts.Timeout)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{opts: opts, replay: make(chan struct{}, 1)}, nil
}

// answer is how one request is answered: the HTTP status and the body's fields.
type answer struct {
	status int
	code   int
	result string
	info   string
	relay  *relayed // an upstream's answer, relayed as it is instead of the JSON above
}

func fail(status, code int, result, format string, args ...any) answer {
	return answer{status: status, code: code, result: result, info: fmt.Sprintf(format, args...)}
}

func ok(result string) answer {
	return answer{status: http.StatusOK, code: CodeOK, result: result}
}

// ServeHTTP runs the checks in their documented order; the first that fails answers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.opts.Now()
	if len(r.TransferEncoding) > 0 {
		// A chunked request may have come with a Content-Length too, which a proxy in front
		// may have read instead: the two would no longer agree where the next request starts
		// (request smuggling). Go reads it as chunked; the connection ends with the answer.
		w.Header().Set("Connection", "close")
	}
	q := parseQuery(r.URL.RawQuery)
	command, _ := q.command()
	label := commandLabel(command)

	out := h.handle(r, q)
	defer func() {
		callbacksTotal.WithLabelValues(label, out.result).Inc()
		callbackDuration.WithLabelValues(label).Observe(h.opts.Now().Sub(start).Seconds())
	}()
	if out.relay != nil {
		if out.relay.contentType != "" {
			w.Header().Set("Content-Type", out.relay.contentType)
		}
		w.WriteHeader(out.status)
		_, _ = w.Write(out.relay.body)
		return
	}

	answer := Answer{ActionStatus: "OK", ErrorInfo: out.info, ErrorCode: out.code}
	if out.code != CodeOK {
		answer.ActionStatus = "FAIL"
	}
	if out.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(out.status)
	_ = json.NewEncoder(w).Encode(answer)
	if out.code != CodeOK {
		h.opts.Log.V(1).Info("Refused callback", "status", out.status, "errorCode", out.code, "reason", out.info, "remote", r.RemoteAddr)
	}
}

func (h *Handler) handle(r *http.Request, q query) answer {
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, CodeMethodNotAllowed, resultMethodNotAllowed, "method %s not allowed: Tencent callbacks are POSTed", r.Method)
	}
	if r.URL.Path != h.opts.Path {
		return fail(http.StatusNotFound, CodeNotFound, resultNotFound, "no callback receiver at %s", r.URL.Path)
	}

	appID, err := q.single("SdkAppid")
	if err != nil {
		return fail(http.StatusForbidden, CodeUnknownApp, resultForbidden, "%v", err)
	}
	namespace, known := h.opts.Apps[appID]
	if !known {
		if appID == "" {
			return fail(http.StatusForbidden, CodeUnknownApp, resultForbidden, "the SdkAppid query parameter is missing")
		}
		return fail(http.StatusForbidden, CodeUnknownApp, resultForbidden, "SdkAppid %q is not accepted by this receiver", appID)
	}

	if h.opts.Tokens != nil {
		sign, err := q.single("Sign")
		if err != nil {
			return fail(http.StatusUnauthorized, CodeBadSignature, resultUnauthorized, "%v", err)
		}
		requestTime, err := q.single("RequestTime")
		if err != nil {
			return fail(http.StatusUnauthorized, CodeBadSignature, resultUnauthorized, "%v", err)
		}
		if err := VerifySign(h.opts.Tokens.For(appID), sign, requestTime, h.opts.Now(), h.opts.MaxSkew); err != nil {
			return fail(http.StatusUnauthorized, CodeBadSignature, resultUnauthorized, "%v", err)
		}
	}

	if r.ContentLength > h.opts.MaxBodyBytes {
		return fail(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, resultTooLarge, "body of %d bytes is over the %d-byte limit", r.ContentLength, h.opts.MaxBodyBytes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.opts.MaxBodyBytes+1))
	if err != nil {
		return fail(http.StatusBadRequest, CodeInvalidJSON, resultBadRequest, "reading the body: %v", err)
	}
	if int64(len(body)) > h.opts.MaxBodyBytes {
		return fail(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, resultTooLarge, "body is over the %d-byte limit", h.opts.MaxBodyBytes)
	}

	// What the receiver does not own goes to the upstream, the body as it came: the upstream
	// judges it. The query's CallbackCommand decides, as the body may be anything.
	if h.opts.Forward != nil {
		if command, err := q.command(); err == nil && command != "" && command != battle.CommandEndBattle {
			return h.opts.Forward.forward(r, body, command)
		}
	}

	parsed, err := battle.Parse(body)
	if err != nil {
		return fail(http.StatusBadRequest, CodeInvalidJSON, resultBadRequest, "%v", err)
	}
	bodyCommand, err := parsed.Command()
	if err != nil {
		return fail(http.StatusBadRequest, CodeBadCommand, resultBadRequest, "%v", err)
	}
	queryCommand, err := q.command()
	switch {
	case err != nil:
		return fail(http.StatusBadRequest, CodeBadCommand, resultBadRequest, "%v", err)
	case queryCommand == "":
		return fail(http.StatusBadRequest, CodeBadCommand, resultBadRequest, "the CallbackCommand query parameter is missing")
	case bodyCommand == "":
		return fail(http.StatusBadRequest, CodeBadCommand, resultBadRequest, "CallbackCommand: missing from the body")
	case bodyCommand != queryCommand:
		return fail(http.StatusBadRequest, CodeBadCommand, resultBadRequest, "CallbackCommand: the body says %q, the query %q", bodyCommand, queryCommand)
	}
	if queryCommand != battle.CommandEndBattle {
		return ok(resultIgnored)
	}

	ended, err := parsed.EndBattle()
	if err != nil {
		return fail(http.StatusBadRequest, CodeInvalidField, resultBadRequest, "%v", err)
	}
	delivery := battle.Delivery{SDKAppID: appID}
	for _, p := range []struct {
		key string
		dst *string
	}{{"ClientIP", &delivery.ClientIP}, {"OptPlatform", &delivery.OptPlatform}} {
		v, err := q.single(p.key)
		if err == nil && len(v) > maxDeliveryParamLength {
			err = fmt.Errorf("the %s query parameter is longer than %d bytes", p.key, maxDeliveryParamLength)
		}
		if err != nil {
			return fail(http.StatusBadRequest, CodeInvalidField, resultBadRequest, "%v", err)
		}
		*p.dst = v
	}

	br := &livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Name: battle.Name(ended.BattleID), Namespace: namespace},
		Spec:       battle.Spec(ended, delivery),
	}
	return h.store(r.Context(), br)
}

// MaxStoredBytes bounds a BattleResult as created, in JSON: etcd takes requests of up to
// 1.5 MiB by default, and the object grows by its managedFields and the reactions' records.
const MaxStoredBytes = 1 << 20

// Warm sends a dry-run create of a BattleResult to every namespace the receiver writes to.
// The API server builds its storage for a custom resource on the first request, which took
// 2 seconds here, longer than Tencent waits; warming up before the receiver reports ready
// keeps that off the first callback. A namespace that does not exist is logged, not an error.
func (h *Handler) Warm(ctx context.Context) error {
	seen := map[string]bool{}
	for app, namespace := range h.opts.Apps {
		if seen[namespace] {
			continue
		}
		seen[namespace] = true
		probe := &livev1alpha1.BattleResult{
			ObjectMeta: metav1.ObjectMeta{Name: battle.NamePrefix + "warm-up", Namespace: namespace},
			Spec: battle.Spec(&battle.EndBattle{BattleID: "warm-up", Rooms: []battle.Room{{RoomID: "warm-up"}}},
				battle.Delivery{SDKAppID: app}),
		}
		err := h.opts.Client.Create(ctx, probe, client.DryRunAll)
		switch {
		case err == nil || apierrors.IsAlreadyExists(err):
		case apierrors.IsNotFound(err):
			h.opts.Log.Info("WARNING: the namespace for an SDKAppID does not exist; its battles are refused with 503 until it is created", "sdkAppId", app, "namespace", namespace)
		default:
			return fmt.Errorf("dry-run create of a BattleResult in %s: %w", namespace, err)
		}
	}
	return nil
}

// maxDeliveryParamLength matches the CRD's limit on clientIP and optPlatform.
const maxDeliveryParamLength = 256

// errStoreBudget ends the store loop when the budget runs out.
var errStoreBudget = errors.New("no answer from the API server within the budget")

// store creates the BattleResult, retrying transient failures within the budget (and, with a
// spool, spools it when the budget runs out). An existing
// BattleResult of the same name is a repeated delivery: success, with a Warning Event when it
// describes a different battle.
func (h *Handler) store(parent context.Context, br *livev1alpha1.BattleResult) answer {
	// What the API server would store: a battle that can never be stored is refused now, not
	// retried until the budget runs out (unknown members grow when kept as JSON text).
	if stored, err := json.Marshal(br); err != nil || len(stored) > MaxStoredBytes {
		return fail(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, resultTooLarge,
			"the battle would be stored as %d bytes, over the %d bytes a BattleResult may hold", len(stored), MaxStoredBytes)
	}
	budget := h.opts.Timeout
	if h.opts.Spool != nil {
		budget -= SpoolReserve
	}
	ctx, cancel := context.WithTimeout(parent, budget)
	defer cancel()
	log := h.opts.Log.WithValues("battleResult", klog.KObj(br), "battleId", br.Spec.BattleID)

	err := retry(ctx, func() error { return h.opts.Client.Create(ctx, br.DeepCopy()) })
	switch {
	case err == nil:
		battleResultsCreated.Inc()
		if ms := br.Spec.EventTimeMs; ms > 0 {
			lag := h.opts.Now().Sub(time.UnixMilli(ms))
			deliveryLag.WithLabelValues(br.Spec.SDKAppID).Observe(max(lag.Seconds(), 0))
		}
		log.V(1).Info("Stored battle", "outcome", br.Spec.Outcome, "winners", br.Spec.Winners)
		return ok(resultCreated)
	case apierrors.IsAlreadyExists(err):
		return h.duplicate(ctx, log, br)
	case byPolicy(err):
		// Not the battle's fault: the cluster's policy (an admission webhook or policy, a
		// quota) refuses writes for now. 503, so Tencent's retry rule applies, and a log line.
		log.Info("The API server refused the battle by policy", "error", apiMessage(err))
		return fail(http.StatusServiceUnavailable, CodeUnavailable, resultUnavailable, "the API server refused the battle by policy: %v", apiMessage(err))
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		return fail(http.StatusBadRequest, CodeInvalidField, resultBadRequest, "the API server refused the battle: %v", apiMessage(err))
	case tooLarge(err):
		log.Info("The API server refused the battle as too large", "error", apiMessage(err))
		return fail(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, resultTooLarge, "the API server refused the battle as too large: %v", apiMessage(err))
	case h.opts.Spool != nil && transient(err):
		// Transient, and the budget is spent: keep it on disk, acknowledge, store it later.
		if serr := h.opts.Spool.Put(br); serr != nil {
			log.Error(serr, "Could not store the battle, nor spool it", "storeError", apiMessage(err))
			return fail(http.StatusServiceUnavailable, CodeUnavailable, resultUnavailable, "could not store the battle (%v), nor spool it: %v", apiMessage(err), serr)
		}
		spooledTotal.Inc()
		spoolBytes.Set(float64(h.opts.Spool.Bytes()))
		log.Info("Spooled the battle: the API server did not store it in time", "error", apiMessage(err))
		h.wake()
		return ok(resultSpooled)
	default:
		log.Error(err, "Could not store battle")
		return fail(http.StatusServiceUnavailable, CodeUnavailable, resultUnavailable, "could not store the battle: %v", apiMessage(err))
	}
}

// duplicate answers a delivery whose BattleResult exists already. The battle is stored, so
// the answer is OK even when the stored copy cannot be read for the comparison.
func (h *Handler) duplicate(ctx context.Context, log logr.Logger, br *livev1alpha1.BattleResult) answer {
	var existing livev1alpha1.BattleResult
	err := retry(ctx, func() error { return h.opts.Reader.Get(ctx, client.ObjectKeyFromObject(br), &existing) })
	if err != nil {
		battleResultDuplicates.WithLabelValues(duplicateUnverified).Inc()
		log.Info("Battle already stored; could not read it to compare", "error", apiMessage(err))
		return ok(resultDuplicate)
	}
	diff := battle.Differences(existing.Spec, br.Spec)
	if len(diff) == 0 {
		battleResultDuplicates.WithLabelValues(duplicateIdentical).Inc()
		log.V(1).Info("Battle already stored")
		return ok(resultDuplicate)
	}
	battleResultDuplicates.WithLabelValues(duplicateConflicting).Inc()
	log.Info("Battle already stored with different content; kept the first", "differentFields", diff)
	h.opts.Recorder.Eventf(&existing, nil, corev1.EventTypeWarning, "ConflictingDuplicate", "ReceiveCallback",
		"A later callback for BattleId %q differs in %s; the first one is kept", br.Spec.BattleID, strings.Join(diff, ", "))
	return ok(resultConflict)
}

// storeBackoff paces the retries of a transient failure: 25 ms, then doubling, with jitter.
// The request's budget (its context) ends them first: with the default 1.5 s, after about six.
var storeBackoff = wait.Backoff{Duration: 25 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 8}

// retry calls fn until it succeeds, fails permanently, or the backoff or ctx ends. It is
// apimachinery's context-aware backoff: client-go's retry.OnError sleeps without a context,
// past a budget that Tencent's 2 s bound.
func retry(ctx context.Context, fn func() error) error {
	var last, said error // said: the last answer of the API server, not the budget running out
	err := wait.ExponentialBackoffWithContext(ctx, storeBackoff, func(context.Context) (bool, error) {
		last = fn()
		if last != nil && ctx.Err() == nil {
			said = last
		}
		switch {
		case last == nil:
			return true, nil
		case !transient(last):
			return false, last
		}
		return false, nil
	})
	if err != nil && last != nil && transient(last) {
		// The answer names what the API server said last (e.g. etcd's "leader changed"),
		// rather than the budget cutting off the attempt after it.
		return fmt.Errorf("%w: last error: %w", errStoreBudget, cmp.Or(said, last))
	}
	return err
}

// byPolicy says whether an admission webhook, a ValidatingAdmissionPolicy or a quota refused
// the write: the cluster's decision, not a fault of the battle, which the decoder validated.
func byPolicy(err error) bool {
	msg := apiMessage(err)
	return apierrors.IsForbidden(err) && strings.Contains(msg, "exceeded quota") ||
		strings.Contains(msg, "admission webhook") || strings.Contains(msg, "ValidatingAdmissionPolicy")
}

// tooLarge says whether the API server (413) or etcd ("request is too large", answered 500)
// refused an object for its size: it never will store it.
func tooLarge(err error) bool {
	return apierrors.IsRequestEntityTooLargeError(err) || strings.Contains(apiMessage(err), "request is too large")
}

// transient tells the errors worth retrying: those that may go away in a moment.
func transient(err error) bool {
	switch {
	case tooLarge(err):
		return false
	case apierrors.IsAlreadyExists(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err),
		apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsNotFound(err),
		apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err),
		apierrors.IsUnsupportedMediaType(err), apierrors.IsRequestEntityTooLargeError(err):
		return false
	}
	return true
}

// apiMessage shortens an API error to what a person needs in an answer.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// query is a URL query whose keys are matched case-insensitively (Tencent's pages spell
// SdkAppid and SdkAppId both).
type query map[string][]string

func parseQuery(raw string) query {
	values, _ := url.ParseQuery(raw) // what parses is used; a malformed pair is skipped
	q := query{}
	for k, vs := range values {
		key := strings.ToLower(k)
		q[key] = append(q[key], vs...)
	}
	return q
}

// single returns a parameter's value, "" when absent; it fails when the parameter is given
// more than once with different values.
func (q query) single(key string) (string, error) {
	vs := q[strings.ToLower(key)]
	if len(vs) == 0 {
		return "", nil
	}
	for _, v := range vs[1:] {
		if v != vs[0] {
			return "", fmt.Errorf("the %s query parameter is given more than once with different values", key)
		}
	}
	return vs[0], nil
}

// command returns the CallbackCommand query parameter, or its alias WebhookCommand.
func (q query) command() (string, error) {
	cmd, err := q.single("CallbackCommand")
	if err != nil {
		return "", err
	}
	alias, err := q.single("WebhookCommand")
	if err != nil {
		return "", err
	}
	switch {
	case cmd == "":
		return alias, nil
	case alias != "" && alias != cmd:
		return "", fmt.Errorf("the CallbackCommand (%q) and WebhookCommand (%q) query parameters disagree", cmd, alias)
	}
	return cmd, nil
}
