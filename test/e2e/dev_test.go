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
	"syscall"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// TestDevPrintsCommandsThatWork runs hack/dev.sh (what `make dev` runs), follows the
// instructions it prints, and stops it as a person would, with Ctrl-C.
func TestDevPrintsCommandsThatWork(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	callback, probe, metrics := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command("bash", "hack/dev.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEV_DIR="+dir, "DEV_CALLBACK_ADDR="+callback, "DEV_PROBE_ADDR="+probe,
		"DEV_METRICS_ADDR="+metrics, "DEV_APP_ID=1400000042")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
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
	out := strings.Join(printed, "\n")

	// The printed commands, run as printed (kubectl from the built control plane first on PATH).
	assets, err := exec.Command(filepath.Join(root, "hack", "build-controlplane.sh")).Output()
	if err != nil {
		t.Fatal(err)
	}
	shell := func(script string) string {
		t.Helper()
		c := exec.Command("bash", "-c", script)
		c.Dir = root
		c.Env = append(os.Environ(), "PATH="+strings.TrimSpace(string(assets))+":"+os.Getenv("PATH"))
		got, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s\n%v\n%s", script, err, got)
		}
		return string(got)
	}
	curl := between(t, out, "Send Tencent's official example", "Then look at what it stored")
	if !strings.Contains(curl, "curl ") || !strings.Contains(curl, callback) {
		t.Fatalf("no curl to %s printed:\n%s", callback, out)
	}
	if got := shell(curl); strings.TrimSpace(got) != `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}` {
		t.Fatalf("the printed curl answered %q", got)
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
		resp, err := http.Post("http://"+callback+"/callback?SdkAppid=1400000042&CallbackCommand=Live.CallbackAfterEndBattle", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: HTTP %d", filepath.Base(f), resp.StatusCode)
		}
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
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

	// Ctrl-C stops the manager and the control plane.
	stopped = true
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("dev.sh still running 60s after Ctrl-C:\n%s", stderr.String())
	}
	if _, err := os.Stat(kubeconfig); !os.IsNotExist(err) {
		t.Errorf("the kubeconfig is still there after Ctrl-C: the control plane did not stop cleanly (%v)", err)
	}
	if c, err := net.DialTimeout("tcp", callback, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("the receiver still listens on %s after Ctrl-C", callback)
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
