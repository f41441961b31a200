//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The Helm chart (dist/chart), as README's "Install on a cluster" installs it.
const (
	chartDir = "dist/chart"
	// Every value set (test/e2e/testdata), rendered as release helmRelease in helmNamespace.
	fullValues    = "test/e2e/testdata/helm-values-full.yaml"
	helmRelease   = "bo"
	helmNamespace = "e2e-helm"
	// The prefix of every name the full values give: <release>-<nameOverride>.
	fullPrefix = "bo-battleops-"
)

// testHelmChart checks the chart is what `make helm-chart` generates from config/, that with
// its default values it installs what config/default does, that the full values give the
// manager the flags, Secrets and volumes they name, that the API server accepts both
// renderings (a server-side dry run, cert-manager's and the Prometheus Operator's CRDs
// installed first), and that settings which cannot work together fail the rendering.
// config is config/default, rendered.
func (d *devRun) testHelmChart(t *testing.T, config []manifest) {
	out := strings.TrimSpace(d.shell(t, "make -s --no-print-directory helm"))
	helm := out[strings.LastIndex(out, "\n")+1:]

	t.Run("Current", d.testChartCurrent)
	// The third party's CRDs are installed (testInstall).
	t.Run("Default", func(t *testing.T) { d.testChartDefault(t, helm, config) })
	t.Run("FullValues", func(t *testing.T) { d.testChartFullValues(t, helm) })
	t.Run("Off", func(t *testing.T) { d.testChartOff(t, helm) })
	t.Run("Refusals", func(t *testing.T) { d.testChartRefusals(t, helm) })
}

// testChartCurrent runs `make helm-chart` into a temporary folder and compares it with
// dist/chart, file by file (what `make verify` checks with git).
func (d *devRun) testChartCurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chart")
	start := time.Now()
	// -o manifests: `make test` has just generated them (see testInstallDryRun).
	d.shell(t, "make -s -o manifests helm-chart CHART="+dir)
	t.Logf("make helm-chart: %v", time.Since(start).Round(time.Millisecond))
	out, err := exec.Command("diff", "-r", "-u", filepath.Join(d.root, chartDir), dir).CombinedOutput()
	if err != nil {
		t.Errorf("dist/chart is not what `make helm-chart` generates from config/ (run it and commit):\n%s", out)
	}
}

// helmTemplate renders the chart as release in namespace ns, with helm's other args.
func (d *devRun) helmTemplate(t *testing.T, helm, release, ns string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(helm, append([]string{"template", release, chartDir, "--namespace", ns}, args...)...)
	c.Dir = d.root
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return stderr.String(), err
	}
	return string(out), nil
}

// renderChart renders the chart, applies it with --dry-run=server, and returns its objects.
func (d *devRun) renderChart(t *testing.T, helm, release, ns string, args ...string) []manifest {
	t.Helper()
	text, err := d.helmTemplate(t, helm, release, ns, args...)
	if err != nil {
		t.Fatalf("helm template %s %v: %v\n%s", release, args, err, text)
	}
	start := time.Now()
	// --force-conflicts: testInstall applied config/default's RBAC part for real, with other
	// labels (managed-by kustomize).
	if out, err := d.kubectlErr(text, "apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=e2e-helm", "-f", "-"); err != nil {
		t.Fatalf("the API server refuses the chart rendered with %v: %v", args, err)
	} else {
		t.Logf("kubectl apply --dry-run=server of helm template %v: %d objects, %v", args, strings.Count(out, "\n"), time.Since(start).Round(time.Millisecond))
	}
	return decodeManifests(t, []byte(text))
}

