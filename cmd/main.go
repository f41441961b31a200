// Command manager runs battle-operator: the Tencent Live callback receiver (on every replica)
// and the controllers (on the leader).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/controllers"
	"github.com/battleops/battle-operator/internal/receiver"
	"github.com/battleops/battle-operator/internal/spool"
	webhookv1alpha1 "github.com/battleops/battle-operator/internal/webhook/v1alpha1"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

// leadLost counts the times this process lost the lead and went on without it.
var leadLost = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "battleops_leader_lost_total",
	Help: "Times the controllers lost the lead (the API server unreachable past the renew deadline) and the process went on, its receiver answering, to campaign again.",
})

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(livev1alpha1.AddToScheme(scheme))
	metrics.Registry.MustRegister(leadLost)
}

// repeatedFlag collects the values of a flag given several times, each as it is.
type repeatedFlag []string

func (r *repeatedFlag) String() string { return strings.Join(*r, " ") }
func (r *repeatedFlag) Set(v string) error {
	*r = append(*r, v)
	return nil
}

// listFlag collects comma-separated values; the flag may also be repeated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, strings.Split(v, ",")...)
	return nil
}

// options are the manager's settings; bindFlags binds each to its flag.
type options struct {
	metricsAddr, probeAddr, pprofAddr  string
	metricsCertDir                     string
	secureMetrics, enableHTTP2         bool
	leaderElect                        bool
	leaderElectionID, leaderElectionNS string
	leaseDuration, renewDeadline       time.Duration
	retryPeriod                        time.Duration
	callbackAddr, callbackPath         string
	callbackCertDir                    string
	sdkAppIDs                          listFlag
	watchNamespaces                    listFlag
	battleNamespace                    string
	tokenFiles                         repeatedFlag
	maxSkew, callbackTimeout           time.Duration
	maxBodyBytes                       int64
	forwardURL, forwardCAFile          string
	forwardTimeout                     time.Duration
	spoolDir                           string
	spoolMaxBytes                      int64
	webhookAddr, webhookCertDir        string
	controllers                        controllers.Options
}

