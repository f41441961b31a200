//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/battleops/battle-operator/internal/testutil"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// What config/default installs, as a user and the manager's pods see it.
const (
	operatorNamespace = "battle-operator-system"
	managerSAName     = "battle-operator-controller-manager"
	managerSA         = "system:serviceaccount:" + operatorNamespace + ":" + managerSAName
	tokenSecret       = "battle-operator-callback-token"
	// The image the test gives `make build-installer`.
	installerImage = "example.com/battle-operator:test"
	// A namespace the manager has no business in of its own, for the users' RoleBindings.
	usersNamespace = "e2e-rbac-users"
)

// manifest is one object of a rendered kustomization: its kind and name, and the object.
type manifest struct {
	kind, namespace, name string
	object                map[string]any
}

// decodeManifests splits a multi-document YAML stream into its objects.
func decodeManifests(t *testing.T, stream []byte) []manifest {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	var out []manifest
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("decoding the manifests: %v", err)
		}
		if obj == nil {
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		ns, _ := meta["namespace"].(string)
		name, _ := meta["name"].(string)
		kind, _ := obj["kind"].(string)
		out = append(out, manifest{kind: kind, namespace: ns, name: name, object: obj})
	}
}

// asList is objects as one kubectl List, in JSON.
func asList(t *testing.T, objects []manifest) string {
	t.Helper()
	items := make([]any, len(objects))
	for i, o := range objects {
		items[i] = o.object
	}
	b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kubectlErr runs the control plane's kubectl with the printed kubeconfig and returns its
// standard output and error; the error message holds its standard error.
func (d *devRun) kubectlErr(stdin string, args ...string) (string, error) {
	c := exec.Command(filepath.Join(d.assets, "kubectl"), append([]string{"--kubeconfig", d.kubeconfig}, args...)...)
	c.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out), nil
}

// kubectlText is kubectl's output for a failure message: what it printed, or why it failed.
func (d *devRun) kubectlText(args ...string) string {
	out, err := d.kubectlErr("", args...)
	if err != nil {
		return err.Error()
	}
	return out
}

// testInstall installs the way README's "Install on a cluster" says: config/default, and the
// one file `make build-installer` writes. The whole install is applied with
// --dry-run=server (the dev cluster has no node that runs images); its RBAC part (the
// namespace, the ServiceAccount, the roles and their bindings) is applied for real, and
// what the manager's ServiceAccount and users bound to view, edit and admin may do is
// checked by impersonating them. The Helm chart is rendered and applied the same way
// (helm_test.go). Everything applied is deleted at the end; the namespaces stay Terminating,
// since the dev cluster runs no namespace controller to empty them.
func (d *devRun) testInstall(t *testing.T) {
	rendered := d.shell(t, "kubectl kustomize config/default")
	all := decodeManifests(t, []byte(rendered))

	// The RBAC part, for real: the dry runs need the namespace to exist, and the checks
	// below need the roles and bindings.
	var rbac []manifest
	for _, m := range all {
		switch m.kind {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			rbac = append(rbac, m)
		}
	}
	var names []string
	for _, m := range rbac {
		names = append(names, m.kind+"/"+m.name)
	}
	for _, want := range []string{
		"Namespace/" + operatorNamespace, "ServiceAccount/" + managerSAName,
		"ClusterRole/battle-operator-manager-role", "ClusterRoleBinding/battle-operator-manager-rolebinding",
		"Role/battle-operator-leader-election-role", "RoleBinding/battle-operator-leader-election-rolebinding",
		"ClusterRole/battle-operator-metrics-auth-role", "ClusterRoleBinding/battle-operator-metrics-auth-rolebinding",
		"ClusterRole/battle-operator-metrics-reader",
		"ClusterRole/battle-operator-battleresult-viewer-role", "ClusterRole/battle-operator-roomstats-viewer-role",
		"ClusterRole/battle-operator-battlereaction-viewer-role", "ClusterRole/battle-operator-battlereaction-editor-role",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("config/default has no %s; it has %v", want, names)
		}
	}
	rbacList := asList(t, rbac)
	t.Cleanup(func() {
		// --wait=false: the namespace stays Terminating (no namespace controller here).
		if _, err := d.kubectlErr(rbacList, "delete", "--ignore-not-found", "--wait=false", "-f", "-"); err != nil {
			t.Errorf("deleting the RBAC part: %v", err)
		}
	})
	d.kubectl(t, rbacList, "apply", "--server-side", "--field-manager=e2e-install", "-f", "-")
	// The installs have cert-manager's kinds (the webhook's certificate), config/prometheus the
	// Prometheus Operator's: their CRDs first, for the dry runs of both.
	d.installThirdPartyCRDs(t)

	// Independent checks (dry runs, and questions to the authorizer), at once.
	t.Run("DryRun", func(t *testing.T) { t.Parallel(); d.testInstallDryRun(t, rendered, all) })
	t.Run("HelmChart", func(t *testing.T) { t.Parallel(); d.testHelmChart(t, all) })
	t.Run("ManagerRBAC", func(t *testing.T) { t.Parallel(); d.testManagerRBAC(t) })
	t.Run("UserRBAC", func(t *testing.T) { t.Parallel(); d.testUserRBAC(t) })
}