// testChartDefault: `helm install battle-operator dist/chart -n battle-operator-system`
// installs config/default, object for object, but for Helm's labels, the release in the
// selectors, the key of the token Secret and the image pull policy, and without the
// namespace (helm install --create-namespace makes it). Its Deployment passes the checks
// config/default's does.
func (d *devRun) testChartDefault(t *testing.T, helm string, config []manifest) {
	image := strings.SplitN(installerImage, ":", 2)
	rendered := d.renderChart(t, helm, "battle-operator", operatorNamespace, "--set", "image.repository="+image[0], "--set", "image.tag="+image[1])

	want, got := map[string]any{}, map[string]any{}
	for _, m := range config {
		if m.kind != "Namespace" {
			want[m.kind+"/"+m.name] = comparable(t, m.object)
		}
	}
	var deployment *appsv1.Deployment
	services := map[string]*corev1.Service{}
	for _, m := range rendered {
		got[m.kind+"/"+m.name] = comparable(t, m.object)
		switch m.kind {
		case "CustomResourceDefinition":
			// crd.keep's default: helm uninstall keeps the CRDs, and every battle resource.
			if policy, _, _ := unstructured.NestedString(m.object, "metadata", "annotations", "helm.sh/resource-policy"); policy != "keep" {
				t.Errorf("the CRD %s has helm.sh/resource-policy %q, want keep (crd.keep's default)", m.name, policy)
			}
		case "Deployment":
			deployment = &appsv1.Deployment{}
			fromMap(t, m.object, deployment)
		case "Service":
			services[m.name] = &corev1.Service{}
			fromMap(t, m.object, services[m.name])
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the chart's default rendering is not config/default (-config/default +chart):\n%s", diff)
	}
	if deployment == nil {
		t.Fatal("the chart renders no Deployment")
	}
	d.checkDeployment(t, deployment, services)
	checkCertificates(t, rendered)

	// helm install prints NOTES.txt (helm template does not render it): the commands it gives
	// name the Secret and Service the release uses. Another release, without the CRDs: Helm
	// refuses objects it did not make, even in a dry run, and testInstall made those of
	// config/default.
	c := exec.Command(helm, "install", "notes", chartDir, "--namespace", "e2e-helm-notes", "--set", "crd.enable=false",
		"--dry-run", "--kubeconfig", d.kubeconfig)
	c.Dir = d.root
	out, err := c.CombinedOutput()
	notes := string(out)
	if i := strings.Index(notes, "\nNOTES:"); i >= 0 {
		notes = notes[i:]
	}
	for _, want := range []string{
		"kubectl -n e2e-helm-notes create secret generic notes-battle-operator-callback-token \\\n       --from-file=token=./callback-token",
		"the Service notes-battle-operator-callback (port 80",
		"SDKAppID(s) 1400000001 become",
	} {
		if err != nil || !strings.Contains(notes, want) {
			t.Errorf("helm install --dry-run: %v; its notes have no %q:\n%s", err, want, notes)
		}
	}
	for _, m := range rendered {
		labels, _ := m.object["metadata"].(map[string]any)["labels"].(map[string]any)
		if labels["app.kubernetes.io/managed-by"] != "Helm" || labels["app.kubernetes.io/instance"] != "battle-operator" {
			t.Errorf("%s %s has labels %v, want Helm's (managed-by Helm, instance battle-operator)", m.kind, m.name, labels)
		}
	}
}

// checkCertificates checks what cert-manager would act on, since no cert-manager runs here:
// every Certificate's issuer is rendered; each webhook configuration has the CA of a rendered
// Certificate injected, that certificate is for the webhook Service's name, and its Secret is
// mounted where the manager reads its webhook certificate (--webhook-cert-dir).
func checkCertificates(t *testing.T, rendered []manifest) {
	t.Helper()
	issuers, certs := map[string]bool{}, map[string]map[string]any{}
	var dep appsv1.Deployment
	for _, m := range rendered {
		switch m.kind {
		case "Issuer":
			issuers[m.name] = true
		case "Certificate":
			certs[m.namespace+"/"+m.name] = m.object
		case "Deployment":
			fromMap(t, m.object, &dep)
		}
	}
	for name, cert := range certs {
		if ref := get(cert, "spec", "issuerRef", "name"); !issuers[ref.(string)] {
			t.Errorf("Certificate %s names the Issuer %v, which is not rendered (Issuers: %v): cert-manager would never issue it", name, ref, issuers)
		}
	}
	for _, m := range rendered {
		if m.kind != "ValidatingWebhookConfiguration" {
			continue
		}
		from, _ := get(m.object, "metadata", "annotations", "cert-manager.io/inject-ca-from").(string)
		cert, ok := certs[from]
		if !ok {
			t.Errorf("%s has the CA of %q injected, which is no rendered Certificate", m.name, from)
			continue
		}
		for _, w := range get(m.object, "webhooks").([]any) {
			svc := get(w, "clientConfig", "service")
			host := toJSON(t, get(svc, "name"))
			host = strings.Trim(host, `"`) + "." + strings.Trim(toJSON(t, get(svc, "namespace")), `"`) + ".svc"
			if names := toJSON(t, get(cert, "spec", "dnsNames")); !strings.Contains(names, `"`+host+`"`) {
				t.Errorf("the webhook calls %s, and its certificate %s is for %s", host, from, names)
			}
		}
		c := dep.Spec.Template.Spec.Containers[0]
		var dir string
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--webhook-cert-dir="); ok {
				dir = v
			}
		}
		secret := get(cert, "spec", "secretName")
		if v := volumeAt(dep.Spec.Template.Spec, c, dir); v == nil || v.Secret == nil || v.Secret.SecretName != secret {
			t.Errorf("--webhook-cert-dir=%s is not the volume of the certificate's Secret %v: %+v", dir, secret, v)
		}
	}
}