// bindFlags defines the manager's flags on fs, each writing its option, with its default.
func (o *options) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to, e.g. :8443. 0 turns it off.")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, to clients with a token allowed to get /metrics (TokenReview, SubjectAccessReview). false serves plain HTTP to anyone.")
	fs.StringVar(&o.metricsCertDir, "metrics-cert-dir", "", "A directory holding tls.crt and tls.key for the HTTPS metrics endpoint (e.g. from cert-manager, so a scraper can verify it). Empty: a self-signed certificate made at start.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false, "Offer HTTP/2 on the HTTPS metrics endpoint and callback receiver. Off: HTTP/1.1 only.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "The address the health and readiness probes bind to.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "The address Go's pprof profiles are served on (/debug/pprof/), e.g. localhost:6060, plain HTTP without authentication. 0 turns it off.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader among replicas; only the leader runs the controllers. Every replica receives callbacks.")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "battle-operator.live.battleops.io", "The name of the leader election Lease.")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 10*time.Second, "How long a standby waits for a leader that stopped renewing its lease (a killed leader) before it takes over.")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", 7*time.Second, "How long the leader keeps trying to renew its lease before it gives up leading: its controllers stop, the receiver goes on, and it campaigns again.")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", 2*time.Second, "How often the leader renews its lease and standbys try to take it.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "The namespace of the leader election Lease (default: the manager's own).")
	fs.StringVar(&o.callbackAddr, "callback-bind-address", ":8082", "The address the Tencent callback receiver listens on.")
	fs.StringVar(&o.callbackPath, "callback-path", "/callback", "The URL path Tencent is configured to POST callbacks to.")
	fs.StringVar(&o.callbackCertDir, "callback-cert-dir", "", "A directory holding tls.crt and tls.key. When set, the receiver serves HTTPS only, and picks up a renewed certificate.")
	fs.Var(&o.sdkAppIDs, "sdk-app-id", "Accepted SDKAppIDs, comma-separated, each ID or ID=NAMESPACE (required).")
	fs.StringVar(&o.battleNamespace, "battle-namespace", "default", "The namespace for the BattleResults of SDKAppIDs given without one.")
	fs.Var(&o.watchNamespaces, "watch-namespaces", "The namespaces whose BattleResults, RoomStats, BattleReactions and reaction Jobs the controllers reconcile, comma-separated (the flag may be repeated). Empty: every namespace. Each --sdk-app-id's namespace must be one of them.")
	fs.Var(&o.tokenFiles, "callback-token-file", "PATH (every app) or ID=PATH (one SDKAppID; repeat the flag): a file of callback tokens, one per line. When given, callbacks must carry a Sign made with one of their app's tokens, and a RequestTime. Files are read again every 5s: a rotated Secret is picked up without a restart; a file that turns unreadable or empty keeps its last good tokens.")
	fs.DurationVar(&o.maxSkew, "callback-max-skew", 60*time.Second, "How far a callback's RequestTime may be from now.")
	fs.Int64Var(&o.maxBodyBytes, "callback-max-body-bytes", 1<<20, "Larger callback bodies are refused with 413.")
	fs.DurationVar(&o.callbackTimeout, "callback-timeout", 1500*time.Millisecond, "The budget for storing a battle, retries included, before answering 503. Tencent waits 2s.")
	fs.StringVar(&o.forwardURL, "forward-url", "", "An existing callback backend (http:// or https://) that gets every callback but the battle end, once it passed the SdkAppid and Sign checks, with its exact query and body; its answer is relayed to Tencent as it is. Empty: those callbacks are answered OK and dropped.")
	fs.DurationVar(&o.forwardTimeout, "forward-timeout", receiver.DefaultForwardTimeout, "How long the upstream (--forward-url) has for its whole answer before Tencent gets a FAIL (504). Tencent waits 2s.")
	fs.StringVar(&o.forwardCAFile, "forward-ca-file", "", "A PEM bundle of the certificate authorities an https --forward-url may chain to, besides the system's (a private CA).")
	fs.StringVar(&o.spoolDir, "spool-dir", "", "A directory (a persistent volume of this replica) where a validated battle that cannot be stored within --callback-timeout is written and fsync'ed, then acknowledged; it is stored when the API server answers again. Empty: such a battle is answered 503.")
	fs.Int64Var(&o.spoolMaxBytes, "spool-max-bytes", 256<<20, "The most the spool holds; past it, battles that cannot be stored are answered 503.")
	fs.StringVar(&o.webhookAddr, "webhook-bind-address", "0", "The address the admission webhook (it refuses a BattleReaction with a bad expression, Job template or URL at kubectl apply) serves HTTPS on, e.g. :9443. 0 turns it off; the controllers still report a bad reaction as Ready=False.")
	fs.StringVar(&o.webhookCertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "A directory holding tls.crt and tls.key for the admission webhook (e.g. from cert-manager); a renewed certificate is picked up.")
	fs.DurationVar(&o.controllers.Retention.MaxAge, "battle-retention", 24*time.Hour, "Delete BattleResults that arrived longer ago than this (by creationTimestamp); their rooms' RoomStats keep what they counted. 0 keeps them forever.")
	fs.IntVar(&o.controllers.Retention.MaxCount, "max-battle-results", 100000, "Keep at most this many BattleResults per namespace; past it the earliest go first, whatever their age. 0: no cap.")
	fs.Float64Var(&o.controllers.PruneRate, "prune-rate", 50, "How many BattleResults retention deletes per second at most.")
}

