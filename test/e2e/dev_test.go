//go:build e2e

// Package e2e tests battle-operator end to end, as a user runs it: `make dev`'s script, the
// commands it prints, and kubectl.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/battleops/battle-operator/internal/testutil"
	"k8s.io/client-go/rest"
)

// TestDevPrintsCommandsThatWork runs hack/dev.sh (what `make dev` runs) once, runs `make
// demo` against it first, as a person would (reactions_test.go), follows the instructions it
// prints, runs Jobs on its cluster (jobs_test.go), has BattleReactions run Jobs for the
// battles (reactions_test.go), and stops it as a person would, with Ctrl-C. Starting the
// cluster once for all of them saves a minute. The install checks (install_test.go) run
// alongside the battles: they send none and start no Job, and apply nothing the manager
// reconciles. The metrics check waits for them: it counts how the receiver classified
// repeated deliveries, and under the load of the install's dry runs a comparison with the
// stored battle could miss the callback's budget (a duplicate then counts as unverified).
func TestDevPrintsCommandsThatWork(t *testing.T) {
	t.Parallel() // with TestFullEtcdIsA503NamingIt, which is over while make dev starts
	d := startDev(t)
	installed := make(chan struct{})
	t.Run("OnTheCluster", func(t *testing.T) {
		t.Run("Battles", func(t *testing.T) {
			t.Parallel()
			t.Run("Demo", d.testDemo) // first: the demo's reactions react to battles new to the cluster
			t.Run("PrintedCommands", d.testPrintedCommands)
			t.Run("JobCompletes", d.testJobCompletes)
			t.Run("LabelledPodFailsItsJob", d.testLabelledPodFailsItsJob)
			t.Run("ReactionsRunJobs", d.testReactionsRunJobs)
			t.Run("MonitoringNamesExist", d.testMonitoringNamesExist)
			<-installed
			t.Run("MetricsCountWhatHappened", d.testMetricsCountWhatHappened) // last: its battles would change the counts above
		})
		t.Run("Install", func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() { close(installed) }) // after its parallel subtests, failed or not
			d.testInstall(t)
		})
	})
	d.interrupt(t)
}

// devRun is hack/dev.sh running, as started by startDev.
type devRun struct {
	root, dir                          string
	callback, probe, metrics, upstream string
	webhook                            string
	kubeconfig                         string // what the printed commands use
	printed                            string // its standard output up to "Ready."
	assets                             string // the control plane's folder: kubectl is there
	cmd                                *exec.Cmd
	stderr                             *bytes.Buffer
	exited                             chan error
	stopped                            bool

	clientsOnce   sync.Once // reads kubeconfig into restConfig once
	restConfig    *rest.Config
	restConfigErr error
}

// startDev runs hack/dev.sh on free ports with a temporary DEV_DIR and returns once it has
// printed "Ready.". The test's cleanup kills it if interrupt has not stopped it.
func startDev(t *testing.T) *devRun {
	t.Helper()
	root := testutil.Root()
	addrs := testutil.FreeAddrs(t, 5)
	d := &devRun{root: root, dir: t.TempDir(), callback: addrs[0], probe: addrs[1], metrics: addrs[2], upstream: addrs[3],
		webhook: addrs[4], stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	d.kubeconfig = filepath.Join(d.dir, "kubeconfig")
	cmd := exec.Command("bash", "hack/dev.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEV_DIR="+d.dir, "DEV_CALLBACK_ADDR="+d.callback, "DEV_PROBE_ADDR="+d.probe,
		"DEV_METRICS_ADDR="+d.metrics, "DEV_UPSTREAM_ADDR="+d.upstream, "DEV_WEBHOOK_ADDR="+d.webhook, "DEV_APP_ID=1400000042")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	d.cmd = cmd
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, exited := d.stderr, d.exited
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !d.stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	// Read what it prints until it says it is ready.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var printed []string
	deadline := time.After(10 * time.Minute) // the first run builds the control plane
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("dev.sh ended before it was ready:\n%s\n%s", strings.Join(printed, "\n"), stderr.String())
			}
			printed = append(printed, line)
			if strings.HasPrefix(line, "Ready.") {
				break wait
			}
		case <-deadline:
			t.Fatalf("dev.sh not ready after 10 minutes:\n%s\n%s", strings.Join(printed, "\n"), stderr.String())
		}
	}
	go func() {
		for range lines { // keep draining so the script never blocks on its output
		}
	}()
	d.printed = strings.Join(printed, "\n")

	assets, err := exec.Command(filepath.Join(root, "hack", "build-controlplane.sh")).Output()
	if err != nil {
		t.Fatal(err)
	}
	d.assets = strings.TrimSpace(string(assets))
	return d
}

// shell runs script with bash in the repository, kubectl from the built control plane first
// on PATH, and returns its output.
func (d *devRun) shell(t *testing.T, script string) string {
	t.Helper()
	c := exec.Command("bash", "-c", script)
	c.Dir = d.root
	c.Env = append(os.Environ(), "PATH="+d.assets+":"+os.Getenv("PATH"))
	got, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s\n%v\n%s", script, err, got)
	}
	return string(got)
}

