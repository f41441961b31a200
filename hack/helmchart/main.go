// Command helmchart writes the Helm chart of battle-operator (dist/chart, in the layout of
// kubebuilder's helm plugin) from config/, rendered by kustomize: `make helm-chart` runs it.
//
//	helmchart -out dist/chart -default default.yaml [-variant NAME=FILE]...
//
// -default is `kubectl kustomize config/default`. Each -variant is a kustomization that adds
// to config/default (config/prometheus, config/spool, config/network-policy), rendered: what
// it adds (objects; args, ports, mounts and volumes of the manager) is rendered when
// .Values.NAME.enable is true. Objects go to templates/<area>/ by kind (crd, rbac, manager,
// metrics, webhook, certmanager, prometheus, network-policy; extras for kinds it does not
// know). The manager's flags are built from values.yaml, whose defaults are config/'s.
//
// The output folder is replaced whole; the same input gives the same files.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// variantFlags collects -variant NAME=FILE.
type variantFlags map[string]string

func (v variantFlags) String() string { return fmt.Sprint(map[string]string(v)) }

func (v variantFlags) Set(s string) error {
	name, file, ok := strings.Cut(s, "=")
	if !ok || name == "" || file == "" {
		return fmt.Errorf("want NAME=FILE, got %q", s)
	}
	v[name] = file
	return nil
}

func main() {
	out := flag.String("out", "dist/chart", "the chart's folder, replaced whole")
	base := flag.String("default", "", "config/default rendered by kustomize (required)")
	variants := variantFlags{}
	flag.Var(variants, "variant", "NAME=FILE: a kustomization adding to config/default, rendered; on when .Values.NAME.enable (repeatable)")
	flag.Parse()
	if err := run(*out, *base, variants); err != nil {
		fmt.Fprintln(os.Stderr, "helmchart:", err)
		os.Exit(1)
	}
}

func run(out, base string, variants variantFlags) error {
	if base == "" {
		return fmt.Errorf("-default is required")
	}
	c := chart{variants: map[string][]object{}}
	stream, err := os.ReadFile(base)
	if err != nil {
		return err
	}
	if c.base, err = parse(stream, ""); err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	for name, file := range variants {
		stream, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if c.variants[name], err = parse(stream, name); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	files, err := c.generate()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	for _, p := range sortedKeys(files) {
		dst := filepath.Join(out, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(files[p]), 0o644); err != nil {
			return err
		}
	}
	return nil
}
