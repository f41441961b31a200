package main

import (
	"fmt"
	"path"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// The manager's flags that values set; config/default must pass each (its value there is
// the default in values.yaml).
var valueFlags = map[string]string{
	"sdk-app-id":         `- {{ printf "--sdk-app-id=%s" (include "battle-operator.sdkAppIDs" $) | quote }}`,
	"battle-namespace":   `- {{ printf "--battle-namespace=%s" $.Values.battleNamespace | quote }}`,
	"battle-retention":   `- {{ printf "--battle-retention=%v" $.Values.retention | quote }}`,
	"max-battle-results": `- {{ printf "--max-battle-results=%d" (int64 $.Values.maxBattleResults) | quote }}`,
	"spool-max-bytes":    `- {{ printf "--spool-max-bytes=%d" (int64 $.Values.spool.maxBytes) | quote }}`,
}

// Where the chart mounts the Secrets that values name (config/default has no such volume).
const (
	forwardCADir   = "/etc/battle-operator/forward-ca"
	callbackTLSDir = "/etc/battle-operator/callback-tls"
)

// The flags, volumes and mounts values add (after config/default's and the variants').
var (
	extraArgs = []string{
		"{{- if not $.Values.metrics.secure }}",
		"- --metrics-secure=false",
		"{{- end }}",
		"{{- with $.Values.forward.url }}",
		`- {{ printf "--forward-url=%s" . | quote }}`,
		"{{- end }}",
		"{{- with $.Values.forward.timeout }}",
		`- {{ printf "--forward-timeout=%v" . | quote }}`,
		"{{- end }}",
		"{{- if $.Values.forward.caSecret.name }}",
		"- --forward-ca-file=" + forwardCADir + "/ca.crt",
		"{{- end }}",
		"{{- if $.Values.callbackTLS.secretName }}",
		"- --callback-cert-dir=" + callbackTLSDir,
		"{{- end }}",
		"{{- range $.Values.extraArgs }}",
		"- {{ . | quote }}",
		"{{- end }}",
	}
	extraMounts = []string{
		"{{- if $.Values.forward.caSecret.name }}",
		"- mountPath: " + forwardCADir,
		"  name: forward-ca",
		"  readOnly: true",
		"{{- end }}",
		"{{- if $.Values.callbackTLS.secretName }}",
		"- mountPath: " + callbackTLSDir,
		"  name: callback-tls",
		"  readOnly: true",
		"{{- end }}",
	}
	extraVolumes = []string{
		"{{- if $.Values.forward.caSecret.name }}",
		"- name: forward-ca",
		"  secret:",
		"    defaultMode: 288",
		"    items:",
		"    - key: {{ $.Values.forward.caSecret.key }}",
		"      path: ca.crt",
		"    secretName: {{ $.Values.forward.caSecret.name }}",
		"{{- end }}",
		"{{- if $.Values.callbackTLS.secretName }}",
		"- name: callback-tls",
		"  secret:",
		"    defaultMode: 288",
		"    secretName: {{ $.Values.callbackTLS.secretName }}",
		"{{- end }}",
	}
)

// flagName is an arg's flag name: "--a=b" → "a".
func flagName(arg string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name
}

// flagValue is the value config/ gives a flag, and whether it gives it.
func flagValue(args []any, name string) (string, bool) {
	for _, a := range args {
		s, _ := a.(string)
		if flagName(s) == name {
			_, v, _ := strings.Cut(s, "=")
			return v, true
		}
	}
	return "", false
}

// managerContainer is the Deployment's container named manager.
func managerContainer(dep map[string]any) (map[string]any, error) {
	containers, _ := get(dep, "spec", "template", "spec", "containers").([]any)
	for _, c := range containers {
		if m, ok := c.(map[string]any); ok && m["name"] == "manager" {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no container named manager")
}

// named is a list's items by their name field.
func named(list any) map[string]any {
	out := map[string]any{}
	l, _ := list.([]any)
	for _, e := range l {
		if n, ok := get(e, "name").(string); ok {
			out[n] = e
		}
	}
	return out
}

// part is one list of the pod the chart templates: the args, ports, mounts or volumes.
type part struct {
	in    map[string]any // the map holding it: the container or the pod spec
	key   string
	name  func(item any) string // what identifies an item
	extra []string              // the items values add, after config/'s
}

// cond is when an item of config/ is rendered: webhook items with the webhook, --leader-elect
// with leader election, the others always.
func (p part) cond(item any, webhookCond string) string {
	name := p.name(item)
	if p.key == "args" {
		name = flagName(name)
	}
	switch {
	case strings.HasPrefix(name, "webhook"):
		return webhookCond
	case p.key == "args" && name == "leader-elect":
		return "$.Values.leaderElection.enable"
	}
	return ""
}

func (p part) list() []any {
	l, _ := p.in[p.key].([]any)
	return l
}

// managerTemplate templates the manager's Deployment: args built from values, the
// variants' args, ports and volumes under their values, the image, replicas, resources and
// scheduling from values, the token Secret from callbackToken.
func managerTemplate(t *tmpl, o object, variants map[string]object) (string, error) {
	added, err := variantAdditions(t, o, variants)
	if err != nil {
		return "", err
	}
	dep := transform(t, o)
	parts, err := podParts(dep)
	if err != nil {
		return "", err
	}
	c, pod := parts[0].in, parts[3].in
	args := parts[0].list()
	for _, name := range sortedKeys(valueFlags) {
		if _, ok := flagValue(args, name); !ok && name != "spool-max-bytes" {
			return "", fmt.Errorf("the manager has no --%s: values set it", name)
		}
	}
	tokenFile, ok := flagValue(args, "callback-token-file")
	if !ok {
		return "", fmt.Errorf("the manager has no --callback-token-file: values set its Secret")
	}
	if err := tokenVolume(t, c, pod, tokenFile); err != nil {
		return "", err
	}

	const webhookCond = "$.Values.webhook.enable"
	for i, p := range parts {
		var lines []string
		for _, item := range p.list() {
			lines = append(lines, when(p.cond(item, webhookCond), itemLines(p, item))...)
		}
		for _, v := range sortedKeys(added) {
			for _, item := range added[v][i] {
				if p.key == "volumes" {
					spoolVolume(t, item)
				}
				lines = append(lines, when(and("$.Values."+v+".enable", p.cond(item, webhookCond)), itemLines(p, item))...)
			}
		}
		lines = append(lines, p.extra...)
		p.in[p.key] = t.block(func(int) []string { return lines })
	}
	setPod(t, dep, c, pod)
	text, err := t.render(dep)
	if err != nil {
		return "", err
	}
	return `{{- include "battle-operator.validate" $ }}` + "\n" + text, nil
}

// podParts is the lists of the manager's pod the chart templates.
func podParts(dep map[string]any) ([]part, error) {
	c, err := managerContainer(dep)
	if err != nil {
		return nil, err
	}
	pod := get(dep, "spec", "template", "spec").(map[string]any)
	byArg := func(item any) string { s, _ := item.(string); return s }
	byName := func(item any) string { s, _ := get(item, "name").(string); return s }
	return []part{{c, "args", byArg, extraArgs}, {c, "ports", byName, nil}, {c, "volumeMounts", byName, extraMounts}, {pod, "volumes", byName, extraVolumes}}, nil
}

// variantAdditions is, for each variant, the items of each pod part it adds to config/default's
// Deployment, templated. Anything else it changes there is an error.
func variantAdditions(t *tmpl, o object, variants map[string]object) (map[string][][]any, error) {
	base, err := podParts(o.obj)
	if err != nil {
		return nil, err
	}
	added := map[string][][]any{}
	for _, v := range sortedKeys(variants) {
		// A copy: what both share is taken out of it to compare the rest.
		vdep := runtime.DeepCopyJSON(variants[v].obj)
		vparts, err := podParts(vdep)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", v, err)
		}
		for i, p := range base {
			have := map[string]bool{}
			for _, item := range p.list() {
				have[p.name(item)] = true
			}
			var extra, same []any
			for _, item := range vparts[i].list() {
				if have[p.name(item)] {
					same = append(same, item)
				} else {
					extra = append(extra, rename(t, item))
				}
			}
			added[v] = append(added[v], extra)
			vparts[i].in[p.key] = same
		}
		if !reflect.DeepEqual(vdep, o.obj) {
			return nil, fmt.Errorf("variant %s changes the manager's Deployment beyond adding args, ports, mounts and volumes", v)
		}
	}
	return added, nil
}

// setPod sets what values give the pod: replicas, image, resources, scheduling.
func setPod(t *tmpl, dep, c, pod map[string]any) {
	dep["spec"].(map[string]any)["replicas"] = t.expr("$.Values.replicas")
	c["image"] = t.expr(`printf "%s:%s" $.Values.image.repository (toString $.Values.image.tag)`)
	c["imagePullPolicy"] = t.expr("$.Values.image.pullPolicy")
	c["resources"] = t.block(toYamlOf("$.Values.resources"))
	for _, k := range []string{"imagePullSecrets", "nodeSelector", "tolerations"} {
		pod[t.line(func(col int) []string {
			return []string{"{{- with $.Values." + k + " }}", k + ":", fmt.Sprintf("{{- toYaml . | nindent %d }}", col+2), "{{- end }}"}
		})] = ""
	}
}

// itemLines is an item's lines: an arg that values set is templated, any other as it is.
func itemLines(p part, item any) []string {
	if p.key == "args" {
		arg, _ := item.(string)
		name := flagName(arg)
		if l, ok := valueFlags[name]; ok {
			return []string{l}
		}
		if name == "metrics-bind-address" {
			return []string{"{{- if $.Values.metrics.enable }}", items([]any{arg})[0], "{{- else }}", "- --metrics-bind-address=0", "{{- end }}"}
		}
	}
	return items([]any{item})
}

// tokenVolume points the volume mounted where --callback-token-file is at the Secret that
// callbackToken names, its key as the file config/ reads.
func tokenVolume(t *tmpl, c, pod map[string]any, tokenFile string) error {
	dir, file := path.Split(tokenFile)
	var volume string
	for _, m := range c["volumeMounts"].([]any) {
		if strings.TrimSuffix(get(m, "mountPath").(string), "/")+"/" == dir {
			volume, _ = get(m, "name").(string)
		}
	}
	v, ok := named(pod["volumes"])[volume].(map[string]any)
	if !ok || get(v, "secret") == nil {
		return fmt.Errorf("no Secret volume is mounted at %s, where --callback-token-file is", dir)
	}
	secret := v["secret"].(map[string]any)
	if want := t.expr(resourceName("callback-token")); secret["secretName"] != want {
		return fmt.Errorf("the callback token Secret is not %scallback-token, as battle-operator.callbackTokenSecret says", prefix)
	}
	secret["secretName"] = t.expr(`include "battle-operator.callbackTokenSecret" $`)
	secret["items"] = []any{map[string]any{"key": t.expr("$.Values.callbackToken.key"), "path": file}}
	return nil
}

// spoolVolume sizes a variant's ephemeral volume by spool.size and spool.storageClassName.
func spoolVolume(t *tmpl, volume any) {
	spec, ok := get(volume, "ephemeral", "volumeClaimTemplate", "spec").(map[string]any)
	if !ok {
		return
	}
	if requests, ok := get(spec, "resources", "requests").(map[string]any); ok {
		requests["storage"] = t.expr("$.Values.spool.size")
	}
	spec[t.line(func(col int) []string {
		return []string{"{{- with $.Values.spool.storageClassName }}", "storageClassName: {{ . }}", "{{- end }}"}
	})] = ""
}