// testInstallDryRun applies config/default and the file `make build-installer` writes with
// --dry-run=server, checks the file is config/default with the image set, and checks the
// Deployment is as a user relies on: flags the manager knows, the token from the Secret,
// probes on the probe port, the Services on the right ports, a pod the restricted Pod
// Security Standard admits.
func (d *devRun) testInstallDryRun(t *testing.T, renderedText string, rendered []manifest) {
	start := time.Now()
	d.shell(t, "kubectl --kubeconfig "+d.kubeconfig+" apply --server-side --dry-run=server -k config/default")
	t.Logf("kubectl apply --dry-run=server -k config/default: %d objects, %v", len(rendered), time.Since(start).Round(time.Millisecond))

	// The spool variant (config/spool) is valid, and gives the manager the flag and a volume.
	d.shell(t, "kubectl --kubeconfig "+d.kubeconfig+" apply --server-side --dry-run=server -k config/spool")
	spooled := d.shell(t, "kubectl kustomize config/spool")
	for _, want := range []string{"--spool-dir=/var/spool/battle-operator", "mountPath: /var/spool/battle-operator", "volumeClaimTemplate:"} {
		if !strings.Contains(spooled, want) {
			t.Errorf("config/spool has no %q", want)
		}
	}

	// The monitoring variant is valid: the manager gets the certificate, the ServiceMonitor
	// verifies it.
	d.shell(t, "kubectl --kubeconfig "+d.kubeconfig+" apply --server-side --dry-run=server -k config/prometheus")
	monitored := d.shell(t, "kubectl kustomize config/prometheus")
	for _, want := range []string{"--metrics-cert-dir=/etc/battle-operator/metrics-certs", "kind: ServiceMonitor", "kind: PrometheusRule",
		"secretName: battle-operator-metrics-server-cert", "key: ca.crt"} {
		if !strings.Contains(monitored, want) {
			t.Errorf("config/prometheus has no %q", want)
		}
	}
	if strings.Contains(monitored, "insecureSkipVerify") {
		t.Errorf("config/prometheus skips certificate verification")
	}

	// The NetworkPolicy sample (docs/security.md) is valid and selects the manager's pods.
	d.shell(t, "kubectl --kubeconfig "+d.kubeconfig+" apply --server-side --dry-run=server -k config/network-policy")
	policy := d.shell(t, "kubectl kustomize config/network-policy")
	for _, want := range []string{"namespace: " + operatorNamespace, "app.kubernetes.io/component: manager", "app.kubernetes.io/name: battle-operator", "port: 8082"} {
		if !strings.Contains(policy, want) {
			t.Errorf("config/network-policy has no %q:\n%s", want, policy)
		}
	}

	// The make target itself, into a temporary folder. -o manifests: `make test` has just
	// generated them, and regenerating would rewrite files while other tests read them.
	dist := t.TempDir()
	d.shell(t, fmt.Sprintf("make -o manifests build-installer IMG=%s DIST=%s", installerImage, dist))
	installer, err := os.ReadFile(filepath.Join(dist, "install.yaml"))
	if err != nil {
		t.Fatalf("make build-installer wrote no install.yaml: %v", err)
	}
	d.shell(t, "kubectl --kubeconfig "+d.kubeconfig+" apply --server-side --dry-run=server -f "+filepath.Join(dist, "install.yaml"))
	installed := decodeManifests(t, installer)

	var deployment *appsv1.Deployment
	services := map[string]*corev1.Service{}
	for _, m := range installed {
		switch m.kind {
		case "Deployment":
			if deployment != nil {
				t.Errorf("install.yaml has two Deployments: %s and %s", deployment.Name, m.name)
			}
			deployment = &appsv1.Deployment{}
			fromMap(t, m.object, deployment)
		case "Service":
			services[m.name] = &corev1.Service{}
			fromMap(t, m.object, services[m.name])
		}
	}
	if deployment == nil {
		t.Fatal("install.yaml has no Deployment")
	}
	d.checkDeployment(t, deployment, services)

	// The installer is config/default, byte for byte, but for the manager's image.
	var renderedImage string
	for _, m := range rendered {
		if m.kind == "Deployment" {
			var dep appsv1.Deployment
			fromMap(t, m.object, &dep)
			if len(dep.Spec.Template.Spec.Containers) > 0 {
				renderedImage = dep.Spec.Template.Spec.Containers[0].Image
			}
		}
	}
	want := strings.Replace(renderedText, "image: "+renderedImage+"\n", "image: "+installerImage+"\n", 1)
	if diff := cmp.Diff(want, string(installer)); diff != "" {
		t.Errorf("install.yaml is not config/default with the image %s (-want +got):\n%s", installerImage, diff)
	}
}