// comparable is an object as config/default and the chart should agree on: without labels,
// the release in selectors, crd.keep's annotation, the image, and the items of Secret volumes
// (the chart maps callbackToken.key to the file config/ reads).
func comparable(t *testing.T, obj map[string]any) any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	meta := c["metadata"].(map[string]any)
	delete(meta, "labels")
	if ann, ok := meta["annotations"].(map[string]any); ok {
		delete(ann, "helm.sh/resource-policy")
		if len(ann) == 0 {
			delete(meta, "annotations")
		}
	}
	var strip func(v any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			delete(v, "app.kubernetes.io/instance")
			if _, ok := v["containerPort"]; !ok {
				delete(v, "imagePullPolicy")
				if _, ok := v["args"]; ok {
					delete(v, "image")
				}
			}
			if s, ok := v["secret"].(map[string]any); ok {
				delete(s, "items")
			}
			for _, e := range v {
				strip(e)
			}
		case []any:
			for _, e := range v {
				strip(e)
			}
		}
	}
	strip(c)
	return c
}

// testChartFullValues renders every value set and checks each reaches the manager as the
// flag, Secret or volume it names, and that the objects are named for the release.
func (d *devRun) testChartFullValues(t *testing.T, helm string) {
	// The rendering creates the namespace (namespace.create); a dry run needs it to exist.
	ns := `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"` + helmNamespace + `"}}`
	d.kubectl(t, ns, "apply", "--server-side", "--field-manager=e2e-helm", "-f", "-")
	t.Cleanup(func() { _, _ = d.kubectlErr(ns, "delete", "--ignore-not-found", "--wait=false", "-f", "-") })
	rendered := d.renderChart(t, helm, helmRelease, helmNamespace, "--values", fullValues)

	byKind := map[string][]manifest{}
	for _, m := range rendered {
		byKind[m.kind] = append(byKind[m.kind], m)
		switch {
		case m.kind == "CustomResourceDefinition":
			if ann, _ := m.object["metadata"].(map[string]any)["annotations"].(map[string]any); ann["helm.sh/resource-policy"] != nil {
				t.Errorf("CRD %s is kept on uninstall though crd.keep is false", m.name)
			}
		case m.kind == "Namespace":
			if m.name != helmNamespace {
				t.Errorf("the chart creates namespace %s, want the release's, %s", m.name, helmNamespace)
			}
		case !strings.HasPrefix(m.name, fullPrefix):
			t.Errorf("%s %s is not named for the release (%s…)", m.kind, m.name, fullPrefix)
		case m.namespace != "" && m.namespace != helmNamespace:
			t.Errorf("%s %s is in namespace %s, want %s", m.kind, m.name, m.namespace, helmNamespace)
		}
	}
	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		if len(byKind[kind]) > 0 {
			t.Errorf("webhook.enable is false, and the chart renders a %s", kind)
		}
	}
	for _, kind := range []string{"Namespace", "Deployment", "ServiceMonitor", "PrometheusRule", "Certificate", "Issuer", "NetworkPolicy"} {
		if len(byKind[kind]) == 0 {
			t.Errorf("the full values render no %s", kind)
		}
	}
	if t.Failed() {
		return
	}
	if labels := get(byKind["Namespace"][0].object, "metadata", "labels"); get(labels, "pod-security.kubernetes.io/enforce") != "restricted" {
		t.Errorf("the namespace's labels are %v, want the restricted Pod Security Standard enforced", labels)
	}

	var dep appsv1.Deployment
	fromMap(t, byKind["Deployment"][0].object, &dep)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	args := d.knownFlags(t, c.Args)
	wantFlags(t, args, map[string]string{
		"sdk-app-id":           "1400000042=e2e-helm-apps,1400000043",
		"battle-namespace":     "e2e-helm-battles",
		"callback-token-file":  "/etc/battle-operator/token/token",
		"battle-retention":     "72h",
		"max-battle-results":   "2500000",
		"forward-url":          "https://backend.example.com/live-callbacks?app=battles&x=1",
		"forward-timeout":      "900ms",
		"forward-ca-file":      "/etc/battle-operator/forward-ca/ca.crt",
		"callback-cert-dir":    "/etc/battle-operator/callback-tls",
		"spool-dir":            "/var/spool/battle-operator",
		"spool-max-bytes":      "1073741824",
		"metrics-bind-address": ":8443",
		"metrics-cert-dir":     "/etc/battle-operator/metrics-certs",
		"prune-rate":           "25",
		"zap-log-level":        "debug",
	})
	for _, flag := range []string{"leader-elect", "metrics-secure", "webhook-bind-address", "webhook-cert-dir"} {
		if _, ok := args[flag]; ok {
			t.Errorf("the manager gets --%s, which the full values turn off", flag)
		}
	}

	// Each file a flag names is in the volume of the Secret the values name.
	var metricsCert map[string]any
	for _, m := range byKind["Certificate"] {
		if strings.HasSuffix(m.name, "metrics-certs") {
			metricsCert = m.object
		}
	}
	if metricsCert == nil {
		t.Fatalf("the full values render no metrics Certificate; Certificates: %v", byKind["Certificate"])
	}
	metricsSecret, _ := get(metricsCert, "spec", "secretName").(string)
	for _, f := range []struct{ flag, file, secret, key string }{
		{"callback-token-file", args["callback-token-file"], "e2e-tokens", "tencent.token"},
		{"forward-ca-file", args["forward-ca-file"], "e2e-backend-ca", "bundle.pem"},
		{"callback-cert-dir", args["callback-cert-dir"] + "/tls.crt", "e2e-callback-tls", "tls.crt"},
		{"metrics-cert-dir", args["metrics-cert-dir"] + "/tls.crt", metricsSecret, "tls.crt"},
	} {
		if secret, key := secretFile(pod, c, f.file); secret != f.secret || key != f.key {
			t.Errorf("--%s: %s is key %q of Secret %q, want key %q of %q", f.flag, f.file, key, secret, f.key, f.secret)
		}
	}
	spool := volumeAt(pod, c, args["spool-dir"])
	if spool == nil || spool.Ephemeral == nil || spool.Ephemeral.VolumeClaimTemplate == nil {
		t.Errorf("--spool-dir %s is not on an ephemeral volume: %+v", args["spool-dir"], spool)
	} else if claim := spool.Ephemeral.VolumeClaimTemplate.Spec; claim.Resources.Requests.Storage().String() != "5Gi" ||
		claim.StorageClassName == nil || *claim.StorageClassName != "fast-local" {
		t.Errorf("the spool's claim asks %v of StorageClass %v, want 5Gi of fast-local", claim.Resources.Requests, claim.StorageClassName)
	}

	// The pod: image, replicas, resources, scheduling.
	if c.Image != "registry.example.com/team/battle-operator:1.2.3" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("the manager's image is %s (%s), want registry.example.com/team/battle-operator:1.2.3 (Always)", c.Image, c.ImagePullPolicy)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", dep.Spec.Replicas)
	}
	if got := c.Resources.Limits.Memory().String(); got != "2Gi" {
		t.Errorf("the manager's memory limit is %s, want 2Gi", got)
	}
	if len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "e2e-registry" || pod.NodeSelector["kubernetes.io/os"] != "linux" ||
		len(pod.Tolerations) != 1 || pod.Tolerations[0].Value != "battles" {
		t.Errorf("the pod's imagePullSecrets %v, nodeSelector %v, tolerations %v are not the values'", pod.ImagePullSecrets, pod.NodeSelector, pod.Tolerations)
	}
	if pod.ServiceAccountName != fullPrefix+"controller-manager" {
		t.Errorf("the pods run as %s", pod.ServiceAccountName)
	}

	// Services, the ServiceMonitor and the NetworkPolicy select the release's pods; the
	// ServiceMonitor verifies the name the metrics certificate is for.
	podLabels := dep.Spec.Template.Labels
	if podLabels["app.kubernetes.io/name"] != "battleops" || podLabels["app.kubernetes.io/instance"] != helmRelease {
		t.Errorf("the pods' labels are %v, want the chart's name (nameOverride battleops) and the release", podLabels)
	}
	var metricsService manifest
	for _, m := range byKind["Service"] {
		if strings.Contains(m.name, "metrics") {
			metricsService = m
		}
		selector, _ := get(m.object, "spec", "selector").(map[string]any)
		selects(t, "Service "+m.name, selector, podLabels)
	}
	policy := byKind["NetworkPolicy"][0].object
	selects(t, "the NetworkPolicy", get(policy, "spec", "podSelector", "matchLabels").(map[string]any), podLabels)
	if from := get(policy, "spec", "ingress"); !strings.Contains(toJSON(t, from), `"kubernetes.io/metadata.name":"e2e-ingress"`) {
		t.Errorf("the NetworkPolicy's ingress is %s, not the values'", toJSON(t, from))
	}
	monitor := byKind["ServiceMonitor"][0].object
	serviceLabels, _ := get(metricsService.object, "metadata", "labels").(map[string]any)
	selects(t, "the ServiceMonitor", get(monitor, "spec", "selector", "matchLabels").(map[string]any), toStrings(serviceLabels))
	serverName := metricsService.name + "." + helmNamespace + ".svc"
	endpoint := get(monitor, "spec", "endpoints").([]any)[0]
	if got := get(endpoint, "tlsConfig", "serverName"); got != serverName {
		t.Errorf("the ServiceMonitor verifies the name %v, want the metrics Service's %s", got, serverName)
	}
	if got := get(endpoint, "tlsConfig", "ca", "secret", "name"); got != metricsSecret {
		t.Errorf("the ServiceMonitor trusts the CA of Secret %v, want the metrics certificate's, %s", got, metricsSecret)
	}
	if names := toJSON(t, get(metricsCert, "spec", "dnsNames")); !strings.Contains(names, `"`+serverName+`"`) {
		t.Errorf("the metrics certificate is for %s, not %s", names, serverName)
	}
	issuers := map[any]bool{}
	for _, m := range byKind["Issuer"] {
		issuers[m.name] = true
	}
	if ref := get(metricsCert, "spec", "issuerRef", "name"); !issuers[ref] {
		t.Errorf("the metrics certificate's issuer %v is not rendered (Issuers: %v)", ref, issuers)
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		if get(byKind[kind][0].object, "metadata", "labels", "release") != "kube-prometheus-stack" {
			t.Errorf("the %s has no label release=kube-prometheus-stack (prometheus.labels)", kind)
		}
	}
}

