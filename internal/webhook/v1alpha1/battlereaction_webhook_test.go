package v1alpha1

// The webhook's tests run against a real kube-apiserver and etcd (envtest) that calls the
// webhook as config/webhook registers it: envtest installs that configuration, pointed at the
// test's webhook server with a certificate it makes.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/testutil"
)

var (
	k8sClient client.Client
	nextNS    atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	testutil.SetLogger()
	scheme := testutil.Scheme()
	env, cfg, c, err := testutil.StartEnv(scheme, func(env *envtest.Environment) {
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(testutil.Root(), "config", "webhook")}}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testutil.StopEnv(env)
	k8sClient = c

	hook := &env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          webhook.NewServer(webhook.Options{Host: hook.LocalServingHost, Port: hook.LocalServingPort, CertDir: hook.LocalServingCertDir}),
	})
	if err == nil {
		err = (&ReactionValidator{Client: mgr.GetClient()}).SetupWithManager(mgr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	if err := waitServing(net.JoinHostPort(hook.LocalServingHost, strconv.Itoa(hook.LocalServingPort))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// waitServing waits until the webhook server accepts TLS connections.
func waitServing(addr string) error {
	var err error
	if testutil.Within(30*time.Second, 100*time.Millisecond, func(context.Context) bool {
		var conn *tls.Conn
		if conn, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}); err != nil { //nolint:gosec // only whether it serves
			return false
		}
		err = conn.Close()
		return err == nil
	}) {
		return nil
	}
	return fmt.Errorf("the webhook server at %s does not serve: %w", addr, err)
}

// namespace creates a namespace of its own for a test.
func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("webhook-%d", nextNS.Add(1))}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// jobReaction is a valid reaction that runs a Job; mutate changes it.
func jobReaction(ns, name string, mutate func(*livev1alpha1.BattleReactionSpec)) *livev1alpha1.BattleReaction {
	rx := &livev1alpha1.BattleReaction{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: livev1alpha1.BattleReactionSpec{
			Match: livev1alpha1.BattleMatch{Expression: `battle.rooms.exists(r, r.score >= 1000) && battle.durationMs >= 60000`},
			JobTemplate: &batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "rewards"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "reward", Image: "busybox",
						Command: []string{"sh", "-c", "echo $(BATTLE_ID) $(ROOM_ID)"}}},
				}}},
			},
		},
	}
	if mutate != nil {
		mutate(&rx.Spec)
	}
	return rx
}

// httpReaction is a valid reaction that sends a request.
func httpReaction(ns, name string, mutate func(*livev1alpha1.BattleReactionSpec)) *livev1alpha1.BattleReaction {
	return jobReaction(ns, name, func(s *livev1alpha1.BattleReactionSpec) {
		s.JobTemplate = nil
		s.HTTP = livev1alpha1.HTTPAction{URL: "https://backend.example.com/battles"}
		if mutate != nil {
			mutate(s)
		}
	})
}

