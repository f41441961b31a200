package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/battleops/battle-operator/controllers"
	"github.com/battleops/battle-operator/internal/retention"
	"github.com/battleops/battle-operator/internal/testutil"
)

// fakeAuthAPIServer answers TokenReviews (the token "reader-token" is the user "prometheus",
// "other-token" the user "someone", any other token is not authenticated) and
// SubjectAccessReviews (only "prometheus" may get /metrics), as the API server does with the
// metrics-reader ClusterRole bound to Prometheus's ServiceAccount.
func fakeAuthAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	users := map[string]string{"reader-token": "prometheus", "other-token": "someone"}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/apis/authentication.k8s.io/v1/tokenreviews":
			var review authenticationv1.TokenReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			user, ok := users[review.Spec.Token]
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: ok, User: authenticationv1.UserInfo{Username: user}}
			_ = json.NewEncoder(w).Encode(review)
		case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
			var review authorizationv1.SubjectAccessReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			nr := review.Spec.NonResourceAttributes
			review.Status.Allowed = review.Spec.User == "prometheus" && nr != nil && nr.Path == "/metrics" && nr.Verb == "get"
			_ = json.NewEncoder(w).Encode(review)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}

// startMetrics runs controller-runtime's metrics server with opts until the test ends and
// returns its address.
func startMetrics(t *testing.T, opts metricsserver.Options, cfg *rest.Config) string {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(opts, cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("metrics server: %v", err)
		}
	})
	var addr string
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		addr = srv.(interface{ GetBindAddr() string }).GetBindAddr()
		return addr != "", nil
	}); err != nil {
		t.Fatal("the metrics server did not listen")
	}
	return addr
}

type scraped struct {
	status int
	proto  string
	body   string
}

// scrape gets url with the bearer token (none when empty) through a client that offers HTTP/2
// and trusts any certificate (the metrics server's own is self-signed).
func scrape(t *testing.T, url, token string) scraped {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a self-signed test certificate
		ForceAttemptHTTP2: true,
	}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return scraped{status: resp.StatusCode, proto: resp.Proto, body: string(body)}
}

// The metrics endpoint as the manager configures it by default (--metrics-secure): HTTPS,
// HTTP/1.1 only, and only for a token the API server authenticates and authorizes to get
// /metrics.
func TestSecureMetricsNeedAnAuthorizedToken(t *testing.T) {
	addr := startMetrics(t, metricsOptions("127.0.0.1:0", true, false, ""), fakeAuthAPIServer(t))
	url := "https://" + addr + "/metrics"

	got := scrape(t, url, "reader-token")
	if got.status != http.StatusOK || !strings.Contains(got.body, "battleops_battleresults_created_total") {
		t.Fatalf("an authorized token: %d, want 200 and battle-operator's metrics:\n%.300s", got.status, got.body)
	}
	if got.proto != "HTTP/1.1" {
		t.Errorf("a client offering h2 got %s, want HTTP/1.1 (--enable-http2 is off)", got.proto)
	}
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		// controller-runtime's filter answers 500 "Authentication failed" here, not 401.
		{"a token the API server does not authenticate", "made-up-token", http.StatusInternalServerError},
		{"a token of a user not allowed to get /metrics", "other-token", http.StatusForbidden},
	} {
		if got := scrape(t, url, tc.token); got.status != tc.status || strings.Contains(got.body, "battleops_") {
			t.Errorf("%s: %d, want %d and no metrics:\n%.300s", tc.name, got.status, tc.status, got.body)
		}
	}
	if got := scrape(t, "http://"+addr+"/metrics", "reader-token"); got.status != http.StatusBadRequest || strings.Contains(got.body, "battleops_") {
		t.Errorf("plain HTTP: %d, want 400 and no metrics:\n%.300s", got.status, got.body)
	}
}

func TestMetricsOfferHTTP2OnlyWhenEnabled(t *testing.T) {
	addr := startMetrics(t, metricsOptions("127.0.0.1:0", true, true, ""), fakeAuthAPIServer(t))
	if got := scrape(t, "https://"+addr+"/metrics", "reader-token"); got.status != http.StatusOK || got.proto != "HTTP/2.0" {
		t.Errorf("--enable-http2: %d %s, want 200 over HTTP/2.0", got.status, got.proto)
	}
}

// --metrics-secure=false, as `make dev` runs it: plain HTTP, for anyone who reaches it.
func TestInsecureMetricsArePlainHTTP(t *testing.T) {
	addr := startMetrics(t, metricsOptions("127.0.0.1:0", false, false, ""), &rest.Config{Host: "https://127.0.0.1:1"})
	got := scrape(t, "http://"+addr+"/metrics", "")
	for _, want := range []string{"battleops_battleresults_created_total", "battleops_reaction_jobs_created_total",
		`battleops_reaction_jobs_finished_total{result="failed"}`, `battleops_roomstats_writes_total{operation="status"}`} {
		if got.status != http.StatusOK || !strings.Contains(got.body, want) {
			t.Errorf("plain HTTP: %d, want 200 and %s:\n%.300s", got.status, want, got.body)
		}
	}
}

