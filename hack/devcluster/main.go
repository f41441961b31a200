// Command devcluster runs a local Kubernetes control plane for `make dev`: etcd and
// kube-apiserver built from source by hack/build-controlplane.sh, started through envtest. It
// writes an admin kubeconfig and runs until interrupted, then stops the control plane and
// removes its data.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	assets := flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "The folder holding etcd, kube-apiserver and kubectl.")
	kubeconfig := flag.String("write-kubeconfig", "bin/dev/kubeconfig", "Where to write the admin kubeconfig.")
	flag.Parse()
	if err := run(*assets, *kubeconfig); err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: %v\n", err)
		os.Exit(1)
	}
}

func run(assets, kubeconfig string) error {
	if assets == "" {
		return fmt.Errorf("--assets (or KUBEBUILDER_ASSETS) must name the folder hack/build-controlplane.sh prints")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "devcluster: stopping the control plane: %v\n", err)
		}
	}()

	admin, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	config, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return err
	}
	// Written whole under another name first, so a reader never sees half a file.
	if err := os.WriteFile(kubeconfig+".tmp", config, 0o600); err != nil {
		return err
	}
	if err := os.Rename(kubeconfig+".tmp", kubeconfig); err != nil {
		return err
	}
	fmt.Printf("devcluster: kube-apiserver at %s, kubeconfig %s\n", env.Config.Host, kubeconfig)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	fmt.Println("devcluster: stopping")
	_ = os.Remove(kubeconfig)
	return nil
}
