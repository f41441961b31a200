package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A config/default in small: the manager with the flags values set, its token volume, and
// a kind the generator does not know whose text holds template delimiters.
const smallDefault = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: battle-operator-controller-manager
  namespace: battle-operator-system
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: manager
        image: battle-operator:dev
        args:
        - --sdk-app-id=1400000001=apps
        - --battle-namespace=default
        - --callback-token-file=/etc/battle-operator/token/token
        - --battle-retention=24h
        - --max-battle-results=100000
        - --some-new-flag=x
        ports:
        - name: callback
          containerPort: 8082
        volumeMounts:
        - name: callback-token
          mountPath: /etc/battle-operator/token
      volumes:
      - name: callback-token
        secret:
          secretName: battle-operator-callback-token
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: battle-operator-widget
  namespace: battle-operator-system
spec:
  message: "hello {{ .Name }} from battle-operator-system"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: battle-operator-validating-webhook-configuration
webhooks: []
`

// The variants the chart's templates need: config/spool adds flags and a volume to the
// manager, config/prometheus and config/network-policy add objects.
var smallVariants = map[string]string{
	"spool": strings.Replace(strings.Replace(smallDefault[:strings.Index(smallDefault, "---")],
		"        - --some-new-flag=x\n", "        - --some-new-flag=x\n        - --spool-dir=/var/spool/b\n        - --spool-max-bytes=1000\n", 1),
		"      volumes:\n", "      volumes:\n      - name: spool\n        emptyDir: {}\n", 1),
	"prometheus": `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: battle-operator-controller-manager-metrics-monitor
  namespace: battle-operator-system
`,
	"networkPolicy": `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: battle-operator-manager
  namespace: battle-operator-system
spec:
  ingress: []
  egress: []
`,
}

// smallChart is the chart of smallDefault and smallVariants.
func smallChart(t *testing.T) chart {
	t.Helper()
	objects, err := parse([]byte(smallDefault), "")
	if err != nil {
		t.Fatal(err)
	}
	c := chart{base: objects, variants: map[string][]object{}}
	for name, text := range smallVariants {
		if c.variants[name], err = parse([]byte(text), name); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestGenerateIsDeterministicAndPlacesUnknownKinds(t *testing.T) {
	generate := func() map[string]string {
		files, err := smallChart(t).generate()
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	first, second := generate(), generate()
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("two runs differ (-first +second):\n%s", diff)
	}

	widget, ok := first["templates/extras/widget.yaml"]
	if !ok {
		t.Fatalf("the unknown kind is not in templates/extras/widget.yaml; files: %v", sortedKeys(first))
	}
	for _, want := range []string{
		`name: {{ include "battle-operator.resourceName" (dict "suffix" "widget" "context" $) }}`,
		`namespace: {{ $.Release.Namespace }}`,
		// Its own braces are printed as they were; its namespace is the release's.
		`hello {{ "{{" }} .Name }} from {{ $.Release.Namespace }}`,
	} {
		if !strings.Contains(widget, want) {
			t.Errorf("templates/extras/widget.yaml has no %q:\n%s", want, widget)
		}
	}

	manager := first["templates/manager/manager.yaml"]
	for _, want := range []string{
		`- {{ printf "--sdk-app-id=%s" (include "battle-operator.sdkAppIDs" $) | quote }}`,
		"- --some-new-flag=x", // a flag values do not set stays as config/ has it
		`secretName: {{ include "battle-operator.callbackTokenSecret" $ }}`,
	} {
		if !strings.Contains(manager, want) {
			t.Errorf("templates/manager/manager.yaml has no %q:\n%s", want, manager)
		}
	}
	if values := first["values.yaml"]; !strings.Contains(values, "- id: \"1400000001\"\n  namespace: apps\n") || !strings.Contains(values, "replicas: 2\n") {
		t.Errorf("values.yaml does not start from config/'s settings:\n%s", values)
	}
}

// TestGenerateRefusesWhatItsTemplatesNeed: the chart's templates read the webhook's and every
// variant's values, so a chart without one would not render: the generator says so instead.
func TestGenerateRefusesWhatItsTemplatesNeed(t *testing.T) {
	for _, missing := range []string{"spool", "prometheus", "networkPolicy"} {
		c := smallChart(t)
		delete(c.variants, missing)
		if _, err := c.generate(); err == nil || !strings.Contains(err.Error(), "the chart needs the variants") {
			t.Errorf("without the variant %s: %v, want an error naming the variants", missing, err)
		}
	}
	c := smallChart(t)
	c.base = c.base[:len(c.base)-1] // the webhook configuration
	if _, err := c.generate(); err == nil || !strings.Contains(err.Error(), "no admission webhook configuration") {
		t.Errorf("without the webhook: %v, want an error saying so", err)
	}
}
