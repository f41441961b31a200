# battle-operator Makefile. `make help` lists the targets.

# Tools, pinned, built into bin/ from the Go module proxy.
LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
# golangci-lint with Kube API Linter built in (kube-api-linter's standalone build; it has no
# releases, so a pseudo-version pins it). .golangci.yml says which linters run where.
KUBE_API_LINTER_VERSION ?= v0.0.0-20260716143926-092fe0c72997
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-kube-api-linter-$(KUBE_API_LINTER_VERSION)
KUBECTL ?= kubectl
# helm, for the chart's tests and `make helm-chart`'s users (the chart itself needs no helm to
# be generated).
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
# What the chart's tests install before applying it (hack/thirdparty-crds.sh): cert-manager's
# CRDs from its module, the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs
# generated from its API module's types.
CERT_MANAGER_VERSION ?= v1.19.1
PROMETHEUS_OPERATOR_VERSION ?= v0.95.2

# The control plane tests and `make dev` run (kube-apiserver, etcd, kubectl), built from
# source by hack/build-controlplane.sh and cached under bin/k8s/.
CONTROLPLANE = hack/build-controlplane.sh

# The manager's image: docker-build and docker-push build and push it; deploy and
# build-installer put it in the Deployment.
IMG ?= battle-operator:dev
CONTAINER_TOOL ?= docker
# Where build-installer writes install.yaml (git-ignored: generate it when you need it).
DIST ?= dist
# Where helm-chart writes the Helm chart (committed; `make verify` fails when it is stale).
CHART ?= dist/chart

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs, the RBAC roles and the webhook configuration from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:generateEmbeddedObjectMeta=true webhook paths="./..." output:crd:artifacts:config=config/crd/bases output:webhook:artifacts:config=config/webhook

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet (the end-to-end tests too).
	go vet -tags e2e ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint and Kube API Linter (.golangci.yml); fails on any finding.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: manifests generate helm-chart ## Fail when generated files (CRDs, RBAC, DeepCopy, dist/chart) or formatting are not current.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code -- config api || { echo "generated files are stale: run 'make manifests generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- $(CHART))" || { echo "$(CHART) is stale: run 'make helm-chart' and commit"; git status --porcelain -- $(CHART); exit 1; }

.PHONY: helm-chart
helm-chart: manifests ## Generate the Helm chart dist/chart from config/ (hack/helmchart; config/prometheus, config/spool and config/network-policy become values).
	@kubectl=$$($(CONTROLPLANE) kubectl)/kubectl; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for k in default prometheus spool network-policy; do "$$kubectl" kustomize config/$$k >"$$tmp/$$k.yaml"; done; \
	go run ./hack/helmchart -out $(CHART) -default "$$tmp/default.yaml" -variant prometheus="$$tmp/prometheus.yaml" \
	  -variant spool="$$tmp/spool.yaml" -variant networkPolicy="$$tmp/network-policy.yaml"; \
	echo "wrote $(CHART)"

.PHONY: controlplane
controlplane: ## Build (or reuse) the local cluster's binaries under bin/k8s/: etcd, kube-apiserver, kubectl, kube-controller-manager, kube-scheduler, kwok.
	$(CONTROLPLANE) etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kwok >/dev/null

# The two longest packages first, three at a time: they spend much of their time waiting on
# processes, leases and timeouts, so three keep 2 CPUs busy where two left a third idle. vet
# ran already (the vet target), with the e2e tag. The pinned helm the chart's tests run is
# built first, with the control plane, rather than inside the end-to-end tests. Four tests
# of a package at a time (-parallel; the default is one per CPU): the tests of manager
# processes, each in a namespace of its own, mostly wait on leases and retention's clock.
TEST_PACKAGES = ./test/e2e ./controllers ./...

.PHONY: test
test: manifests generate fmt vet lint controlplane $(HELM) ## Run every test: unit, fuzz seeds, envtest (real kube-apiserver and etcd).
	began=$$(date +%s); KUBEBUILDER_ASSETS="$$($(CONTROLPLANE))" go test -tags e2e -p 3 -parallel 4 -vet=off -count=1 -timeout 20m $(TEST_PACKAGES) 2>&1 | tee $(LOCALBIN)/test.log; \
	echo "make test: the test phase took $$(( $$(date +%s) - began )) s"

