package appset

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/redact"
)

// Condition types of an ApplicationSet, Argo CD's.
const (
	// ConditionErrorOccurred is True while the last reconcile failed.
	ConditionErrorOccurred = "ErrorOccurred"
	// ConditionParametersGenerated is True when the generators and
	// templates produced the Applications.
	ConditionParametersGenerated = "ParametersGenerated"
	// ConditionResourcesUpToDate is True when the owned Applications are the
	// generated ones.
	ConditionResourcesUpToDate = "ResourcesUpToDate"
)

// Condition reasons, as Argo CD's ApplicationSet controller names them,
// except ReasonInvalidClusterSecret, which Argo CD has no name for.
const (
	// ReasonApplicationSetUpToDate: the Applications are the generated ones.
	ReasonApplicationSetUpToDate = "ApplicationSetUpToDate"
	// ReasonParametersGenerated: every generator produced its parameters.
	ReasonParametersGenerated = "ParametersGenerated"
	// ReasonErrorOccurred is the False conditions' reason when an error is
	// reported, and ErrorOccurred's for an error no other reason names.
	ReasonErrorOccurred = "ErrorOccurred"
	// ReasonApplicationGenerationFromParamsError: a generator failed (a
	// bad generator: stalled; reading Git: retried).
	ReasonApplicationGenerationFromParamsError = "ApplicationGenerationFromParamsError"
	// ReasonRenderTemplateParamsError: the template or templatePatch does
	// not render, or renders no Application (stalled).
	ReasonRenderTemplateParamsError = "RenderTemplateParamsError"
	// ReasonApplicationValidationError: a rendered Application is invalid
	// (no name, another namespace, a name rendered twice; stalled).
	ReasonApplicationValidationError = "ApplicationValidationError"
	// ReasonCreateApplicationError: creating an Application failed, or its
	// name is taken by an Application this ApplicationSet does not own
	// (stalled).
	ReasonCreateApplicationError = "CreateApplicationError"
	// ReasonUpdateApplicationError: updating an owned Application failed.
	ReasonUpdateApplicationError = "UpdateApplicationError"
	// ReasonDeleteApplicationError: deleting an owned Application failed.
	ReasonDeleteApplicationError = "DeleteApplicationError"
	// ReasonInvalidClusterSecret: a cluster Secret does not parse, and
	// generation stops rather than delete its cluster's Applications
	// (stalled until the Secret changes).
	ReasonInvalidClusterSecret = "InvalidClusterSecret"
)

const generatedMessage = "Successfully generated parameters for all Applications"

// setStatus records the conditions and the generated Applications' state.
// generated says whether the generators and templates succeeded (err, if
// any, then comes from applying the Applications).
func (r *Reconciler) setStatus(ctx context.Context, as *v1alpha1.ApplicationSet, desired []*v1alpha1.Application, generated bool, err error) {
	now := metav1.Now()
	cond := func(typ string, status metav1.ConditionStatus, reason, msg string) v1alpha1.ApplicationSetCondition {
		for _, c := range as.Status.Conditions {
			if c.Type == typ && c.Status == string(status) && c.Reason == reason && c.Message == msg {
				return c
			}
		}
		return v1alpha1.ApplicationSetCondition{Type: typ, Status: string(status), Reason: reason, Message: redact.Text(msg), LastTransitionTime: &now}
	}
	params := cond(ConditionParametersGenerated, metav1.ConditionTrue, ReasonParametersGenerated, generatedMessage)
	if err != nil {
		reason, _ := classify(err)
		if !generated {
			params = cond(ConditionParametersGenerated, metav1.ConditionFalse, ReasonErrorOccurred, err.Error())
		}
		as.Status.Conditions = []v1alpha1.ApplicationSetCondition{
			cond(ConditionErrorOccurred, metav1.ConditionTrue, reason, err.Error()),
			params,
			cond(ConditionResourcesUpToDate, metav1.ConditionFalse, ReasonErrorOccurred, err.Error()),
		}
		return
	}
	as.Status.Conditions = []v1alpha1.ApplicationSetCondition{
		cond(ConditionErrorOccurred, metav1.ConditionFalse, ReasonApplicationSetUpToDate, generatedMessage),
		params,
		cond(ConditionResourcesUpToDate, metav1.ConditionTrue, ReasonApplicationSetUpToDate, "ApplicationSet up to date"),
	}
	resources := make([]v1alpha1.ResourceStatus, 0, len(desired))
	for _, app := range desired {
		res := v1alpha1.ResourceStatus{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version,
			Kind: v1alpha1.ApplicationKind, Namespace: app.Namespace, Name: app.Name}
		cur := &v1alpha1.Application{}
		if err := r.client.Get(ctx, client.ObjectKeyFromObject(app), cur); err == nil {
			res.Status = cur.Status.Sync.Status
			if cur.Status.Health.Status != "" {
				res.Health = &v1alpha1.HealthStatus{Status: cur.Status.Health.Status, Message: cur.Status.Health.Message}
			}
		}
		resources = append(resources, res)
	}
	as.Status.Resources = resources
}
