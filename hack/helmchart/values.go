package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// skel holds what the generator writes as it is (the helpers, NOTES.txt, .helmignore, the
// chart's README) and the templates of Chart.yaml and values.yaml.
//
//go:embed all:skel
var skel embed.FS

// values are config/'s settings that values.yaml starts from.
type values struct {
	Repository, Tag, AppVersion string
	Replicas                    int64
	Resources                   string // YAML, indented under resources:
	SDKAppIDs                   []sdkApp
	BattleNamespace, Retention  string
	MaxBattleResults            int64
	TokenKey                    string
	Spool                       *spoolValues
	Prometheus                  bool
	NetworkPolicy               *networkPolicyValues
}

type sdkApp struct{ ID, Namespace string }

type spoolValues struct {
	MaxBytes int64
	Size     string
}

type networkPolicyValues struct{ Ingress, Egress string }

// valuesOf reads values' defaults from config/default's Deployment, the variants' and the
// objects they add.
func valuesOf(dep object, variantDeps map[string]object, all []object) (values, error) {
	v := values{TokenKey: "token"}
	c, err := managerContainer(dep.obj)
	if err != nil {
		return v, err
	}
	image, _ := c["image"].(string)
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		v.Repository, v.Tag = image[:i], image[i+1:]
	} else {
		v.Repository, v.Tag = image, "latest"
	}
	v.AppVersion = v.Tag
	replicas, _ := get(dep.obj, "spec", "replicas").(float64)
	v.Replicas = int64(replicas)
	if v.Resources, err = indented(c["resources"], 2); err != nil {
		return v, err
	}

	args, _ := c["args"].([]any)
	ids, _ := flagValue(args, "sdk-app-id")
	for _, e := range strings.Split(ids, ",") {
		id, ns, _ := strings.Cut(e, "=")
		v.SDKAppIDs = append(v.SDKAppIDs, sdkApp{ID: id, Namespace: ns})
	}
	v.BattleNamespace, _ = flagValue(args, "battle-namespace")
	v.Retention, _ = flagValue(args, "battle-retention")
	maxResults, _ := flagValue(args, "max-battle-results")
	if v.MaxBattleResults, err = strconv.ParseInt(maxResults, 10, 64); err != nil {
		return v, fmt.Errorf("--max-battle-results: %w", err)
	}

	if spool, ok := variantDeps["spool"]; ok {
		v.Spool = &spoolValues{Size: "1Gi"}
		sc, err := managerContainer(spool.obj)
		if err != nil {
			return v, err
		}
		sargs, _ := sc["args"].([]any)
		maxBytes, _ := flagValue(sargs, "spool-max-bytes")
		if v.Spool.MaxBytes, err = strconv.ParseInt(maxBytes, 10, 64); err != nil {
			return v, fmt.Errorf("config/spool's --spool-max-bytes: %w", err)
		}
		for _, vol := range get(spool.obj, "spec", "template", "spec", "volumes").([]any) {
			if size, ok := get(vol, "ephemeral", "volumeClaimTemplate", "spec", "resources", "requests", "storage").(string); ok {
				v.Spool.Size = size
			}
		}
	}
	for _, o := range all {
		switch {
		case o.variant == "prometheus":
			v.Prometheus = true
		case o.kind == "NetworkPolicy" && o.variant == "networkPolicy":
			if v.NetworkPolicy != nil {
				return v, fmt.Errorf("config/network-policy has two NetworkPolicies: values.yaml holds the rules of one")
			}
			v.NetworkPolicy = &networkPolicyValues{}
			if v.NetworkPolicy.Ingress, err = indented(get(o.obj, "spec", "ingress"), 2); err != nil {
				return v, err
			}
			if v.NetworkPolicy.Egress, err = indented(get(o.obj, "spec", "egress"), 2); err != nil {
				return v, err
			}
		}
	}
	// The chart's templates read every one of these values (_helpers.tpl, the manager's
	// args): a chart without one would not render.
	if v.Spool == nil || !v.Prometheus || v.NetworkPolicy == nil {
		return v, errors.New("the chart needs the variants spool (config/spool), prometheus (config/prometheus) and networkPolicy (config/network-policy, with a NetworkPolicy)")
	}
	return v, nil
}

// indented is v as YAML, every line indented by n spaces.
func indented(v any, n int) (string, error) {
	if v == nil {
		return strings.Repeat(" ", n) + "[]", nil
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i := range lines {
		lines[i] = strings.Repeat(" ", n) + lines[i]
	}
	return strings.Join(lines, "\n"), nil
}

func (v values) render() (string, error) { return fill("values.yaml.tmpl", v) }

// fill executes a template of skel/ ([[ ]] delimiters, since the output may hold Helm's).
func fill(name string, data any) (string, error) {
	text, err := skel.ReadFile("skel/" + name)
	if err != nil {
		return "", err
	}
	tpl, err := template.New(name).Delims("[[", "]]").Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, data); err != nil {
		return "", err
	}
	return out.String(), nil
}

// skelFiles is every file of skel/ but the templates, by its path in the chart.
func skelFiles() (map[string]string, error) {
	files := map[string]string{}
	err := fs.WalkDir(skel, "skel", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".tmpl") {
			return err
		}
		b, err := skel.ReadFile(p)
		files[strings.TrimPrefix(p, "skel/")] = string(b)
		return err
	})
	return files, err
}