.PHONY: test-e2e
test-e2e: build controlplane ## Run only the end-to-end tests (test/e2e, build tag e2e): make dev's script, the commands it prints, the install.
	KUBEBUILDER_ASSETS="$$($(CONTROLPLANE))" go test -tags e2e -count=1 -timeout 20m ./test/e2e

.PHONY: bench
bench: controlplane ## Run the benchmarks and print their figures.
	KUBEBUILDER_ASSETS="$$($(CONTROLPLANE))" go test -tags e2e -p 1 -timeout 0 -run '^$$' -bench . -benchmem ./...

.PHONY: fuzz
fuzz: ## Fuzz the callback decoder for FUZZTIME (default 60s).
	go test ./internal/battle -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-60s}

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary into bin/manager.
	go build -o $(LOCALBIN)/manager ./cmd

.PHONY: run
run: manifests generate fmt vet install ## Run the manager against $$KUBECONFIG (set SDK_APP_ID).
	go run ./cmd --sdk-app-id=$${SDK_APP_ID:?set SDK_APP_ID to your SDKAppID}

.PHONY: dev
dev: build controlplane ## Start a local control plane, install the CRDs, run the manager and print how to use it.
	hack/dev.sh

.PHONY: demo
demo: ## With `make dev` running: apply the BattleReaction samples, send the fixtures, show what ran.
	hack/demo.sh

.PHONY: docker-build
docker-build: ## Build the manager image IMG (needs a Docker engine).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image IMG.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: build-installer
build-installer: manifests ## Write $(DIST)/install.yaml: everything `make deploy` applies, with the image IMG, as one file.
	mkdir -p $(DIST)
	$(KUSTOMIZE_DEFAULT) >$(DIST)/install.yaml.tmp
	mv $(DIST)/install.yaml.tmp $(DIST)/install.yaml
	@echo "wrote $(DIST)/install.yaml with image $(IMG): kubectl apply --server-side -f $(DIST)/install.yaml"

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of $$KUBECONFIG.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and every battle resource) from the cluster.
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases

.PHONY: deploy
deploy: manifests ## Install everything (config/default) with the image IMG into the cluster of $$KUBECONFIG.
	$(KUSTOMIZE_DEFAULT) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove everything deploy installed: the manager, its namespace, the CRDs and every battle resource.
	$(KUBECTL) delete --ignore-not-found -k config/default

# KUSTOMIZE_DEFAULT prints config/default with the manager's image set to IMG, as `kustomize
# edit set image` would, without editing config/ or needing the kustomize binary: a
# throwaway overlay in bin/ (kustomize wants a relative path to its base), built by `kubectl
# kustomize`. The patch checks it replaces the image of the container named manager.
define KUSTOMIZE_DEFAULT
mkdir -p bin; overlay=$$(mktemp -d bin/overlay.XXXXXX); trap 'rm -rf "$$overlay"' EXIT; \
printf '%s\n' \
  'resources:' \
  '- ../../config/default' \
  'patches:' \
  '- target: {group: apps, kind: Deployment, labelSelector: app.kubernetes.io/component=manager}' \
  '  patch: |-' \
  '    - {op: test, path: /spec/template/spec/containers/0/name, value: manager}' \
  '    - {op: replace, path: /spec/template/spec/containers/0/image, value: "$(IMG)"}' \
  >"$$overlay/kustomization.yaml"; \
$(KUBECTL) kustomize "$$overlay"
endef

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

.PHONY: helm
helm: $(HELM) ## Build the pinned helm into bin/ (once) and print its path.
	@echo $(HELM)
$(HELM):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $(HELM)

.PHONY: thirdparty-crds
thirdparty-crds: controller-gen ## Write cert-manager's and the Prometheus Operator's CRDs (the pinned versions) into CRDS_DIR, for the chart's tests.
	CERT_MANAGER_VERSION=$(CERT_MANAGER_VERSION) PROMETHEUS_OPERATOR_VERSION=$(PROMETHEUS_OPERATOR_VERSION) \
	  CONTROLLER_GEN=$(CONTROLLER_GEN) hack/thirdparty-crds.sh "$${CRDS_DIR:?set CRDS_DIR}"

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter@$(KUBE_API_LINTER_VERSION)
	mv $(LOCALBIN)/golangci-lint-kube-api-linter $(GOLANGCI_LINT)
