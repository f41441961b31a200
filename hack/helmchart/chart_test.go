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
`

func TestGenerateIsDeterministicAndPlacesUnknownKinds(t *testing.T) {
	generate := func() map[string]string {
		objects, err := parse([]byte(smallDefault), "")
		if err != nil {
			t.Fatal(err)
		}
		files, err := chart{base: objects}.generate()
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
		t.Fatalf("the unknown kind is not in templates/extras/widget.yaml; files: %v", sortedPaths(first))
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
