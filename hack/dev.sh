#!/usr/bin/env bash
# `make dev`: a local control plane, the CRDs installed with kubectl, and the manager with its
# callback receiver on localhost. Jobs run to Complete on a fake node (kwok fakes the node and
# the pods; no container runs); a pod labelled battleops.io/dev-outcome=fail fails instead.
# Ctrl-C stops everything. Settings (environment):
#   DEV_APP_ID         the SDKAppID the receiver accepts      (1400000001)
#   DEV_CALLBACK_ADDR  where the receiver listens             (127.0.0.1:8082)
#   DEV_PROBE_ADDR     health and readiness probes            (127.0.0.1:8081)
#   DEV_METRICS_ADDR   Prometheus metrics                     (127.0.0.1:8080)
#   DEV_WEBHOOK_ADDR   the admission webhook, with a self-signed certificate; it refuses a
#                      BattleReaction with a bad expression or Job template (127.0.0.1:9443)
#   DEV_UPSTREAM_ADDR  hack/upstream, the app's own callback backend the receiver forwards
#                      every callback but the battle end to    (127.0.0.1:8083)
#   DEV_DIR            kubeconfig and logs                    (bin/dev)
#   DEV_JOBS           0: no kube-controller-manager, kube-scheduler, kwok and fake node,
#                      so nothing runs Jobs (quicker to build and start)      (1)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
app_id=${DEV_APP_ID:-1400000001}
callback_addr=${DEV_CALLBACK_ADDR:-127.0.0.1:8082}
probe_addr=${DEV_PROBE_ADDR:-127.0.0.1:8081}
metrics_addr=${DEV_METRICS_ADDR:-127.0.0.1:8080}
upstream_addr=${DEV_UPSTREAM_ADDR:-127.0.0.1:8083}
webhook_addr=${DEV_WEBHOOK_ADDR:-127.0.0.1:9443}
dir=${DEV_DIR:-bin/dev}
jobs=${DEV_JOBS:-1}
node=fake-node
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
kubeconfig="$dir/kubeconfig"

say() { printf 'dev: %s\n' "$*" >&2; }

components=(etcd kube-apiserver kubectl)
devcluster_args=()
case "$jobs" in
  0|false|no) ;;
  1|true|yes)
    components+=(kube-controller-manager kube-scheduler kwok)
    devcluster_args+=(--jobs --node-name "$node" --log-dir "$dir") ;;
  *) say "DEV_JOBS must be 1 or 0, not '$jobs'"; exit 2 ;;
esac

say "building the control plane (cached under bin/k8s/; minutes the first time)"
assets=$(hack/build-controlplane.sh "${components[@]}")
kubectl=("$assets/kubectl" --kubeconfig "$kubeconfig")
say "building the manager and the dev cluster"
go build -o bin/manager ./cmd
go build -o bin/devcluster ./hack/devcluster
go build -o bin/upstream ./hack/upstream

pids=()
cleanup() {
  trap - EXIT INT TERM
  say "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$kubeconfig"
bin/devcluster --assets "$assets" --write-kubeconfig "$kubeconfig" \
  --webhook-addr "$webhook_addr" --webhook-config config/webhook --webhook-cert-dir "$dir/webhook-certs" ${devcluster_args[@]+"${devcluster_args[@]}"} \
  >"$dir/controlplane.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  [ -f "$kubeconfig" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$dir/controlplane.log" >&2; say "the control plane did not start"; exit 1; }
  sleep 0.1
done
[ -f "$kubeconfig" ] || { say "the control plane did not start within 60s"; exit 1; }
say "control plane up: $(tail -n 1 "$dir/controlplane.log")"