func TestRefusesABadReaction(t *testing.T) {
	ns := namespace(t)
	cases := []struct {
		name string
		rx   *livev1alpha1.BattleReaction
		// want are parts of the refusal a user reads: the field, and why.
		want []string
	}{
		{"An expression that does not parse.",
			jobReaction(ns, "syntax", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = `battle.rooms.exists(r, r.score >=` }),
			[]string{"spec.match.expression", "Syntax error"}},
		{"An expression with a misspelt field.",
			jobReaction(ns, "misspelt", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = `battle.roomz.size() > 0` }),
			[]string{"spec.match.expression", "undefined field 'roomz'"}},
		{"A misspelt field in a branch no sample battle takes.",
			jobReaction(ns, "branch", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = `true || battle.rooms[0].scroe > 0` }),
			[]string{"spec.match.expression", "undefined field 'scroe'"}},
		{"An int field compared with a string.",
			jobReaction(ns, "types", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = `battle.durationMs == '60000'` }),
			[]string{"spec.match.expression", "no matching overload"}},
		{"An expression that is not a bool.",
			jobReaction(ns, "not-bool", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = `battle.durationMs + 1` }),
			[]string{"spec.match.expression", "gives int, not bool"}},
		{"An expression beyond the cost limit.",
			jobReaction(ns, "costly", func(s *livev1alpha1.BattleReactionSpec) {
				s.Match.Expression = `battle.rooms.all(a, battle.rooms.all(b, battle.rooms.all(c, a.score + b.score + c.score > -1)))`
			}),
			[]string{"spec.match.expression", "cost limit"}},
		{"A Job template whose container has no image.",
			jobReaction(ns, "no-image", func(s *livev1alpha1.BattleReactionSpec) { s.JobTemplate.Spec.Template.Spec.Containers[0].Image = "" }),
			[]string{"spec.jobTemplate.spec.template.spec.containers[0].image", "Required value"}},
		{"A Job template whose pods restart Always.",
			jobReaction(ns, "always", func(s *livev1alpha1.BattleReactionSpec) {
				s.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			}),
			[]string{"spec.jobTemplate.spec.template.spec.restartPolicy", `valid values: "OnFailure", "Never"`}},
		{"A Job template with a label the Job API refuses.",
			jobReaction(ns, "bad-label", func(s *livev1alpha1.BattleReactionSpec) { s.JobTemplate.Labels["not a key!"] = "x" }),
			[]string{"spec.jobTemplate.metadata.labels", "not a key!"}},
		{"A Job template with a negative backoff limit.",
			jobReaction(ns, "backoff", func(s *livev1alpha1.BattleReactionSpec) { s.JobTemplate.Spec.BackoffLimit = ptr.To[int32](-1) }),
			[]string{"spec.jobTemplate.spec.backoffLimit", "must be greater than or equal to 0"}},
		{"A per-room reaction whose template is refused.",
			jobReaction(ns, "each-room", func(s *livev1alpha1.BattleReactionSpec) {
				s.RunFor = livev1alpha1.RunForEachRoom
				s.JobTemplate.Spec.Template.Spec.Containers[0].Name = "Not_A_Name"
			}),
			[]string{"spec.jobTemplate.spec.template.spec.containers[0].name", "Not_A_Name"}},
		// The CRD's own rules refuse these before the webhook is called; the user reads the same.
		{"Both jobTemplate and http.",
			jobReaction(ns, "both", func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.URL = "https://backend.example.com/" }),
			[]string{"spec", "exactly one of jobTemplate and http must be set"}},
		{"Neither jobTemplate nor http.",
			jobReaction(ns, "neither", func(s *livev1alpha1.BattleReactionSpec) { s.JobTemplate = nil }),
			[]string{"spec", "exactly one of jobTemplate and http must be set"}},
		{"A URL that does not parse.",
			httpReaction(ns, "bad-url", func(s *livev1alpha1.BattleReactionSpec) { s.HTTP.URL = "https://exa mple.com/" }),
			[]string{"spec.http.url", "must be an absolute http or https URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8sClient.Create(context.Background(), tc.rx)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("creating the reaction: %v, want it refused as invalid", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal %q does not say %q", err, want)
				}
			}
			t.Logf("refused: %v", err)
			assertNotStored(t, tc.rx)
		})
	}
	assertNoJobs(t, ns)
}

// TestWebhookRefusesWhatItChecks: the refusals that only the webhook makes (those above the
// CRD's rules) come from it, by name.
func TestWebhookRefusesWhatItChecks(t *testing.T) {
	ns := namespace(t)
	err := k8sClient.Create(context.Background(), jobReaction(ns, "by-webhook", func(s *livev1alpha1.BattleReactionSpec) { s.Match.Expression = `battle.roomz.size() > 0` }))
	if err == nil || !strings.Contains(err.Error(), `admission webhook "vbattlereaction-v1alpha1.kb.io" denied the request`) {
		t.Fatalf("creating the reaction: %v, want the webhook's refusal", err)
	}
}