// testChartOff renders the chart with its optional parts off: no cert-manager object, no
// webhook, no CRD, no metrics endpoint or Service.
func (d *devRun) testChartOff(t *testing.T, helm string) {
	rendered := d.renderChart(t, helm, "battle-operator", operatorNamespace,
		"--set", "webhook.enable=false,certManager.enable=false,metrics.enable=false,crd.enable=false")
	deployments := 0
	for _, m := range rendered {
		apiVersion, _ := m.object["apiVersion"].(string)
		switch {
		case strings.HasPrefix(apiVersion, "cert-manager.io/"), strings.HasSuffix(m.kind, "WebhookConfiguration"),
			m.kind == "CustomResourceDefinition", m.kind == "Service" && strings.Contains(m.name, "metrics"):
			t.Errorf("the chart renders %s %s with its part off", m.kind, m.name)
		case m.kind == "Deployment":
			deployments++
			var dep appsv1.Deployment
			fromMap(t, m.object, &dep)
			args := d.knownFlags(t, dep.Spec.Template.Spec.Containers[0].Args)
			if args["metrics-bind-address"] != "0" {
				t.Errorf("metrics.enable=false gives --metrics-bind-address=%q, want 0", args["metrics-bind-address"])
			}
		}
	}
	if deployments != 1 {
		t.Errorf("the chart with its parts off renders %d Deployments, want the manager's", deployments)
	}
}