func fromMap(t *testing.T, m map[string]any, into any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}

// checkDeployment checks the manager's Deployment and Services from install.yaml.
func (d *devRun) checkDeployment(t *testing.T, dep *appsv1.Deployment, services map[string]*corev1.Service) {
	t.Helper()
	if dep.Namespace != operatorNamespace || dep.Name != managerSAName {
		t.Errorf("the Deployment is %s/%s, want %s/%s", dep.Namespace, dep.Name, operatorNamespace, managerSAName)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("the Deployment has replicas %v, want 2", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if pod.ServiceAccountName != managerSAName {
		t.Errorf("the pods run as ServiceAccount %q, want %q", pod.ServiceAccountName, managerSAName)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("the pods have %d containers, want the manager alone", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != installerImage {
		t.Errorf("the manager's image is %q, want the IMG given to make build-installer, %q", c.Image, installerImage)
	}

	// Every flag is one the manager defines (a typo or a renamed flag stops it at start).
	args := d.knownFlags(t, c.Args)
	wantFlags(t, args, map[string]string{
		"leader-elect":              "",
		"metrics-bind-address":      ":8443",
		"health-probe-bind-address": ":8081",
		"callback-bind-address":     ":8082",
		"callback-token-file":       "/etc/battle-operator/token/token",
		"webhook-bind-address":      ":9443",
		"webhook-cert-dir":          "/tmp/k8s-webhook-server/serving-certs",
	})
	if args["sdk-app-id"] == "" {
		t.Errorf("the manager has no --sdk-app-id: it would not start")
	}

	// The token file is in a volume of the user's Secret, which must exist.
	tokenDir := filepath.Dir(args["callback-token-file"])
	var tokenVolume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == tokenDir {
			tokenVolume = m.Name
			if !m.ReadOnly {
				t.Errorf("the token volume is mounted writable")
			}
		}
	}
	found := false
	for _, v := range pod.Volumes {
		if v.Name != tokenVolume || tokenVolume == "" {
			continue
		}
		found = true
		if s := v.Secret; s == nil || s.SecretName != tokenSecret || s.Optional == nil || *s.Optional {
			t.Errorf("the token volume %s is %+v, want the Secret %s, not optional", v.Name, v.VolumeSource, tokenSecret)
		}
	}
	if !found {
		t.Errorf("no Secret volume is mounted at %s, where --callback-token-file points", tokenDir)
	}

	// Probes on the probe port; ports named for the Services.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		port := p.probe.HTTPGet.Port.IntVal
		if p.probe.HTTPGet.Port.StrVal != "" {
			port = ports[p.probe.HTTPGet.Port.StrVal]
		}
		if p.probe.HTTPGet.Path != p.path || port != 8081 {
			t.Errorf("the %s probe gets %s on port %d, want %s on the probe port 8081", p.name, p.probe.HTTPGet.Path, port, p.path)
		}
	}
	for name, want := range map[string]int32{
		"battle-operator-callback":                           8082,
		"battle-operator-controller-manager-metrics-service": 8443,
		"battle-operator-webhook-service":                    9443,
	} {
		svc, ok := services[name]
		if !ok {
			t.Errorf("install.yaml has no Service %s", name)
			continue
		}
		if len(svc.Spec.Selector) == 0 {
			t.Errorf("Service %s selects no pods", name)
		}
		for k, v := range svc.Spec.Selector {
			if dep.Spec.Template.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the manager's pods do not carry", name, k, v)
			}
		}
		if len(svc.Spec.Ports) != 1 {
			t.Errorf("Service %s has %d ports, want 1", name, len(svc.Spec.Ports))
			continue
		}
		target := svc.Spec.Ports[0].TargetPort
		port := target.IntVal
		if target.StrVal != "" {
			port = ports[target.StrVal]
		}
		if port != want {
			t.Errorf("Service %s sends to container port %d, want %d", name, port, want)
		}
	}

	// Requests and limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("the manager requests no %s", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("the manager has no %s limit", r)
		}
	}

	// The pod as the Deployment makes it: the namespace enforces the restricted Pod Security
	// Standard, and the API server admits it, or says why not (a dry run).
	if got := string(d.kubectl(t, "", "get", "namespace", operatorNamespace, "-o", "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}")); got != "restricted" {
		t.Errorf("namespace %s enforces Pod Security Standard %q, want restricted", operatorNamespace, got)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("the manager's root filesystem is writable")
	}
	podJSON, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"generateName": "e2e-manager-", "namespace": operatorNamespace, "labels": dep.Spec.Template.Labels},
		"spec":     dep.Spec.Template.Spec,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := d.kubectlErr(string(podJSON), "create", "--dry-run=server", "-f", "-"); err != nil {
		t.Errorf("the API server does not admit the manager's pod: %v", err)
	} else {
		t.Logf("the manager's pod is admitted: %s", strings.TrimSpace(out))
	}
}