// TestFlagsBindIntoOptions: each flag writes its option, the rest keep their defaults.
func TestFlagsBindIntoOptions(t *testing.T) {
	var o options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.bindFlags(fs)
	if err := fs.Parse([]string{"--sdk-app-id=1400000001,1400000002=other", "--sdk-app-id", "1400000003",
		"--battle-retention=2h", "--max-battle-results=500", "--prune-rate=7.5", "--leader-elect", "--callback-timeout=900ms", "--spool-dir=/var/spool/b",
		"--webhook-bind-address=:9443"}); err != nil {
		t.Fatal(err)
	}
	want := options{
		metricsAddr: "0", probeAddr: ":8081", pprofAddr: "0", secureMetrics: true, leaderElect: true,
		leaderElectionID: "battle-operator.live.battleops.io", leaseDuration: 10 * time.Second, renewDeadline: 7 * time.Second,
		retryPeriod: 2 * time.Second, callbackAddr: ":8082", callbackPath: "/callback",
		sdkAppIDs: listFlag{"1400000001", "1400000002=other", "1400000003"}, battleNamespace: "default",
		maxSkew: time.Minute, maxBodyBytes: 1 << 20, callbackTimeout: 900 * time.Millisecond, forwardTimeout: 1500 * time.Millisecond,
		spoolDir: "/var/spool/b", spoolMaxBytes: 256 << 20,
		webhookAddr: ":9443", webhookCertDir: "/tmp/k8s-webhook-server/serving-certs",
		controllers: controllers.Options{Retention: retention.Policy{MaxAge: 2 * time.Hour, MaxCount: 500}, PruneRate: 7.5},
	}
	if diff := cmp.Diff(want, o, cmp.AllowUnexported(options{})); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// --metrics-cert-dir: the metrics endpoint serves the certificate given (cert-manager's), so
// a scraper verifies it with its CA instead of skipping verification.
func TestMetricsServeTheCertificateGiven(t *testing.T) {
	dir := t.TempDir()
	pool := testutil.WriteCert(t, dir, "metrics")
	addr := startMetrics(t, metricsOptions("127.0.0.1:0", true, false, dir), fakeAuthAPIServer(t))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer reader-token")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("a client trusting only the given certificate: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// --webhook-bind-address: 0 is no webhook server; an address without a numeric port is refused.
func TestWebhookServerFromFlags(t *testing.T) {
	if hook, err := webhookServer("0", "", false); hook != nil || err != nil {
		t.Errorf("webhookServer(0) = %v, %v, want none", hook, err)
	}
	if hook, err := webhookServer(":9443", t.TempDir(), false); hook == nil || err != nil {
		t.Errorf("webhookServer(:9443) = %v, %v, want a server", hook, err)
	}
	for _, bad := range []string{"9443", ":https-ish", "localhost"} {
		if _, err := webhookServer(bad, "", false); err == nil || !strings.Contains(err.Error(), "--webhook-bind-address") {
			t.Errorf("webhookServer(%q) = %v, want an error naming the flag", bad, err)
		}
	}
}

// --watch-namespaces: the controllers' scope; a namespace the receiver stores battles in and
// the scope leaves out, or a name that is no namespace's, is refused.
func TestWatchNamespacesScopeTheControllers(t *testing.T) {
	apps := map[string]string{"1400000001": "battles", "1400000002": "other"}
	for _, c := range []struct {
		flags   []string
		want    []string
		wantErr string
	}{
		{flags: nil, want: nil},
		{flags: []string{"--watch-namespaces=battles,other"}, want: []string{"battles", "other"}},
		{flags: []string{"--watch-namespaces=battles", "--watch-namespaces", "other,extra,battles"}, want: []string{"battles", "other", "extra"}},
		{flags: []string{"--watch-namespaces=battles"}, wantErr: `SDKAppID 1400000002 stores its battles in namespace "other", which --watch-namespaces (battles) leaves out`},
		{flags: []string{"--watch-namespaces=battles,Other"}, wantErr: `--watch-namespaces: "Other" is not a namespace name`},
	} {
		var o options
		fs := flag.NewFlagSet("manager", flag.ContinueOnError)
		o.bindFlags(fs)
		if err := fs.Parse(c.flags); err != nil {
			t.Fatal(err)
		}
		err := watchScope(&o, apps)
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%v: error %v, want one saying %q", c.flags, err, c.wantErr)
		case c.wantErr == "" && err != nil:
			t.Errorf("%v: %v", c.flags, err)
		case c.wantErr == "" && !slices.Equal(o.controllers.Scope.Namespaces, c.want):
			t.Errorf("%v: scope %v, want %v", c.flags, o.controllers.Scope.Namespaces, c.want)
		}
	}
}