// testChartRefusals: settings that cannot work together fail `helm template`, saying why.
func (d *devRun) testChartRefusals(t *testing.T, helm string) {
	cases := []struct{ set, want string }{
		{"replicas=2,leaderElection.enable=false", "replicas > 1 needs leaderElection.enable"},
		{"prometheus.enable=true,certManager.enable=false,webhook.enable=false", "prometheus.enable needs certManager.enable"},
		{"prometheus.enable=true,metrics.secure=false", "prometheus.enable needs metrics.enable and metrics.secure"},
		{"sdkAppIDs=null", "sdkAppIDs is empty"},
		{"certManager.enable=false", "webhook.enable needs certManager.enable"},
	}
	for _, c := range cases {
		out, err := d.helmTemplate(t, helm, "battle-operator", operatorNamespace, "--set", c.set)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("helm template --set %s: %v, %q; want it to fail saying %q", c.set, err, out, c.want)
		}
	}
}

// secretFile says which Secret and key the file at p comes from in the manager's pod.
func secretFile(pod corev1.PodSpec, c corev1.Container, p string) (secret, key string) {
	v := volumeAt(pod, c, path.Dir(p))
	if v == nil || v.Secret == nil {
		return "", ""
	}
	key = path.Base(p)
	for _, item := range v.Secret.Items {
		if item.Path == key {
			return v.Secret.SecretName, item.Key
		}
	}
	if len(v.Secret.Items) > 0 {
		return v.Secret.SecretName, "" // items given, and this file not among them
	}
	return v.Secret.SecretName, key
}

// volumeAt is the volume mounted at dir in container c.
func volumeAt(pod corev1.PodSpec, c corev1.Container, dir string) *corev1.Volume {
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for i, v := range pod.Volumes {
			if v.Name == m.Name {
				return &pod.Volumes[i]
			}
		}
	}
	return nil
}

// selects reports a selector that does not match labels.
func selects(t *testing.T, who string, selector map[string]any, labels map[string]string) {
	t.Helper()
	if len(selector) == 0 {
		t.Errorf("%s selects nothing", who)
	}
	for k, v := range selector {
		if labels[k] != v {
			t.Errorf("%s selects %s=%v; the labels are %v", who, k, v, labels)
		}
	}
}

func toStrings(m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// get follows keys through nested maps; nil when one is missing.
func get(v any, keys ...string) any {
	m, _ := v.(map[string]any)
	got, _, _ := unstructured.NestedFieldNoCopy(m, keys...)
	return got
}
