#!/usr/bin/env bash
# npm run bench:chain: a two-hop rx3proxy chain against one hop, in one run (issue: parents).
#   back : rx3proxy socks on BACK (no parents)                 -> one hop:  client -> back -> origin
#   front: rx3proxy socks on FRONT, parent socks5 127.0.0.1:BACK -> two hops: client -> front -> back -> origin
# Both processes are pinned to the proxy CPU (the two hops share the one-hop budget of CPU), the
# load and the origin to the other. Figures: SOCKS5 connection rate (bench-socks-rate.sh) and
# bulk MB/s (bench-bulk.sh --socks), then two-hop / one-hop ratios (the goal is >= 0.8).
# env: REPS=1 WARMUP=8 DURATION=10 BENCH=../shared/bench; ports and BENCH_RUN are private to this
# script (ORIGIN_PORT 18380, 12310/12311) so it can run beside the other bench scripts.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="${BENCH:-$HERE/../shared/bench}"
[ -d "$BENCH" ] || { echo "bench: shared harness not found at $BENCH (set BENCH=...)" >&2; exit 1; }
export ORIGIN_PORT="${ORIGIN_PORT:-18380}" BENCH_RUN="${BENCH_RUN:-/tmp/bench-run-chain}"
. "$BENCH/lib/common.sh"
REPS="${REPS:-1}"
OUT="${OUT:-$HERE/bench/results/local}"
mkdir -p "$OUT" "$BENCH_RUN"
[ -f "$HERE/dist/cli.js" ] || (cd "$HERE" && npm run build --silent)
BACK=12310; FRONT=12311

ORIGIN_PID=$("$BENCH/origin/start-origin.sh")
pids=("$ORIGIN_PID")
cleanup() { stop_pid "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

cat > "$BENCH_RUN/back.yaml" <<YAML
version: 1
log: { level: warn }
accessLog: { to: none }
services:
  - { name: socks, type: socks, listen: "127.0.0.1:$BACK", maxconn: 5000, auth: [none] }
YAML
cat > "$BENCH_RUN/front.yaml" <<YAML
version: 1
log: { level: warn }
accessLog: { to: none }
services:
  - name: socks
    type: socks
    listen: "127.0.0.1:$FRONT"
    maxconn: 5000
    auth: [iponly]
    acl: [{ allow: {}, parents: [{ type: socks5, host: 127.0.0.1, port: $BACK }] }]
YAML
"${PROXYPIN[@]}" node "$HERE/dist/cli.js" "$BENCH_RUN/back.yaml" > "$BENCH_RUN/back.out" 2>&1 &
pids+=("$!")
"${PROXYPIN[@]}" node "$HERE/dist/cli.js" "$BENCH_RUN/front.yaml" > "$BENCH_RUN/front.out" 2>&1 &
pids+=("$!")
wait_port "$BACK" 15; wait_port "$FRONT" 15

RAW="$OUT/chain-raw.tsv"; : > "$RAW"
run_one() { # label rep script args...
  local label=$1 rep=$2; shift 2
  "$@" 2>/dev/null | while IFS='=' read -r k v; do printf '%s\t%s\t%s\t%s\n' "$label" "$rep" "$k" "$v"; done >> "$RAW"
}
WARMUP="${WARMUP:-8}"
if [ "$WARMUP" -gt 0 ]; then
  for p in "$BACK" "$FRONT"; do DURATION=$WARMUP "$BENCH/bench-socks-rate.sh" "$p" > /dev/null 2>&1 || true; done
fi
for rep in $(seq "$REPS"); do
  run_one one-hop "$rep" "$BENCH/bench-socks-rate.sh" "$BACK"
  run_one two-hops "$rep" "$BENCH/bench-socks-rate.sh" "$FRONT"
  run_one one-hop "$rep" "$BENCH/bench-bulk.sh" --socks "$BACK"
  run_one two-hops "$rep" "$BENCH/bench-bulk.sh" --socks "$FRONT"
done
node "$HERE/bench/ratios.js" "$RAW" two-hops one-hop | tee "$OUT/chain-summary.md"