func TestAcceptsAValidReaction(t *testing.T) {
	ns := namespace(t)
	for _, rx := range []*livev1alpha1.BattleReaction{
		jobReaction(ns, "job", nil),
		jobReaction(ns, "each-room", func(s *livev1alpha1.BattleReactionSpec) { s.RunFor = livev1alpha1.RunForEachRoom }),
		jobReaction(ns, "each-winner", func(s *livev1alpha1.BattleReactionSpec) { s.RunFor = livev1alpha1.RunForEachWinner }),
		jobReaction(ns, "no-expression", func(s *livev1alpha1.BattleReactionSpec) { s.Match = livev1alpha1.BattleMatch{} }),
		jobReaction(ns, "timestamp", func(s *livev1alpha1.BattleReactionSpec) {
			s.Match.Expression = `battle.endedAt != '' && timestamp(battle.endedAt) > timestamp('2020-01-01T00:00:00Z')`
		}),
		httpReaction(ns, "http", nil),
		httpReaction(ns, "http-each-room", func(s *livev1alpha1.BattleReactionSpec) { s.RunFor = livev1alpha1.RunForEachRoom }),
		func() *livev1alpha1.BattleReaction { // named by the API server after admission
			rx := jobReaction(ns, "", nil)
			rx.GenerateName = "generated-"
			return rx
		}(),
	} {
		t.Run(rx.Name+rx.GenerateName, func(t *testing.T) {
			if err := k8sClient.Create(context.Background(), rx); err != nil {
				t.Fatalf("creating a valid reaction: %v", err)
			}
		})
	}
	// The dry runs that judged the templates created no Job.
	assertNoJobs(t, ns)
}

func TestRefusesABadUpdate(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	rx := jobReaction(ns, "edited", nil)
	if err := k8sClient.Create(ctx, rx); err != nil {
		t.Fatal(err)
	}
	bad := rx.DeepCopy()
	bad.Spec.Match.Expression = `battle.rooms.exists(r, r.scroe >= 1000)`
	if err := k8sClient.Update(ctx, bad); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "undefined field 'scroe'") {
		t.Fatalf("updating to a misspelt expression: %v, want it refused naming the field", err)
	}
	bad = rx.DeepCopy()
	bad.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = ""
	if err := k8sClient.Update(ctx, bad); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.jobTemplate.spec.template.spec.containers[0].image") {
		t.Fatalf("updating to a template without an image: %v, want it refused naming the field", err)
	}
	var got livev1alpha1.BattleReaction
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rx), &got); err != nil {
		t.Fatal(err)
	}
	if got.Generation != 1 || got.Spec.Match.Expression != rx.Spec.Match.Expression {
		t.Errorf("the refused updates changed the reaction: generation %d, expression %q", got.Generation, got.Spec.Match.Expression)
	}
	// A good edit still applies.
	good := got.DeepCopy()
	good.Spec.Match.Expression = `battle.durationMs >= 30000`
	if err := k8sClient.Update(ctx, good); err != nil {
		t.Fatalf("a valid edit: %v", err)
	}
}

func assertNotStored(t *testing.T, rx *livev1alpha1.BattleReaction) {
	t.Helper()
	var got livev1alpha1.BattleReaction
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(rx), &got); !apierrors.IsNotFound(err) {
		t.Errorf("the refused reaction %s: get = %v, want NotFound", rx.Name, err)
	}
}

func assertNoJobs(t *testing.T, ns string) {
	t.Helper()
	var jobs batchv1.JobList
	if err := k8sClient.List(context.Background(), &jobs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 0 {
		t.Errorf("%d Jobs in %s, want none: a dry run made one", len(jobs.Items), ns)
	}
}