// knownFlags returns the manager's args by flag name ("--a=b" → a: b), and reports every flag
// that bin/manager -h does not list (a typo or a renamed flag stops the manager at start).
func (d *devRun) knownFlags(t *testing.T, argv []string) map[string]string {
	t.Helper()
	args := map[string]string{}
	for _, a := range argv {
		name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		args[name] = value
	}
	help, _ := exec.Command(filepath.Join(d.root, "bin", "manager"), "-h").CombinedOutput()
	for name := range args {
		if !strings.Contains(string(help), "\n  -"+name+" ") && !strings.Contains(string(help), "\n  -"+name+"\n") {
			t.Errorf("the Deployment passes --%s, which bin/manager -h does not list", name)
		}
	}
	return args
}

// accessCase is a question in the words of `kubectl auth can-i` (VERB RESOURCE[.GROUP]
// [--subresource=S] [-n NS | --all-namespaces]) and the answer the install must give.
type accessCase struct {
	args string
	want bool
}

// canI asks the API server's authorizer, by a SelfSubjectAccessReview made as user, what
// `kubectl auth can-i ARGS --as=USER` asks it.
func (d *devRun) canI(ctx context.Context, user, args string) (bool, error) {
	fields := strings.Fields(args)
	if len(fields) < 2 {
		return false, fmt.Errorf("%q: want VERB RESOURCE[.GROUP] [flags]", args)
	}
	attrs := &authorizationv1.ResourceAttributes{Verb: fields[0]}
	attrs.Resource, attrs.Group, _ = strings.Cut(fields[1], ".")
	for i := 2; i < len(fields); i++ {
		switch f := fields[i]; {
		case f == "-n" && i+1 < len(fields):
			i++
			attrs.Namespace = fields[i]
		case f == "--all-namespaces":
		case strings.HasPrefix(f, "--subresource="):
			attrs.Subresource = strings.TrimPrefix(f, "--subresource=")
		default:
			return false, fmt.Errorf("%q: unknown flag %q", args, f)
		}
	}
	c, err := d.clientAs(user)
	if err != nil {
		return false, err
	}
	review, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
		&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	if review.Status.EvaluationError != "" {
		return false, fmt.Errorf("%q as %s: %s", args, user, review.Status.EvaluationError)
	}
	return review.Status.Allowed, nil
}

