#!/usr/bin/env bash
# Builds the local control plane from source through the Go module proxy and caches it in
# bin/k8s/<version>/. Binaries already there are reused. Usage:
#   hack/build-controlplane.sh [component...]
# Components: etcd kube-apiserver kubectl (the default, what envtest needs), and
# kube-controller-manager kube-scheduler kwok for a cluster whose Jobs run (hack/devcluster
# --jobs). kwok is not part of Kubernetes: it is installed at its own pinned version.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/hack/controlplane"
k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$mod/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$mod/go.mod")
out="$root/bin/k8s/${k8s_version}-etcd${etcd_version}"
mkdir -p "$out"

# kwok (sigs.k8s.io/kwok) fakes the node and the pods' lifecycle; pinned here.
kwok_version=v0.8.0

minor=$(echo "$k8s_version" | cut -d. -f2)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${k8s_version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver kubectl)

for c in "${components[@]}"; do
  # The folder is named after the Kubernetes and etcd versions; kwok's is kept beside it.
  if [ -x "$out/$c" ] && { [ "$c" != kwok ] || [ "$(cat "$out/kwok.version" 2>/dev/null)" = "$kwok_version" ]; }; then
    continue
  fi
  case "$c" in
    etcd) pkg=go.etcd.io/etcd/server/v3 ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) pkg=k8s.io/kubernetes/cmd/$c ;;
    kwok) pkg=sigs.k8s.io/kwok/cmd/kwok@$kwok_version ;;
    *) echo "build-controlplane: unknown component $c" >&2; exit 2 ;;
  esac
  echo "build-controlplane: building $c ($pkg) into $out (minutes on a cold cache)" >&2
  start=$(date +%s)
  if [ "$c" = kwok ]; then
    # Its own module, built as released (go install honours no replace directives, and
    # kwok@v0.8.0 needs none); into a fresh folder first, so a failed build leaves nothing.
    tmp="$out/kwok.tmpdir"
    rm -rf "$tmp"
    (cd "$mod" && CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "$pkg")
    mv "$tmp/kwok" "$out/kwok"
    rm -rf "$tmp"
    echo "$kwok_version" >"$out/kwok.version"
  else
    (cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$c.tmp" "$pkg")
    mv "$out/$c.tmp" "$out/$c"
  fi
  echo "build-controlplane: built $c in $(( $(date +%s) - start ))s" >&2
done

echo "$out"