func main() {
	var o options
	o.bindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(o); err != nil {
		setupLog.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

func run(o options) error {
	apps, err := receiver.ParseApps(o.sdkAppIDs, o.battleNamespace)
	if err != nil {
		return err
	}
	tokens, err := receiver.LoadTokens(o.tokenFiles, apps)
	if err != nil {
		return err
	}
	var forward *receiver.Forwarder
	if o.forwardURL != "" {
		if forward, err = receiver.NewForwarder(o.forwardURL, o.forwardTimeout, o.forwardCAFile); err != nil {
			return err
		}
	}
	var spooled *spool.Spool
	if o.spoolDir != "" {
		if spooled, err = spool.Open(o.spoolDir, o.spoolMaxBytes); err != nil {
			return err
		}
		if n := spooled.Len(); n > 0 {
			setupLog.Info("Battles in the spool, to store", "battles", n, "bytes", spooled.Bytes())
		}
	}
	if tokens == nil {
		setupLog.Info("WARNING: callback authentication is off, anyone who reaches the receiver can store battles; set --callback-token-file")
	}

	if err := watchScope(&o, apps); err != nil {
		return err
	}
	if o.controllers.Retention.MaxAge < 0 || o.controllers.Retention.MaxCount < 0 {
		return fmt.Errorf("--battle-retention and --max-battle-results must not be negative")
	}

	ctx := ctrl.SetupSignalHandler()
	cfg := ctrl.GetConfigOrDie()
	// Two managers. This one, on every replica, serves the receiver, the metrics and the
	// probes, and elects no leader: it runs until the process stops, through an API server
	// outage of any length. The controllers run in another, with leader election, started
	// again whenever it loses the lead (runControllers).
	hook, err := webhookServer(o.webhookAddr, o.webhookCertDir, o.enableHTTP2)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Client:                 controllers.ClientOptions(),
		Metrics:                metricsOptions(o.metricsAddr, o.secureMetrics, o.enableHTTP2, o.metricsCertDir),
		HealthProbeBindAddress: o.probeAddr,
		PprofBindAddress:       o.pprofAddr,
		WebhookServer:          hook,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if hook != nil {
		// In this manager, on every replica, not only the leader: the API server may call any.
		if err := (&webhookv1alpha1.ReactionValidator{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("webhook", hook.StartedChecker()); err != nil {
			return err
		}
	}

	handler, err := receiver.NewHandler(receiver.Options{
		Path:         o.callbackPath,
		Apps:         apps,
		Tokens:       tokens,
		Forward:      forward,
		MaxSkew:      o.maxSkew,
		MaxBodyBytes: o.maxBodyBytes,
		Timeout:      o.callbackTimeout,
		Spool:        spooled,
		Client:       mgr.GetClient(),
		Reader:       mgr.GetAPIReader(),
		Recorder:     mgr.GetEventRecorder("battle-receiver"),
		Log:          ctrl.Log.WithName("receiver"),
	})
	if err != nil {
		return err
	}
	server := &receiver.Server{Addr: o.callbackAddr, Handler: handler, Warmup: handler.Warm, Log: ctrl.Log.WithName("receiver"),
		CertDir: o.callbackCertDir, EnableHTTP2: o.enableHTTP2}
	if err := mgr.Add(server); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(handler.Replay)); err != nil {
		return err
	}
	if tokens != nil {
		tokens.Log = ctrl.Log.WithName("tokens")
		if err := mgr.Add(tokens); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("receiver", server.Ready); err != nil {
		return err
	}

	setupLog.Info("Starting the manager", "sdkAppIds", apps, "callbackAddress", o.callbackAddr, "callbackPath", o.callbackPath,
		"callbackTLS", o.callbackCertDir != "", "authentication", tokens != nil, "forwardTo", o.forwardURL, "spoolDir", o.spoolDir, "metricsAddress", o.metricsAddr, "metricsSecure", o.secureMetrics, "webhookAddress", o.webhookAddr,
		"watchNamespaces", o.watchNamespaces, "battleRetention", o.controllers.Retention.MaxAge.String(), "maxBattleResults", o.controllers.Retention.MaxCount)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return mgr.Start(ctx) })
	g.Go(func() error { return runControllers(ctx, cfg, o) })
	return g.Wait()
}

// watchScope sets the controllers' scope from --watch-namespaces. A namespace the receiver
// stores battles in and the controllers do not watch would keep battles nobody counts: it is
// refused.
func watchScope(o *options, apps map[string]string) error {
	var namespaces []string
	for _, ns := range o.watchNamespaces {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("--watch-namespaces: %q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		if !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	if len(namespaces) == 0 {
		return nil
	}
	for id, ns := range apps {
		if !slices.Contains(namespaces, ns) {
			return fmt.Errorf("SDKAppID %s stores its battles in namespace %q, which --watch-namespaces (%s) leaves out: nothing would count them or react to them", id, ns, strings.Join(namespaces, ","))
		}
	}
	o.controllers.Scope.Namespaces = namespaces
	return nil
}

// errLeadLost is controller-runtime's error when a manager loses its leader election.
const errLeadLost = "leader election lost"

// runControllers runs the controllers in a manager of their own, with leader election when
// --leader-elect, until ctx ends. A manager that loses the lead (the API server unreachable
// for longer than the renew deadline), or fails, stops its controllers, and a new one starts
// and campaigns again: the process and its receiver go on. Its metrics are served by the receiver's manager (they
// share controller-runtime's registry).
func runControllers(ctx context.Context, cfg *rest.Config, o options) error {
	for {
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme:                  scheme,
			Cache:                   o.controllers.CacheOptions(),
			Client:                  controllers.ClientOptions(),
			Metrics:                 metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress:  "0",
			LeaderElection:          o.leaderElect,
			LeaderElectionID:        o.leaderElectionID,
			LeaderElectionNamespace: o.leaderElectionNS,
			LeaseDuration:           &o.leaseDuration,
			RenewDeadline:           &o.renewDeadline,
			RetryPeriod:             &o.retryPeriod,
			// Stopping (the process ends) hands the lease over at once, so a rolling update
			// does not leave the controllers idle for a lease duration.
			LeaderElectionReleaseOnCancel: true,
			// A new manager after a lost lead registers the same controller names.
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		})
		if err != nil {
			return fmt.Errorf("creating the controllers' manager: %w", err)
		}
		// The controllers' own work (an HTTP reaction's requests in flight) ends with their
		// manager: what it did not record, the next leader does.
		run, stop := context.WithCancel(ctx)
		if err := controllers.Setup(run, mgr, o.controllers); err != nil {
			stop()
			return err
		}
		err = mgr.Start(run)
		stop()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && err.Error() == errLeadLost:
			leadLost.Inc()
			setupLog.Info("Lost the lead: the controllers stopped and wait to lead again; the receiver goes on")
		default:
			// E.g. a cache that did not sync against an API server coming and going: the
			// receiver goes on, and the controllers start again a little later.
			setupLog.Error(err, "The controllers stopped; starting them again in 5s; the receiver goes on")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// webhookServer is the admission webhook's HTTPS server on addr (host:port), with the
// certificate of certDir; nil when addr is "0". HTTP/2 is off unless enableHTTP2.
func webhookServer(addr, certDir string, enableHTTP2 bool) (webhook.Server, error) {
	if addr == "0" {
		return nil, nil
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--webhook-bind-address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("--webhook-bind-address %q: the port is not a number", addr)
	}
	opts := webhook.Options{Host: host, Port: port, CertDir: certDir}
	if !enableHTTP2 {
		opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return webhook.NewServer(opts), nil
}

// metricsOptions configures controller-runtime's metrics server as kubebuilder's scaffold does.
// Secure, it serves HTTPS (a self-signed certificate) and answers only requests whose bearer
// token the API server authenticates (TokenReview) and authorizes to get /metrics
// (SubjectAccessReview), with the certificate of certDir (tls.crt, tls.key) or a self-signed
// one. HTTP/2 is off unless enableHTTP2.
func metricsOptions(addr string, secure, enableHTTP2 bool, certDir string) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: addr, SecureServing: secure, CertDir: certDir}
	if secure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if !enableHTTP2 {
		opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return opts
}
