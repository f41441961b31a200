package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"regexp"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// What config/default names things: the prefix of every name, and the namespace.
const (
	project   = "battle-operator"
	prefix    = project + "-"
	namespace = project + "-system"
)

// nameRE finds a prefixed name in a string ("battle-operator-webhook-service.ns.svc").
var nameRE = regexp.MustCompile(`battle-operator-[a-z0-9]([-a-z0-9]*[a-z0-9])?`)

// object is one object of a rendered kustomization.
type object struct {
	kind, namespace, name string
	obj                   map[string]any
	variant               string // "" for config/default; else the variant that adds it
}

func (o object) id() string { return o.kind + "/" + o.namespace + "/" + o.name }

// parse splits a rendered kustomization into its objects, in order.
func parse(stream []byte, variant string) ([]object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	var out []object
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		if obj == nil {
			continue
		}
		o := object{obj: obj, variant: variant}
		o.kind, _ = obj["kind"].(string)
		o.namespace, _ = get(obj, "metadata", "namespace").(string)
		o.name, _ = get(obj, "metadata", "name").(string)
		if o.kind == "" || o.name == "" {
			return nil, fmt.Errorf("an object without kind or name: %v", obj)
		}
		out = append(out, o)
	}
}

// get follows keys through nested maps; nil when one is missing.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// kebab turns a values key into a folder name: networkPolicy → network-policy.
func kebab(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// place says which folder of templates/ an object goes to and when it is rendered.
func place(o object) (area, cond string) {
	webhook := "$.Values.webhook.enable"
	certManager := "$.Values.certManager.enable"
	vcond, varea := "", ""
	if o.variant != "" {
		vcond, varea = "$.Values."+o.variant+".enable", kebab(o.variant)
	}
	switch o.kind {
	case "CustomResourceDefinition":
		area, cond = "crd", "$.Values.crd.enable"
	case "Namespace":
		area, cond = "namespace", "$.Values.namespace.create"
	case "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
		area = "rbac"
	case "Deployment", "PodDisruptionBudget":
		area = "manager"
	case "Service":
		switch {
		case strings.Contains(o.name, "webhook"):
			area, cond = "webhook", webhook
		case strings.Contains(o.name, "metrics"):
			area, cond = "metrics", "$.Values.metrics.enable"
		default:
			area = "manager"
		}
	case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
		area, cond = "webhook", webhook
	case "Issuer", "ClusterIssuer":
		// Shared by the webhook's and the metrics' certificates.
		return "certmanager", and(certManager, vcond)
	case "Certificate":
		if o.variant != "" {
			return varea, and(certManager, vcond)
		}
		area, cond = "certmanager", and(certManager, webhook)
	case "ServiceMonitor", "PrometheusRule":
		area = "prometheus"
	case "NetworkPolicy":
		area = "network-policy"
	default:
		area = "extras"
		if varea != "" {
			area = varea
		}
	}
	return area, and(cond, vcond)
}

// chart is the generator's input: config/default rendered, and the variants (kustomizations
// that add to config/default), each rendered, by the values key that turns them on.
type chart struct {
	base     []object
	variants map[string][]object
}

// generate returns every file of the chart by its path in the chart.
func (c chart) generate() (map[string]string, error) {
	files, err := skelFiles()
	if err != nil {
		return nil, err
	}
	baseIDs := map[string]object{}
	var dep *object
	hasWebhook := false // the chart's templates read .Values.webhook
	for i, o := range c.base {
		baseIDs[o.id()] = o
		switch o.kind {
		case "Deployment":
			if dep != nil {
				return nil, fmt.Errorf("config/default has two Deployments, %s and %s", dep.name, o.name)
			}
			dep = &c.base[i]
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			hasWebhook = true
		}
	}
	if dep == nil {
		return nil, errors.New("config/default has no Deployment")
	}
	if !hasWebhook {
		return nil, errors.New("config/default has no admission webhook configuration (config/webhook): the chart's templates read .Values.webhook")
	}

	// What each variant adds; the Deployment it patches is compared with config/default's.
	all := append([]object(nil), c.base...)
	variantDeps := map[string]object{}
	for _, name := range sortedKeys(c.variants) {
		for _, o := range c.variants[name] {
			base, inBase := baseIDs[o.id()]
			switch {
			case o.id() == dep.id():
				variantDeps[name] = o
			case !inBase:
				all = append(all, o)
			case !reflect.DeepEqual(base.obj, o.obj):
				return nil, fmt.Errorf("variant %s changes %s of config/default: the chart can only add objects, or args, ports and volumes to the manager", name, o.id())
			}
		}
	}

	values, err := valuesOf(*dep, variantDeps, all)
	if err != nil {
		return nil, err
	}
	if files["values.yaml"], err = values.render(); err != nil {
		return nil, err
	}
	if files["Chart.yaml"], err = fill("Chart.yaml.tmpl", values); err != nil {
		return nil, err
	}

	taken := map[string]bool{}
	for _, o := range all {
		area, cond := place(o)
		t := newTmpl()
		var text string
		var err error
		if o.kind == "Deployment" {
			text, err = managerTemplate(t, o, variantDeps)
		} else {
			text, err = t.render(transform(t, o))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.id(), err)
		}
		file := fileName(o)
		p := path.Join("templates", area, file+".yaml")
		if taken[p] {
			p = path.Join("templates", area, file+"-"+strings.ToLower(o.kind)+".yaml")
		}
		if taken[p] {
			return nil, fmt.Errorf("two objects would be written to %s", p)
		}
		taken[p] = true
		files[p] = header + strings.Join(when(cond, []string{strings.TrimSuffix(text, "\n")}), "\n") + "\n"
	}
	return files, nil
}

