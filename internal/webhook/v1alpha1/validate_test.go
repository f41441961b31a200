package v1alpha1

import (
	"context"
	"strings"
	"testing"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// TestValidate covers the checks the CRD's own rules make first (so the API server never
// calls the webhook with these): the webhook makes them too, for a CRD installed without them.
func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		rx   *livev1alpha1.BattleReaction
		want string // "" for valid
	}{
		{"A Job reaction is valid.", jobReaction("ns", "a", nil), ""},
		{"An HTTP reaction is valid.", httpReaction("ns", "a", nil), ""},
		{"Both jobTemplate and http.", jobReaction("ns", "a", func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.URL = "https://x.example/" }),
			"spec.http: Forbidden: exactly one of jobTemplate and http must be set, not both"},
		{"Neither jobTemplate nor http.", jobReaction("ns", "a", func(s *livev1alpha1.BattleReactionSpec) { s.JobTemplate = nil }),
			"spec.jobTemplate: Required value: exactly one of jobTemplate and http must be set"},
		{"A URL with a space in its host.", httpReaction("ns", "a", func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.URL = "https://exa mple.com/" }),
			`spec.http.url: Invalid value: "https://exa mple.com/": does not parse: invalid character " " in host name`},
		{"A URL of another scheme.", httpReaction("ns", "a", func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.URL = "ftp://x.example/" }),
			"must be an http or https URL"},
		{"A URL without a host.", httpReaction("ns", "a", func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.URL = "https:///path" }),
			"has no host"},
		{"A bad expression.", httpReaction("ns", "a", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = "battle.x" }),
			`spec.match.expression: Invalid value: "battle.x": ERROR: <input>:1:7: undefined field 'x'`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(tc.rx)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("Validate = %v, want no error", errs)
			case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want)):
				t.Errorf("Validate = %v, want one error saying %q", errs, tc.want)
			}
		})
	}
}

// TestUpdateThatKeepsTheSpecPasses: a reaction stored with a spec the webhook refuses (before
// it was installed) can still be labelled; an update that changes the spec is checked.
func TestUpdateThatKeepsTheSpecPasses(t *testing.T) {
	v := &ReactionValidator{} // no client: neither update reaches the dry run
	stored := httpReaction("ns", "a", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = "battle.roomz" })
	labelled := stored.DeepCopy()
	labelled.Labels = map[string]string{"team": "rewards"}
	if _, err := v.ValidateUpdate(context.Background(), stored, labelled); err != nil {
		t.Errorf("labelling a stored reaction: %v, want it let through", err)
	}
	edited := stored.DeepCopy()
	edited.Spec.Match.Expression = "battle.roomzz"
	if _, err := v.ValidateUpdate(context.Background(), stored, edited); err == nil || !strings.Contains(err.Error(), "undefined field 'roomzz'") {
		t.Errorf("editing the expression: %v, want it refused", err)
	}
}
