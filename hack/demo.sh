#!/usr/bin/env bash
# `make demo`: against a running `make dev`, applies the BattleReaction samples
# (config/samples, the dev cluster's failing-Job demo config/samples/dev-failing-reaction.yaml, and
# the HTTP reaction config/samples/notify-backend-http.yaml sending to make dev's upstream),
# sends every battle-end fixture in test/fixtures/ through the receiver, and two gift checks that
# it forwards to make dev's upstream (hack/upstream: gift 13 refused, gift 7 allowed), waits (bounded) for
# the reactions' Jobs to finish, and shows what the cluster holds. Settings (environment), the
# same as `make dev`'s:
#   DEV_APP_ID         the SDKAppID the receiver accepts      (1400000001)
#   DEV_CALLBACK_ADDR  where the receiver listens             (127.0.0.1:8082)
#   DEV_DIR            kubeconfig and logs                    (bin/dev)
#   DEMO_TIMEOUT       seconds to wait for the Jobs           (60)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
app_id=${DEV_APP_ID:-1400000001}
callback_addr=${DEV_CALLBACK_ADDR:-127.0.0.1:8082}
dir=${DEV_DIR:-bin/dev}
timeout=${DEMO_TIMEOUT:-60}
kubeconfig="$dir/kubeconfig"