const header = "# Generated by `make helm-chart` (hack/helmchart) from config/: edit config/ or the generator.\n"

// fileName is an object's file name in its folder: its name without the prefix (the
// manager's Deployment is manager.yaml, as in kubebuilder's charts; its PodDisruptionBudget,
// of the same name, pod-disruption-budget.yaml).
func fileName(o object) string {
	switch o.kind {
	case "Deployment":
		return "manager"
	case "Namespace":
		return "namespace"
	case "PodDisruptionBudget":
		return "pod-disruption-budget"
	}
	return strings.TrimPrefix(o.name, prefix)
}

// transform templates an object: Helm's labels, the release's namespace and names, the
// release in the manager's selectors. A CRD keeps its name and gets crd.keep.
func transform(t *tmpl, o object) map[string]any {
	obj := o.obj
	meta, _ := obj["metadata"].(map[string]any)
	if o.kind == "CustomResourceDefinition" {
		setLabels(t, meta)
		ann, _ := meta["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
			meta["annotations"] = ann
		}
		ann[t.line(func(int) []string {
			return []string{"{{- if $.Values.crd.keep }}", "helm.sh/resource-policy: keep", "{{- end }}"}
		})] = ""
		return obj
	}
	obj = rename(t, obj).(map[string]any)
	meta, _ = obj["metadata"].(map[string]any)
	setLabels(t, meta)
	switch o.kind {
	case "ServiceMonitor", "PrometheusRule":
		labels := meta["labels"].(map[string]any)
		labels[t.line(func(col int) []string {
			return []string{"{{- with $.Values.prometheus.labels }}", fmt.Sprintf("{{- toYaml . | nindent %d }}", col), "{{- end }}"}
		})] = ""
	case "NetworkPolicy":
		spec, _ := obj["spec"].(map[string]any)
		for _, k := range []string{"ingress", "egress"} {
			if _, ok := spec[k]; ok {
				spec[k] = t.block(toYamlOf("$.Values.networkPolicy." + k))
			}
		}
	}
	return obj
}

// toYamlOf is a block of a value's YAML under its key.
func toYamlOf(value string) func(col int) []string {
	return func(col int) []string {
		return []string{fmt.Sprintf("{{- toYaml %s | nindent %d }}", value, col+2)}
	}
}

// setLabels gives an object Helm's standard labels (battle-operator.labels) in place of
// config/'s name and managed-by, keeping the others (component, aggregation, Pod Security).
func setLabels(t *tmpl, meta map[string]any) {
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
		meta["labels"] = labels
	}
	for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version", "helm.sh/chart"} {
		delete(labels, k)
	}
	labels[t.line(func(col int) []string {
		return []string{fmt.Sprintf(`{{- include "battle-operator.labels" $ | nindent %d }}`, col)}
	})] = ""
}

// rename returns v with the namespace and the prefixed names in every string templated, and
// the manager's pod labels and every selector of them (a map of exactly config/'s name and
// component labels) given the chart's name and the release, as battle-operator.labels has
// them: two releases never select each other's pods.
func rename(t *tmpl, v any) any {
	switch v := v.(type) {
	case string:
		v = strings.ReplaceAll(v, namespace, t.expr("$.Release.Namespace"))
		return nameRE.ReplaceAllStringFunc(v, func(name string) string {
			return t.expr(resourceName(strings.TrimPrefix(name, prefix)))
		})
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = rename(t, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range sortedKeys(v) {
			out[k] = rename(t, v[k])
		}
		if len(out) == 2 && out["app.kubernetes.io/name"] == project && out["app.kubernetes.io/component"] == "manager" {
			out["app.kubernetes.io/name"] = t.expr(`include "battle-operator.name" $`)
			out["app.kubernetes.io/instance"] = t.expr("$.Release.Name")
		}
		return out
	}
	return v
}

// resourceName is the action naming an object <fullname>-suffix.
func resourceName(suffix string) string {
	return fmt.Sprintf(`include "battle-operator.resourceName" (dict "suffix" %q "context" $)`, suffix)
}
