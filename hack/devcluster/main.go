// Command devcluster runs a local Kubernetes control plane for `make dev`: etcd and
// kube-apiserver built from source by hack/build-controlplane.sh, started through envtest. It
// writes an admin kubeconfig and runs until interrupted, then stops the control plane and
// removes its data and the kubeconfig.
//
// With --jobs it also runs what makes Jobs run to the end without a kubelet or a container
// runtime: kube-controller-manager (the Job, garbage-collector, TTL-after-finished and
// node-lifecycle controllers), kube-scheduler, and kwok, which fakes a Node (created here,
// named by --node-name) and plays the Stages in stages.yaml against the pods bound to it:
// they go Running, then Succeeded when a Job owns them, or Failed (exit code 1) when they
// carry the label battleops.io/dev-outcome=fail. Each of these writes its log to
// <log-dir>/<name>.log. The kubeconfig is written once they have all started; the node turns
// Ready moments later.
//
// With --webhook-addr it installs the admission webhook configuration of --webhook-config
// (config/webhook), pointed at https://<webhook-addr> with a self-signed certificate it makes
// and writes to --webhook-cert-dir (tls.crt, tls.key), where the manager's
// --webhook-cert-dir reads it.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// stages are the kwok Stages for the fake node and its pods; see the file for what they do.
//
//go:embed stages.yaml
var stages []byte

const (
	// FailLabel and FailValue: a pod labelled so terminates with a non-zero exit code
	// (stages.yaml, stage pod-fail) instead of completing.
	FailLabel = "battleops.io/dev-outcome"
	FailValue = "fail"
)

type options struct {
	assets     string
	kubeconfig string
	logDir     string
	jobs       bool
	nodeName   string
	// The admission webhook: where the manager serves it, its configuration, its certificate.
	webhookAddr, webhookConfig, webhookCertDir string
}

func main() {
	var o options
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "The folder holding etcd, kube-apiserver and kubectl (and, for --jobs, kube-controller-manager, kube-scheduler and kwok).")
	flag.StringVar(&o.kubeconfig, "write-kubeconfig", "bin/dev/kubeconfig", "Where to write the admin kubeconfig.")
	flag.BoolVar(&o.jobs, "jobs", false, "Also run kube-controller-manager, kube-scheduler and kwok with a fake node, so that Jobs run to Complete (or Failed, for pods labelled "+FailLabel+"="+FailValue+").")
	flag.StringVar(&o.logDir, "log-dir", "", "Where the --jobs components write their logs (default: the kubeconfig's folder).")
	flag.StringVar(&o.nodeName, "node-name", "fake-node", "The name of the fake node (--jobs).")
	flag.StringVar(&o.webhookAddr, "webhook-addr", "", "Install the admission webhook configuration, calling https://ADDR (host:port), where the manager serves it. Empty: no webhook.")
	flag.StringVar(&o.webhookConfig, "webhook-config", "config/webhook", "The folder of the webhook configuration (--webhook-addr).")
	flag.StringVar(&o.webhookCertDir, "webhook-cert-dir", "bin/dev/webhook-certs", "Where the webhook's self-signed certificate is written (--webhook-addr): tls.crt and tls.key.")
	flag.Parse()
	if o.logDir == "" {
		o.logDir = filepath.Dir(o.kubeconfig)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: %v\n", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("devcluster: "+format+"\n", args...)
}