say() { printf 'demo: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
not_running() {
  fail "$1
      Start it first, in another terminal, with the same settings:  make dev
      (DEV_DIR=$dir, DEV_CALLBACK_ADDR=$callback_addr, DEV_APP_ID=$app_id)"
}

[ -f "$kubeconfig" ] || not_running "make dev is not running: there is no $kubeconfig."
assets=$(hack/build-controlplane.sh kubectl)
kubectl=("$assets/kubectl" --kubeconfig "$kubeconfig")
"${kubectl[@]}" get --raw /readyz --request-timeout=5s >/dev/null 2>&1 ||
  not_running "make dev is not running: the control plane of $kubeconfig does not answer."
# Any HTTP answer will do; curl exits 7 when nothing listens.
curl -sS -o /dev/null --max-time 5 "http://$callback_addr/callback" 2>/dev/null ||
  not_running "make dev is not running: no receiver answers on $callback_addr."
"${kubectl[@]}" get crd battlereactions.live.battleops.io >/dev/null 2>&1 ||
  fail "the BattleReaction CRD is not installed in the dev cluster: restart make dev (it installs config/crd/bases)."
if [ -z "$("${kubectl[@]}" get nodes -o name 2>/dev/null)" ]; then
  say "the dev cluster has no node (DEV_JOBS=0?): the reactions create Jobs, but nothing runs them."
fi

say "applying the BattleReaction samples"
"${kubectl[@]}" apply --server-side -k config/samples
"${kubectl[@]}" apply --server-side -f config/samples/dev-failing-reaction.yaml
# The HTTP reaction sample, sending to make dev's upstream instead of an in-cluster backend.
upstream_addr=${DEV_UPSTREAM_ADDR:-127.0.0.1:8083}
sed "s#url: http://.*#url: http://$upstream_addr/live-callbacks#" config/samples/notify-backend-http.yaml |
  "${kubectl[@]}" apply --server-side -f -
upstream_log="$dir/upstream.log"
reactions_before=$( (grep -c '"reaction":true' "$upstream_log" 2>/dev/null || true) | tail -1)

say "sending the battle-end fixtures to http://$callback_addr/callback (SDKAppID $app_id)"
shopt -s nullglob
fixtures=(test/fixtures/end-battle-*.json)
[ ${#fixtures[@]} -gt 0 ] || fail "no test/fixtures/end-battle-*.json"
url="http://$callback_addr/callback?SdkAppid=$app_id&CallbackCommand=Live.CallbackAfterEndBattle&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
for f in "${fixtures[@]}"; do
  answer=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' "$url" --data-binary "@$f") ||
    fail "sending $f failed"
  printf '  %-40s %s\n' "$(basename "$f")" "$answer"
  case "$answer" in *'"ErrorCode":0'*) ;; *) fail "the receiver refused $f";; esac
done

say "sending two gift checks: the receiver forwards them to make dev's upstream (hack/upstream), which decides"
gift_url="http://$callback_addr/callback?SdkAppid=$app_id&CallbackCommand=Live.CallbackBeforeSendGift"
for gift in 7 13; do
  answer=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' "$gift_url" \
    --data-binary "{\"CallbackCommand\":\"Live.CallbackBeforeSendGift\",\"RoomId\":\"live_room_1001\",\"GiftId\":$gift,\"Count\":1}") ||
    fail "sending the gift check failed"
  printf '  gift %-35s %s\n' "$gift" "$answer"
done

# The reactions have settled when each describes its current spec, has nothing running or
# waiting, and their counts stayed the same over three polls a second apart.
say "waiting up to ${timeout}s for the reactions' Jobs to finish"
jsonpath='{range .items[*]}{.metadata.name} {.metadata.generation} {.status.observedGeneration} {.status.jobsStarted} {.status.jobsRunning} {.status.waitingBattles} {.status.jobsSucceeded} {.status.jobsFailed} {.status.deliveries.inFlight} {.status.deliveries.delivered}{"\n"}{end}'
previous="" stable=0 settled=0 started_total=0
for _ in $(seq 1 "$timeout"); do
  state=$("${kubectl[@]}" get battlereactions -o jsonpath="$jsonpath")
  busy=$(awk '$2 != $3 || $5 != 0 || $6 != 0 || ($9 != "" && $9 != 0)' <<<"$state")
  if [ -z "$busy" ] && [ "$state" = "$previous" ]; then
    stable=$((stable + 1))
  else
    stable=0
  fi
  if [ "$stable" -ge 2 ]; then
    settled=1
    break
  fi
  previous=$state
  sleep 1
done
started_total=$(awk '{ s += $4 } END { print s + 0 }' <<<"$state")
delivered_total=$(awk '{ s += $10 } END { print s + 0 }' <<<"$state")
if [ "$settled" = 1 ]; then
  say "settled: the reactions started $started_total Jobs and delivered $delivered_total HTTP requests in all"
else
  say "not settled after ${timeout}s; still busy (name generation observed started running waiting succeeded failed inFlight delivered):"
  awk '$2 != $3 || $5 != 0 || $6 != 0 || ($9 != "" && $9 != 0) { print "  " $0 }' <<<"$state" >&2
fi
reactions_after=$( (grep -c '"reaction":true' "$upstream_log" 2>/dev/null || true) | tail -1)
say "the upstream ($upstream_log) received $((reactions_after - reactions_before)) HTTP reaction requests in this demo; the last:"
grep '"reaction":true' "$upstream_log" 2>/dev/null | tail -2 | cut -c1-240 | sed 's/^/  /' >&2 || true

echo
"${kubectl[@]}" get battleresults,roomstats,battlereactions,jobs

if [ "$started_total" = 0 ] && [ "$delivered_total" = 0 ]; then
  cat <<MSG

No Job ran: a reaction counts the battles that arrive after it was created, and these
fixtures were stored before (a BattleResult is stored once per BattleId). To react to
the battles already stored, set spec.startingAfter earlier, e.g.:
  kubectl --kubeconfig $kubeconfig patch brx reward-winners --type merge -p '{"spec":{"startingAfter":"2000-01-01T00:00:00Z"}}'
MSG
fi
cat <<MSG

Look closer:
  kubectl --kubeconfig $kubeconfig get battlereactions -o wide
  kubectl --kubeconfig $kubeconfig describe battlereaction reward-winners
  kubectl --kubeconfig $kubeconfig get jobs -L live.battleops.io/reaction,live.battleops.io/room
  kubectl --kubeconfig $kubeconfig get job <name> -o jsonpath='{.spec.template.spec.containers[0].env}'
MSG
if [ "$settled" != 1 ]; then
  say "the reactions did not settle within ${timeout}s; see $dir/manager.log"
  exit 1
fi