// testPrintedCommands runs the printed commands as printed.
func (d *devRun) testPrintedCommands(t *testing.T) {
	out, callback, metrics, shell := d.printed, d.callback, d.metrics, func(script string) string {
		t.Helper()
		return d.shell(t, script)
	}
	root, kubeconfig := d.root, d.kubeconfig
	curl := between(t, out, "Send Tencent's official example", "Send a gift check")
	if !strings.Contains(curl, "curl ") || !strings.Contains(curl, callback) {
		t.Fatalf("no curl to %s printed:\n%s", callback, out)
	}
	if got := shell(curl); strings.TrimSpace(got) != `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}` {
		t.Fatalf("the printed curl answered %q", got)
	}
	// The gift check goes to the upstream, which refuses gift 13; its answer comes back as it is.
	gift := between(t, out, "relays its answer:", "Apply a reaction with a misspelt field")
	if got := strings.TrimSpace(shell(gift)); got != `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"upstream: gift 13 is not allowed in this room"}` {
		t.Fatalf("the printed gift check answered %q, want the upstream's FAIL", got)
	}
	upstreamLog, err := os.ReadFile(filepath.Join(d.dir, "upstream.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The callbacks it got, not the HTTP reaction's requests (the demo's notify-backend).
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(upstreamLog)), "\n") {
		if !strings.Contains(line, `"reaction":true`) {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("the upstream got no callback:\n%s", upstreamLog)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `CallbackCommand=Live.CallbackBeforeSendGift`) || !strings.Contains(last, `"GiftId":13`) ||
		!strings.Contains(last, `"forwardedFor":"127.0.0.1"`) || !strings.Contains(last, `"answer":"FAIL"`) {
		t.Errorf("the upstream's last callback: %q, want the gift check of gift 13, forwarded for 127.0.0.1, refused", last)
	}
	if strings.Contains(strings.Join(lines, "\n"), "CallbackAfterEndBattle") {
		t.Errorf("a battle end reached the upstream: they are stored, not forwarded\n%s", upstreamLog)
	}
	// The reaction with a misspelt field is refused by the admission webhook, which names it.
	typo := between(t, out, "naming the field:", "Then look at what it stored")
	c := exec.Command("bash", "-c", typo)
	c.Dir, c.Env = root, append(os.Environ(), "PATH="+d.assets+":"+os.Getenv("PATH"))
	refusal, err := c.CombinedOutput()
	if err == nil {
		t.Errorf("the printed reaction with a misspelt field was applied:\n%s", refusal)
	}
	for _, want := range []string{`The BattleReaction "typo" is invalid`, "spec.match.expression", "undefined field 'roomz'"} {
		if !strings.Contains(string(refusal), want) {
			t.Errorf("the printed reaction's refusal does not say %q:\n%s", want, refusal)
		}
	}
	get := between(t, out, "Then look at what it stored", "Ready.")
	getLines := strings.Split(strings.TrimSpace(get), "\n")
	table := shell(getLines[0])
	for _, want := range []string{"BATTLE ID", "OUTCOME", "WINNERS", "ROOMS", "ENDED", "4siHsNsWN/T3aub9zKraqPfGQAimPhdFoe6VWhtz9lY=", "TimeUp", "Draw"} {
		if !strings.Contains(table, want) {
			t.Errorf("`%s` printed no %q:\n%s", getLines[0], want, table)
		}
	}

	// Every fixture through the receiver; the kubeconfig the script printed sees them all.
	fixtures, err := filepath.Glob(filepath.Join(root, "test", "fixtures", "end-battle-*.json"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range fixtures {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(testutil.CallbackURL("http://"+callback, "1400000042"), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: HTTP %d", filepath.Base(f), resp.StatusCode)
		}
	}
	var list struct {
		Items []struct {
			Spec struct {
				Outcome string `json:"outcome"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(shell(fmt.Sprintf("kubectl --kubeconfig %s get battleresults -o json", kubeconfig))), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != len(fixtures) {
		t.Errorf("%d BattleResults, want one per fixture (%d)", len(list.Items), len(fixtures))
	}
	if resp, err := http.Get("http://" + metrics + "/metrics"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the printed metrics address does not serve: %v", err)
	} else {
		_ = resp.Body.Close()
	}
}

// interrupt stops dev.sh as a person would, with Ctrl-C, and checks that it stops the manager
// and the control plane.
func (d *devRun) interrupt(t *testing.T) {
	t.Helper()
	d.stopped = true
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("dev.sh still running 60s after Ctrl-C:\n%s", d.stderr.String())
	}
	t.Logf("dev.sh stopped %v after Ctrl-C", time.Since(start).Round(time.Millisecond))
	if _, err := os.Stat(d.kubeconfig); !os.IsNotExist(err) {
		t.Errorf("the kubeconfig is still there after Ctrl-C: the control plane did not stop cleanly (%v)", err)
	}
	if c, err := net.DialTimeout("tcp", d.callback, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("the receiver still listens on %s after Ctrl-C", d.callback)
	}
}

// between returns the text after the line containing from and before the line containing to.
func between(t *testing.T, text, from, to string) string {
	t.Helper()
	i := strings.Index(text, from)
	if i < 0 {
		t.Fatalf("%q not printed:\n%s", from, text)
	}
	rest := text[i:]
	rest = rest[strings.Index(rest, "\n")+1:]
	j := strings.Index(rest, to)
	if j < 0 {
		t.Fatalf("%q not printed:\n%s", to, text)
	}
	return rest[:j]
}