// checkAccess asks every case as user and reports the wrong answers.
func (d *devRun) checkAccess(t *testing.T, user string, cases []accessCase) {
	t.Helper()
	for _, c := range cases {
		allowed, err := d.canI(t.Context(), user, c.args)
		switch {
		case err != nil:
			t.Errorf("can %s %s? %v", user, c.args, err)
		case allowed && !c.want:
			t.Errorf("%s may %s; it must not", user, c.args)
		case !allowed && c.want:
			t.Errorf("%s may not %s; it must", user, c.args)
		}
	}
}

// clientAs is a client of the dev cluster that impersonates user, as kubectl --as does (a
// ServiceAccount's user name gets its groups from the API server).
func (d *devRun) clientAs(user string) (kubernetes.Interface, error) {
	d.clientsOnce.Do(func() {
		d.restConfig, d.restConfigErr = clientcmd.BuildConfigFromFlags("", d.kubeconfig)
	})
	if d.restConfigErr != nil {
		return nil, fmt.Errorf("reading %s: %w", d.kubeconfig, d.restConfigErr)
	}
	cfg := rest.CopyConfig(d.restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	cfg.QPS, cfg.Burst = -1, 0
	return kubernetes.NewForConfig(cfg)
}

// rules is what user may do in namespace ns, by a SelfSubjectRulesReview made as them, as
// "verb group/resource" strings ("" is the core group); resource names are appended.
func (d *devRun) rules(t *testing.T, user, ns string) map[string]bool {
	t.Helper()
	c, err := d.clientAs(user)
	if err != nil {
		t.Fatal(err)
	}
	review, err := c.AuthorizationV1().SelfSubjectRulesReviews().Create(t.Context(),
		&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the rules of %s in %s: %v", user, ns, err)
	}
	if review.Status.Incomplete {
		t.Fatalf("the rules review for %s in %s is incomplete: %s", user, ns, review.Status.EvaluationError)
	}
	set := map[string]bool{}
	for _, r := range review.Status.ResourceRules {
		for _, v := range r.Verbs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					s := v + " " + g + "/" + res
					if len(r.ResourceNames) > 0 {
						s += " " + strings.Join(r.ResourceNames, ",")
					}
					set[s] = true
				}
			}
		}
	}
	return set
}

