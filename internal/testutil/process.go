package testutil

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// BuildManager builds the manager (./cmd) into dir and returns the binary's path.
func BuildManager(dir string) (string, error) {
	binary := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", binary, "./cmd")
	build.Dir = Root()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the manager: %w\n%s", err, out)
	}
	return binary, nil
}

// ManagerProcess is the manager binary running as a process of a test, as a replica of the
// Deployment, listening on ports of its own.
type ManagerProcess struct {
	Cmd *exec.Cmd
	// Callback, Probe and Pprof are base URLs (http://host:port); Pprof is "" unless asked
	// for. Metrics is the URL of the metrics, served over plain HTTP.
	Callback, Metrics, Probe, Pprof string
	// Started is when the process started.
	Started time.Time
	exited  chan struct{}
}

// ManagerOptions are what StartManager passes to the manager besides its listen addresses.
type ManagerOptions struct {
	Args []string
	// Output gets the process's stdout and stderr, one write at a time; nil discards them.
	Output io.Writer
	// Pprof serves /debug/pprof/ on a port of its own.
	Pprof bool
}

// bindAttempts is how often StartManager tries again when a port it picked was taken before
// the process bound it (ports are picked free, then released for the process).
const bindAttempts = 3

// StartManager starts binary with opts and the addresses it listens on, and waits until it is
// ready (/readyz answers 200) or ctx ends. A process that exits before it is ready is an error,
// unless a port it was given was taken meanwhile: then it starts again on other ports.
func StartManager(ctx context.Context, binary string, opts ManagerOptions) (*ManagerProcess, error) {
	for attempt := 1; ; attempt++ {
		m, bindFailed, err := startManagerOnce(binary, opts)
		if err != nil {
			return nil, err
		}
		err = m.waitReady(ctx)
		if err == nil {
			return m, nil
		}
		m.Kill()
		if !bindFailed.Load() || attempt == bindAttempts || ctx.Err() != nil {
			return nil, err
		}
	}
}

func startManagerOnce(binary string, opts ManagerOptions) (*ManagerProcess, *atomic.Bool, error) {
	addrs, err := ListenAddrs(4)
	if err != nil {
		return nil, nil, err
	}
	m := &ManagerProcess{Callback: "http://" + addrs[0], Metrics: "http://" + addrs[1] + "/metrics", Probe: "http://" + addrs[2], exited: make(chan struct{})}
	args := append(append([]string{}, opts.Args...),
		"--callback-bind-address", addrs[0], "--metrics-bind-address", addrs[1], "--metrics-secure=false",
		"--health-probe-bind-address", addrs[2])
	if opts.Pprof {
		m.Pprof = "http://" + addrs[3] + "/debug/pprof/"
		args = append(args, "--pprof-bind-address", addrs[3])
	}
	bindFailed := &atomic.Bool{}
	out := &bindWatch{w: opts.Output, failed: bindFailed}
	if out.w == nil {
		out.w = io.Discard
	}
	m.Cmd = exec.Command(binary, args...)
	m.Cmd.Stdout, m.Cmd.Stderr = out, out
	m.Started = time.Now()
	if err := m.Cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting the manager: %w", err)
	}
	go func() {
		_ = m.Cmd.Wait() // returns once the output is copied whole
		close(m.exited)
	}()
	return m, bindFailed, nil
}

// bindWatch passes a process's output on and notes a listen address that was taken. One
// goroutine writes (os/exec's copy of the output).
type bindWatch struct {
	w      io.Writer
	failed *atomic.Bool
	tail   []byte // the end of the last write: the words may be split between two
}

var addressInUse = []byte("address already in use")

func (b *bindWatch) Write(p []byte) (int, error) {
	// The words in p, or across the end of the last write and the start of p.
	keep := len(addressInUse) - 1
	across := append(b.tail, p[:min(len(p), keep)]...)
	if bytes.Contains(p, addressInUse) || bytes.Contains(across, addressInUse) {
		b.failed.Store(true)
	}
	if len(p) >= keep {
		b.tail = append(b.tail[:0], p[len(p)-keep:]...)
	} else {
		b.tail = append(b.tail[:0], across[max(0, len(across)-keep):]...)
	}
	return b.w.Write(p)
}

func (m *ManagerProcess) waitReady(ctx context.Context) error {
	probe := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := probe.Get(m.Probe + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.exited:
			return fmt.Errorf("the manager exited before it was ready: %v", m.Cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("the manager was not ready after %s", time.Since(m.Started).Round(time.Second))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Exited is closed when the process has exited and its output is written whole.
func (m *ManagerProcess) Exited() <-chan struct{} { return m.exited }

// Kill ends the process at once (SIGKILL: no lease handed over) and waits for it.
func (m *ManagerProcess) Kill() {
	_ = m.Cmd.Process.Kill()
	<-m.exited
}

// Stop ends the process as Kubernetes does: SIGTERM, then SIGKILL after 30 s. Stopping a
// stopped process does nothing.
func (m *ManagerProcess) Stop() {
	select {
	case <-m.exited:
		return
	default:
	}
	_ = m.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		m.Kill()
	}
}

// SyncBuffer is a process's output, written by its copying goroutine and read by a test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
