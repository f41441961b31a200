// Package v1alpha1 holds the admission webhook of the live.battleops.io/v1alpha1 kinds: it
// refuses, at `kubectl apply`, a BattleReaction the controller could not run. The controller
// keeps its own checks (Ready=False), for a reaction stored while the webhook was down or
// bypassed.
package v1alpha1

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/reaction"
)

// ValidatePath is where the API server sends BattleReactions to validate.
const ValidatePath = "/validate-live-battleops-io-v1alpha1-battlereaction"

// +kubebuilder:webhook:path=/validate-live-battleops-io-v1alpha1-battlereaction,mutating=false,failurePolicy=fail,sideEffects=None,groups=live.battleops.io,resources=battlereactions,verbs=create;update,versions=v1alpha1,name=vbattlereaction-v1alpha1.kb.io,admissionReviewVersions=v1,timeoutSeconds=10

// ReactionValidator refuses a BattleReaction whose expression does not compile or type-check
// against the battle's schema, that has both or neither of jobTemplate and http, whose Job
// template the Job API refuses (a server-side dry run of the Job it would make for a sample
// battle), or whose URL does not parse. Every refusal names the field.
type ReactionValidator struct {
	// Client creates the dry-run Jobs; it needs no cache.
	Client client.Client
}

// SetupWithManager registers the validator with the manager's webhook server.
func (v *ReactionValidator) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewWebhookManagedBy(mgr, &livev1alpha1.BattleReaction{}).WithValidator(v).Complete()
}

// ValidateCreate checks a new reaction.
func (v *ReactionValidator) ValidateCreate(ctx context.Context, rx *livev1alpha1.BattleReaction) (admission.Warnings, error) {
	return nil, v.validate(ctx, rx)
}

// ValidateUpdate checks a reaction's new spec. An update that leaves the spec as it was (a
// label, an annotation, a reaction being deleted) passes, so a reaction stored before the
// webhook, or while it was down, can still be labelled or deleted: it reports Ready=False.
func (v *ReactionValidator) ValidateUpdate(ctx context.Context, old, rx *livev1alpha1.BattleReaction) (admission.Warnings, error) {
	if rx.DeletionTimestamp != nil || equality.Semantic.DeepEqual(&old.Spec, &rx.Spec) {
		return nil, nil
	}
	return nil, v.validate(ctx, rx)
}

// ValidateDelete lets every deletion through.
func (v *ReactionValidator) ValidateDelete(context.Context, *livev1alpha1.BattleReaction) (admission.Warnings, error) {
	return nil, nil
}

func (v *ReactionValidator) validate(ctx context.Context, rx *livev1alpha1.BattleReaction) error {
	errs := Validate(rx)
	if len(errs) == 0 && rx.Spec.JobTemplate != nil {
		errs = v.dryRunJob(ctx, rx)
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(livev1alpha1.GroupVersion.WithKind("BattleReaction").GroupKind(), rx.Name, errs)
}

// Validate is what can be checked without the API server: the expression, the choice of
// jobTemplate or http, the URL.
func Validate(rx *livev1alpha1.BattleReaction) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	hasJob, hasHTTP := rx.Spec.JobTemplate != nil, reaction.IsHTTP(rx)
	switch {
	case hasJob && hasHTTP:
		errs = append(errs, field.Forbidden(spec.Child("http"), "exactly one of jobTemplate and http must be set, not both"))
	case !hasJob && !hasHTTP:
		errs = append(errs, field.Required(spec.Child("jobTemplate"), "exactly one of jobTemplate and http must be set"))
	}
	if _, err := reaction.Compile(rx.Spec.Match); err != nil {
		why := strings.TrimPrefix(err.Error(), reaction.ErrInvalidExpression.Error()+": ")
		errs = append(errs, field.Invalid(spec.Child("match", "expression"), rx.Spec.Match.Expression, why))
	}
	if hasHTTP {
		if why := checkURL(rx.Spec.HTTP.URL); why != "" {
			errs = append(errs, field.Invalid(spec.Child("http", "url"), rx.Spec.HTTP.URL, why))
		}
	}
	return errs
}

func checkURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL itself is in the field error already
		}
		return "does not parse: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Hostname() == "":
		return "has no host"
	}
	return ""
}

// dryRunJob creates, with a server-side dry run, the Job the reaction would run for a sample
// battle: what the Job API refuses is refused here, with the template's field paths.
func (v *ReactionValidator) dryRunJob(ctx context.Context, rx *livev1alpha1.BattleReaction) field.ErrorList {
	tmpl := field.NewPath("spec", "jobTemplate")
	job, err := reaction.SampleJob(rx)
	if err != nil {
		return field.ErrorList{field.Invalid(tmpl, "", err.Error())}
	}
	err = v.Client.Create(ctx, job, client.DryRunAll)
	var status apierrors.APIStatus
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case (apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)) && errors.As(err, &status):
		return templateErrors(tmpl, status)
	default:
		// The API server could not judge (unreachable, forbidden): the controller will.
		return field.ErrorList{field.InternalError(tmpl, fmt.Errorf("could not check the Job template with a dry run: %w", err))}
	}
}

// templateErrors turns the Job API's refusal into errors on the reaction's template: the Job's
// field `spec.template...` is the reaction's `spec.jobTemplate.spec.template...`.
func templateErrors(tmpl *field.Path, status apierrors.APIStatus) field.ErrorList {
	var errs field.ErrorList
	if d := status.Status().Details; d != nil {
		for _, c := range d.Causes {
			path := tmpl.String()
			if c.Field != "" {
				path += "." + c.Field
			}
			// The cause's message is the API server's rendering of its field error: its type
			// ("Required value", "Invalid value") first, which the new error prints again.
			typ := field.ErrorType(c.Type)
			detail := strings.TrimPrefix(strings.TrimPrefix(c.Message, typ.String()), ": ")
			errs = append(errs, &field.Error{Type: typ, Field: path, BadValue: field.OmitValueType{}, Detail: detail})
		}
	}
	if len(errs) == 0 {
		errs = field.ErrorList{field.Invalid(tmpl, field.OmitValueType{}, status.Status().Message)}
	}
	return errs
}