// managerRules is every permission the manager's ServiceAccount has beyond what every
// ServiceAccount has, in any namespace: what role.yaml (generated from the +kubebuilder:rbac
// markers: exactly what the code calls) and metrics_auth_role.yaml grant. When the code's
// needs change, change this list with the markers.
var managerRules = []string{
	// The receiver stores battles; the reaction controller records the Jobs it ran.
	"create live.battleops.io/battleresults", "get live.battleops.io/battleresults",
	// Retention deletes them, one at a time (never deletecollection).
	"delete live.battleops.io/battleresults",
	"list live.battleops.io/battleresults", "watch live.battleops.io/battleresults",
	"get live.battleops.io/battleresults/status", "patch live.battleops.io/battleresults/status",
	// The RoomStats controller, one writer.
	"create live.battleops.io/roomstats", "get live.battleops.io/roomstats",
	"list live.battleops.io/roomstats", "watch live.battleops.io/roomstats",
	"get live.battleops.io/roomstats/status", "update live.battleops.io/roomstats/status",
	// Reactions: the user's spec, read only; the controller's status.
	"get live.battleops.io/battlereactions", "list live.battleops.io/battlereactions", "watch live.battleops.io/battlereactions",
	"get live.battleops.io/battlereactions/status",
	"update live.battleops.io/battlereactions/status", "update live.battleops.io/battlereactions/finalizers",
	// Their Jobs (never updated: patched, to take the accounting finalizer off).
	"create batch/jobs", "delete batch/jobs", "get batch/jobs", "list batch/jobs", "patch batch/jobs", "watch batch/jobs",
	"create events.k8s.io/events", "patch events.k8s.io/events",
	// An HTTP reaction's header from a Secret of its namespace: read by name when sent, never
	// listed or watched. Whoever may create a reaction in a namespace may already mount its
	// Secrets in a reaction's Job, so this gives a reaction author nothing new.
	"get /secrets",
	// Secure metrics: who is scraping, and may they.
	"create authentication.k8s.io/tokenreviews", "create authorization.k8s.io/subjectaccessreviews",
}

// leaderElectionRules are what it has beyond managerRules in its own namespace.
var leaderElectionRules = []string{
	"get coordination.k8s.io/leases", "create coordination.k8s.io/leases", "update coordination.k8s.io/leases",
	"create /events", "patch /events",
}

