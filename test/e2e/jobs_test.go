//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/battleops/battle-operator/internal/testutil"
)

// The label (and annotation) hack/devcluster/stages.yaml gives meaning to: a pod labelled so
// fails, with the annotation's exit code (1 without it).
const (
	failLabel          = "battleops.io/dev-outcome"
	failValue          = "fail"
	exitCodeAnnotation = "battleops.io/dev-exit-code"
)

// testJobCompletes creates a plain Job with kubectl and the printed kubeconfig, and waits
// until it is Complete: the Job controller, the scheduler and kwok's fake node all work.
func (d *devRun) testJobCompletes(t *testing.T) {
	created := time.Now()
	d.kubectlApply(t, job("e2e-completes", "", ""))
	cond, done := d.waitJob(t, "e2e-completes")
	if cond != "Complete" {
		t.Fatalf("Job e2e-completes is %s, want Complete:\n%s", cond, d.describe(t, "e2e-completes"))
	}
	t.Logf("Job Complete %v after it was created, %v after kube-controller-manager started",
		done.Sub(created).Round(time.Millisecond), done.Sub(d.started(t, "kube-controller-manager")).Round(time.Millisecond))
	if phase, code := d.podOutcome(t, "e2e-completes"); phase != "Succeeded" || code != 0 {
		t.Errorf("its pod is %s with exit code %d, want Succeeded with 0", phase, code)
	}
}

// testLabelledPodFailsItsJob creates a Job whose pod template carries the fail label (and an
// exit code) and no retry, and waits until the Job is Failed. The label is the one dev.sh
// prints.
func (d *devRun) testLabelledPodFailsItsJob(t *testing.T) {
	if !strings.Contains(d.printed, failLabel+"="+failValue) {
		t.Errorf("dev.sh does not print how to make a pod fail (%s=%s):\n%s", failLabel, failValue, d.printed)
	}
	created := time.Now()
	d.kubectlApply(t, job("e2e-fails", failValue, "3"))
	cond, done := d.waitJob(t, "e2e-fails")
	if cond != "Failed" {
		t.Fatalf("Job e2e-fails is %s, want Failed:\n%s", cond, d.describe(t, "e2e-fails"))
	}
	t.Logf("Job Failed %v after it was created", done.Sub(created).Round(time.Millisecond))
	if phase, code := d.podOutcome(t, "e2e-fails"); phase != "Failed" || code != 3 {
		t.Errorf("its pod is %s with exit code %d, want Failed with 3 (the annotation's)", phase, code)
	}
}

// job is a batch/v1 Job of one pod that is never retried; outcome and exitCode, when not
// empty, are the values of the fail label and the exit-code annotation on its pod template.
func job(name, outcome, exitCode string) string {
	meta := ""
	if outcome != "" {
		meta += fmt.Sprintf("\n      labels:\n        %s: %q", failLabel, outcome)
	}
	if exitCode != "" {
		meta += fmt.Sprintf("\n      annotations:\n        %s: %q", exitCodeAnnotation, exitCode)
	}
	if meta != "" {
		meta = "\n    metadata:" + meta
	}
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
  namespace: default
spec:
  backoffLimit: 0
  template:%s
    spec:
      restartPolicy: Never
      containers:
      - name: battle
        image: registry.invalid/battle-simulator:e2e
        command: ["simulate", "--rooms=2"]
`, name, meta)
}

// kubectl runs the control plane's kubectl with the printed kubeconfig.
func (d *devRun) kubectl(t *testing.T, stdin string, args ...string) []byte {
	t.Helper()
	out, err := d.kubectlErr(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(out)
}

func (d *devRun) kubectlApply(t *testing.T, manifest string) {
	t.Helper()
	d.kubectl(t, manifest, "apply", "-f", "-")
}

// waitJob polls the Job until it has condition Complete or Failed, for up to two minutes,
// and returns which and when it was seen.
func (d *devRun) waitJob(t *testing.T, name string) (string, time.Time) {
	t.Helper()
	var result string
	var at time.Time
	if testutil.Within(2*time.Minute, 200*time.Millisecond, func(context.Context) bool {
		var job struct {
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		}
		if err := json.Unmarshal(d.kubectl(t, "", "get", "job", name, "-n", "default", "-o", "json"), &job); err != nil {
			t.Fatal(err)
		}
		for _, c := range job.Status.Conditions {
			if (c.Type == "Complete" || c.Type == "Failed") && c.Status == "True" {
				result, at = c.Type, time.Now()
				return true
			}
		}
		return false
	}) {
		return result, at
	}
	t.Fatalf("Job %s neither Complete nor Failed after 2 minutes:\n%s", name, d.describe(t, name))
	return "", time.Time{}
}

// podOutcome returns the phase of the Job's pod and the exit code of its container.
func (d *devRun) podOutcome(t *testing.T, jobName string) (string, int) {
	t.Helper()
	var pods struct {
		Items []struct {
			Status struct {
				Phase             string `json:"phase"`
				ContainerStatuses []struct {
					State struct {
						Terminated *struct {
							ExitCode int `json:"exitCode"`
						} `json:"terminated"`
					} `json:"state"`
				} `json:"containerStatuses"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(d.kubectl(t, "", "get", "pods", "-n", "default", "-l", "job-name="+jobName, "-o", "json"), &pods); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || len(pods.Items[0].Status.ContainerStatuses) != 1 ||
		pods.Items[0].Status.ContainerStatuses[0].State.Terminated == nil {
		t.Fatalf("want one pod with one terminated container for Job %s:\n%s", jobName, d.describe(t, jobName))
	}
	s := pods.Items[0].Status
	return s.Phase, s.ContainerStatuses[0].State.Terminated.ExitCode
}

// describe is the Job, its pods and the nodes, for a failure message.
func (d *devRun) describe(t *testing.T, jobName string) string {
	t.Helper()
	return d.kubectlText("get", "-n", "default", "jobs,pods,nodes", "-o", "wide") + "\n" +
		d.kubectlText("get", "-n", "default", "job", jobName, "-o", "yaml")
}

// started is when devcluster started the named component, from the time it logs.
func (d *devRun) started(t *testing.T, component string) time.Time {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(d.dir, "controlplane.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(log), "\n") {
		// devcluster: <RFC 3339 time> <component> started (pid …)
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "devcluster:" && f[2] == component && f[3] == "started" {
			at, err := time.Parse(time.RFC3339Nano, f[1])
			if err != nil {
				t.Fatal(err)
			}
			return at
		}
	}
	t.Fatalf("no %q started in controlplane.log:\n%s", component, log)
	return time.Time{}
}