func run(o options) error {
	if o.assets == "" {
		return fmt.Errorf("--assets (or KUBEBUILDER_ASSETS) must name the folder hack/build-controlplane.sh prints")
	}
	if o.jobs {
		// Fail before starting anything when a binary is missing.
		for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
			if _, err := os.Stat(filepath.Join(o.assets, name)); err != nil {
				return fmt.Errorf("--jobs needs %s in %s (hack/build-controlplane.sh %s): %w", name, o.assets, name, err)
			}
		}
	}
	// Signals are caught from the start, so that an early Ctrl-C still cleans up.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)

	env := &envtest.Environment{BinaryAssetsDirectory: o.assets}
	if o.webhookAddr != "" {
		host, port, err := net.SplitHostPort(o.webhookAddr)
		if err != nil {
			return fmt.Errorf("--webhook-addr: %w", err)
		}
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{o.webhookConfig}, LocalServingHost: host}
		if env.WebhookInstallOptions.LocalServingPort, err = strconv.Atoi(port); err != nil {
			return fmt.Errorf("--webhook-addr: the port %q is not a number", port)
		}
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "devcluster: stopping the control plane: %v\n", err)
		}
	}()
	say("%s kube-apiserver started at %s", stamp(), env.Config.Host)
	if o.webhookAddr != "" {
		if err := copyCerts(env.WebhookInstallOptions.LocalServingCertDir, o.webhookCertDir); err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(o.webhookCertDir) }()
		say("admission webhook configured: https://%s, certificate in %s", o.webhookAddr, o.webhookCertDir)
	}

	admin, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	config, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}

	// The components get a private copy of the kubeconfig, with the kwok stages, in a folder
	// removed at exit, once they have stopped.
	private, err := os.MkdirTemp("", "devcluster-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(private) }()
	var children []*child
	defer func() { stopAll(children) }() // in reverse order of start, before the control plane
	exited := make(chan *child, 3)
	if o.jobs {
		componentConfig := filepath.Join(private, "kubeconfig")
		stagesFile := filepath.Join(private, "kwok-stages.yaml")
		if err := os.WriteFile(componentConfig, config, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(stagesFile, stages, 0o600); err != nil {
			return err
		}
		if err := os.MkdirAll(o.logDir, 0o755); err != nil {
			return err
		}
		if err := createNode(env, o.nodeName); err != nil {
			return err
		}
		say("%s node %s created", stamp(), o.nodeName)
		kubeconfigs := []string{"--kubeconfig=" + componentConfig,
			"--authentication-kubeconfig=" + componentConfig, "--authorization-kubeconfig=" + componentConfig}
		for _, c := range []struct {
			name string
			args []string
		}{
			{"kwok", []string{"--kubeconfig=" + componentConfig, "--manage-all-nodes=true", "--enable-crds=",
				"--config=" + stagesFile,
				// kwok renews the node's Lease, so that the node-lifecycle controller keeps it
				// Ready for as long as the cluster runs.
				"--node-lease-duration-seconds=40"}},
			{"kube-scheduler", append([]string{"--leader-elect=false", "--secure-port=0"}, kubeconfigs...)},
			{"kube-controller-manager", append([]string{"--leader-elect=false", "--secure-port=0",
				"--use-service-account-credentials=false",
				// Controller names carry the -controller suffix since Kubernetes 1.33.
				// node-lifecycle-controller takes the not-ready taint off the fake node once
				// kwok has made it Ready; without it nothing is scheduled.
				// clusterrole-aggregation-controller fills view, edit and admin from the
				// ClusterRoles labelled aggregate-to-* (config/rbac's user roles).
				"--controllers=job-controller,garbage-collector-controller,ttl-after-finished-controller,node-lifecycle-controller,clusterrole-aggregation-controller"},
				kubeconfigs...)},
		} {
			ch, err := startChild(c.name, filepath.Join(o.assets, c.name), c.args, o.logDir, exited)
			if err != nil {
				return err
			}
			children = append(children, ch)
			say("%s %s started (pid %d, log %s)", stamp(), c.name, ch.cmd.Process.Pid, ch.logPath)
		}
	}

	if err := os.MkdirAll(filepath.Dir(o.kubeconfig), 0o755); err != nil {
		return err
	}
	defer func() { _ = os.Remove(o.kubeconfig) }()
	// Written whole under another name first, so a reader never sees half a file; the last
	// line printed says where, and is printed before the file appears.
	if err := os.WriteFile(o.kubeconfig+".tmp", config, 0o600); err != nil {
		return err
	}
	say("kube-apiserver at %s, kubeconfig %s", env.Config.Host, o.kubeconfig)
	if err := os.Rename(o.kubeconfig+".tmp", o.kubeconfig); err != nil {
		return err
	}

	select {
	case <-stop:
		say("stopping")
		return nil
	case c := <-exited:
		// Ctrl-C in a terminal reaches the children too, and one may be quicker to exit
		// than our own signal handler is to run.
		select {
		case <-stop:
			say("stopping")
			return nil
		case <-time.After(time.Second):
		}
		return fmt.Errorf("%s exited (%v), see %s; stopping", c.name, c.err, c.logPath)
	}
}

// stamp is the time, for the log: how long things take to start up shows in it.
// copyCerts copies the webhook's serving certificate and key from envtest's folder (removed
// when the control plane stops) to dir.
func copyCerts(from, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"tls.crt", "tls.key"} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			return fmt.Errorf("reading the webhook certificate: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func stamp() string { return time.Now().Format(time.RFC3339Nano) }

// createNode creates the Node kwok fakes (kwok manages every node here). It has no taint:
// every pod may land on it.
func createNode(env *envtest.Environment, name string) error {
	client, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		Labels: map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
			"kubernetes.io/arch": "amd64", "kubernetes.io/role": "agent", "node-role.kubernetes.io/agent": ""},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the node %s: %w", name, err)
	}
	return nil
}

// child is a component process with its log file.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when it has exited; err is then set
	err     error
}

func startChild(name, path string, args []string, logDir string, exited chan<- *child) (*child, error) {
	logPath := filepath.Join(logDir, name+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Should devcluster die without stopping it (SIGKILL), the child gets SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		_ = log.Close()
		close(c.done)
		select {
		case exited <- c:
		default:
		}
	}()
	return c, nil
}

// stopAll stops the children in reverse order: SIGTERM, then SIGKILL after 10 seconds.
func stopAll(children []*child) {
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			fmt.Fprintf(os.Stderr, "devcluster: stopping %s: %v\n", c.name, err)
		}
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			fmt.Fprintf(os.Stderr, "devcluster: %s still running 10s after SIGTERM, killing it\n", c.name)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}