// testManagerRBAC checks, by impersonating the manager's ServiceAccount, that it may do
// exactly what the operator needs: the rules it has, compared to a ServiceAccount with no
// binding, and kubectl auth can-i for what matters most, allowed and denied.
func (d *devRun) testManagerRBAC(t *testing.T) {
	nobody := "system:serviceaccount:" + operatorNamespace + ":e2e-nobody"
	for _, c := range []struct {
		ns   string
		want []string
	}{
		{"default", managerRules},
		{"e2e-elsewhere", managerRules},
		{operatorNamespace, append(slices.Clone(managerRules), leaderElectionRules...)},
	} {
		got, base := d.rules(t, managerSA, c.ns), d.rules(t, nobody, c.ns)
		var extra, missing []string
		for r := range got {
			if !base[r] && !slices.Contains(c.want, r) {
				extra = append(extra, r)
			}
		}
		for _, r := range c.want {
			if !got[r] {
				missing = append(missing, r)
			}
		}
		sort.Strings(extra)
		sort.Strings(missing)
		if len(extra) > 0 || len(missing) > 0 {
			t.Errorf("in namespace %s the manager's ServiceAccount\n  may do what it should not: %v\n  may not do what it needs: %v\n(if the code's needs changed, change managerRules with the +kubebuilder:rbac markers)",
				c.ns, extra, missing)
		}
	}

	d.checkAccess(t, managerSA, []accessCase{
		{"create battleresults.live.battleops.io -n default", true},
		{"create battleresults.live.battleops.io -n e2e-elsewhere", true},
		{"list battleresults.live.battleops.io --all-namespaces", true},
		{"patch battleresults.live.battleops.io --subresource=status -n default", true},
		{"create jobs.batch -n e2e-elsewhere", true},
		{"delete jobs.batch -n e2e-elsewhere", true},
		{"update roomstats.live.battleops.io --subresource=status -n default", true},
		{"update battlereactions.live.battleops.io --subresource=status -n default", true},
		{"create events.events.k8s.io -n e2e-elsewhere", true},
		{"create leases.coordination.k8s.io -n " + operatorNamespace, true},
		{"update leases.coordination.k8s.io -n " + operatorNamespace, true},
		{"create events -n " + operatorNamespace, true}, // core/v1, for leader election
		{"create tokenreviews.authentication.k8s.io", true},
		{"create subjectaccessreviews.authorization.k8s.io", true},

		{"list secrets --all-namespaces", false},
		{"watch secrets --all-namespaces", false},
		{"get secrets -n default", true},
		{"create pods -n default", false},
		{"delete battleresults.live.battleops.io -n default", true}, // retention
		{"deletecollection battleresults.live.battleops.io -n default", false},
		{"update battleresults.live.battleops.io -n default", false},
		{"patch battleresults.live.battleops.io -n default", false},
		{"update battlereactions.live.battleops.io -n default", false},
		{"patch battlereactions.live.battleops.io -n default", false},
		{"create battlereactions.live.battleops.io -n default", false},
		{"delete battlereactions.live.battleops.io -n default", false},
		{"delete roomstats.live.battleops.io -n default", false},
		{"update jobs.batch -n default", false},
		{"create leases.coordination.k8s.io -n default", false},
		{"get leases.coordination.k8s.io -n kube-system", false},
		{"delete leases.coordination.k8s.io -n " + operatorNamespace, false},
		{"create events -n default", false},
		{"create configmaps -n " + operatorNamespace, false},
		{"create clusterrolebindings.rbac.authorization.k8s.io", false},
		{"create deployments.apps -n " + operatorNamespace, false},
	})
}

// testUserRBAC binds alice to the built-in view ClusterRole, bob to edit and carol to admin
// in a namespace of their own, and checks what the aggregated roles let them do: everyone
// reads everything; BattleResults and RoomStats are read-only to all of them; edit and admin
// write reactions, view does not; nothing reaches beyond the namespace.
func (d *devRun) testUserRBAC(t *testing.T) {
	bindings := fmt.Sprintf(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: %[1]s}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: alice-view, namespace: %[1]s}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: bob-edit, namespace: %[1]s}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: carol-admin, namespace: %[1]s}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