say "installing the CRDs"
"${kubectl[@]}" apply --server-side -f config/crd/bases >&2
# kubectl wait fails at once (rather than waiting) on a CRD whose status has no conditions
# yet, which a CRD has for a moment after it is created: try again until it holds.
for attempt in $(seq 1 50); do
  "${kubectl[@]}" wait --for condition=Established --timeout=60s crd --all >&2 && break
  [ "$attempt" -lt 50 ] || { say "the CRDs did not become Established"; exit 1; }
  sleep 0.2
done

jobs_msg=""
if [ ${#devcluster_args[@]} -gt 0 ]; then
  say "waiting for the fake node $node to be Ready"
  "${kubectl[@]}" wait --for condition=Ready --timeout=120s "node/$node" >&2
  jobs_msg="
              $dir/kube-controller-manager.log, kube-scheduler.log, kwok.log
  jobs        run on the fake node $node: kwok plays their pods, no container runs. A Job's
              pod completes at once; a pod labelled battleops.io/dev-outcome=fail fails
              (exit code 1, or the value of its annotation battleops.io/dev-exit-code)."
fi

bin/upstream --listen "$upstream_addr" --log "$dir/upstream.log" 2>"$dir/upstream.stderr" &
pids+=($!)

bin/manager --kubeconfig "$kubeconfig" --sdk-app-id "$app_id" --forward-url "http://$upstream_addr/live-callbacks" \
  --callback-bind-address "$callback_addr" --health-probe-bind-address "$probe_addr" \
  --metrics-bind-address "$metrics_addr" --metrics-secure=false \
  --webhook-bind-address "$webhook_addr" --webhook-cert-dir "$dir/webhook-certs" --zap-devel >"$dir/manager.log" 2>&1 &
manager=$!
pids+=("$manager")
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "http://$probe_addr/readyz" 2>/dev/null && break
  kill -0 "$manager" 2>/dev/null || { cat "$dir/manager.log" >&2; say "the manager stopped"; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "http://$probe_addr/readyz" || { say "the manager did not become ready within 30s"; exit 1; }

cat <<MSG

battle-operator is running.
  receiver    http://$callback_addr/callback   (SDKAppID $app_id, no callback token)
  metrics     http://$metrics_addr/metrics
  webhook     https://$webhook_addr   (admission: a BattleReaction with a bad expression or Job
              template is refused at kubectl apply)
  upstream    http://$upstream_addr/live-callbacks   (hack/upstream: stands for your own callback
              backend; the receiver forwards it every callback but the battle end)
  logs        $dir/manager.log, $dir/controlplane.log, $dir/upstream.log$jobs_msg

Send Tencent's official example battle-end callback:

  curl -sS -X POST -H 'Content-Type: application/json' \\
    'http://$callback_addr/callback?SdkAppid=$app_id&CallbackCommand=Live.CallbackAfterEndBattle&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI' \\
    --data-binary @test/fixtures/end-battle-official-example.json

Send a gift check: the receiver forwards it to the upstream, which refuses gift 13, and
relays its answer:

  curl -sS -X POST -H 'Content-Type: application/json' \\
    'http://$callback_addr/callback?SdkAppid=$app_id&CallbackCommand=Live.CallbackBeforeSendGift' \\
    --data-binary '{"CallbackCommand":"Live.CallbackBeforeSendGift","RoomId":"live_room_1001","GiftId":13,"Count":1}'

Apply a reaction with a misspelt field: the webhook refuses it, naming the field:

  printf '%s\n' 'apiVersion: live.battleops.io/v1alpha1' 'kind: BattleReaction' \\
    'metadata: {name: typo}' 'spec:' '  match: {expression: "battle.roomz.size() > 0"}' \\
    '  http: {url: "http://$upstream_addr/reactions"}' |
    kubectl --kubeconfig $kubeconfig apply -f -

Then look at what it stored:

  kubectl --kubeconfig $kubeconfig get battleresults
  kubectl --kubeconfig $kubeconfig get roomstats
  kubectl --kubeconfig $kubeconfig get battleops -o wide

Ready. Ctrl-C stops the manager and the control plane.
MSG

wait "$manager"