`, usersNamespace)
	t.Cleanup(func() {
		if _, err := d.kubectlErr(bindings, "delete", "--ignore-not-found", "--wait=false", "-f", "-"); err != nil {
			t.Errorf("deleting the users' bindings: %v", err)
		}
	})
	d.kubectl(t, bindings, "apply", "--server-side", "--field-manager=e2e-install", "-f", "-")

	// kube-controller-manager's clusterrole-aggregation-controller copies the labelled
	// roles' rules into view, edit and admin: wait until it has.
	start := time.Now()
	var aggregated []string
	if !testutil.Within(time.Minute, 250*time.Millisecond, func(context.Context) bool {
		aggregated = aggregated[:0]
		for _, who := range []struct{ user, args string }{
			{"alice", "get battleresults.live.battleops.io"},
			{"bob", "create battlereactions.live.battleops.io"},
			{"carol", "create battlereactions.live.battleops.io"},
		} {
			if allowed, err := d.canI(t.Context(), who.user, who.args+" -n "+usersNamespace); err != nil {
				t.Fatal(err)
			} else if allowed {
				aggregated = append(aggregated, who.user)
			}
		}
		return len(aggregated) == 3
	}) {
		view := d.kubectlText("get", "clusterrole", "view", "-o", "yaml")
		t.Fatalf("after a minute only %v of alice (view), bob (edit) and carol (admin) got the battle-operator roles: view, edit and admin are not aggregated (does kube-controller-manager run clusterrole-aggregation-controller?)\n%s", aggregated, view)
	}
	t.Logf("view, edit and admin aggregated %v after the roles were applied", time.Since(start).Round(time.Millisecond))

	ns := " -n " + usersNamespace
	readOnly := []accessCase{
		{"get battleresults.live.battleops.io" + ns, true},
		{"list battleresults.live.battleops.io" + ns, true},
		{"watch battleresults.live.battleops.io" + ns, true},
		{"get roomstats.live.battleops.io" + ns, true},
		{"list roomstats.live.battleops.io" + ns, true},
		{"get battlereactions.live.battleops.io" + ns, true},
		{"list battlereactions.live.battleops.io" + ns, true},
		{"get battlereactions.live.battleops.io --subresource=status" + ns, true},

		{"create battleresults.live.battleops.io" + ns, false},
		{"update battleresults.live.battleops.io" + ns, false},
		{"patch battleresults.live.battleops.io" + ns, false},
		{"delete battleresults.live.battleops.io" + ns, false},
		{"deletecollection battleresults.live.battleops.io" + ns, false},
		{"patch battleresults.live.battleops.io --subresource=status" + ns, false},
		{"create roomstats.live.battleops.io" + ns, false},
		{"update roomstats.live.battleops.io" + ns, false},
		{"delete roomstats.live.battleops.io" + ns, false},
		{"update roomstats.live.battleops.io --subresource=status" + ns, false},
		{"update battlereactions.live.battleops.io --subresource=status" + ns, false},
		// A RoleBinding reaches its own namespace only.
		{"get battleresults.live.battleops.io -n default", false},
		{"list battleresults.live.battleops.io --all-namespaces", false},
	}
	writesReactions := func(want bool) []accessCase {
		var cases []accessCase
		for _, verb := range []string{"create", "update", "patch", "delete"} {
			cases = append(cases, accessCase{verb + " battlereactions.live.battleops.io" + ns, want})
		}
		return cases
	}
	d.checkAccess(t, "alice", append(slices.Clone(readOnly), writesReactions(false)...))
	d.checkAccess(t, "bob", append(slices.Clone(readOnly), writesReactions(true)...))
	d.checkAccess(t, "carol", append(slices.Clone(readOnly), writesReactions(true)...))
}

// installThirdPartyCRDs installs, for real, the CRDs of what the installs use besides
// Kubernetes: cert-manager's (the webhook's and the metrics' certificates) and the Prometheus
// Operator's ServiceMonitor and PrometheusRule, at the versions the Makefile pins (`make
// thirdparty-crds`), so that the installs can be applied with a dry run. The cluster runs
// neither: nothing issues the certificates or scrapes.
func (d *devRun) installThirdPartyCRDs(t *testing.T) {
	t.Helper()
	start := time.Now()
	crds := t.TempDir()
	d.shell(t, "make -s thirdparty-crds CRDS_DIR="+crds)
	d.kubectl(t, "", "apply", "--server-side", "--field-manager=e2e-install", "-f", crds)
	d.kubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
	t.Logf("cert-manager's and the Prometheus Operator's CRDs installed in %v", time.Since(start).Round(time.Millisecond))
}

// wantFlags checks the manager's flags (args, from knownFlags) have the values want gives.
func wantFlags(t *testing.T, args, want map[string]string) {
	t.Helper()
	for flag, w := range want {
		if got, ok := args[flag]; !ok || got != w {
			t.Errorf("the manager's --%s is %q (set: %v), want %q", flag, got, ok, w)
		}
	}
}
