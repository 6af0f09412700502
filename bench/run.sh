#!/usr/bin/env bash
# npm run bench: rx3proxy (built) beside the Node floor (node-pipe from the shared harness), in one run.
#   tcppm: bench-tcppm.sh against both mappers -> bulk MB/s and small-request rates, ratios printed.
#   http/socks (when those services exist): bench-http.sh, bench-bulk.sh, bench-socks-rate.sh.
# Needs the shared harness (../shared/bench, or BENCH=path), wrk, nginx and its origin files:
# run `bash $BENCH/setup.sh` once (apt packages, /tmp/bench-www). Loopback only, every run bounded.
#   mem: bench-mem.sh (1,000 idle SOCKS5 and CONNECT tunnels) on the fresh processes, before the rest.
#   https: CONNECT through an HTTPS proxy listener (tls:) beside the same proxy on a plain listener:
#          tunnels/s with a full TLS handshake each (bench/connect-rate.js) and bulk MB/s (curl
#          --proxy https://); its own table (HTTPS listener / plain listener). Test certificate
#          made with openssl in $BENCH_RUN for the run.
# env: TESTS="tcppm http socks mem https" REPS=1 WARMUP=15 (seconds of unrecorded load per service and mode first) DURATION=10 (passed to the harness), BENCH=../shared/bench
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="${BENCH:-$HERE/../shared/bench}"
[ -d "$BENCH" ] || { echo "bench: shared harness not found at $BENCH (set BENCH=...)" >&2; exit 1; }
. "$BENCH/lib/common.sh"
TESTS="${TESTS:-tcppm}"
REPS="${REPS:-1}"
OUT="${OUT:-$HERE/bench/results/local}"
mkdir -p "$OUT" "$BENCH_RUN"
[ -f "$HERE/dist/cli.js" ] || (cd "$HERE" && npm run build --silent)

ORIGIN_PID=$("$BENCH/origin/start-origin.sh")
pids=("$ORIGIN_PID")
cleanup() { stop_pid "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

# Ports: fixed high ports on 127.0.0.1 so the harness scripts can take them as arguments.
RX_TCPPM=${RX_TCPPM:-12100}; RX_HTTP=${RX_HTTP:-12101}; RX_SOCKS=${RX_SOCKS:-12102}; RX_HTTPS=${RX_HTTPS:-12103}
NODE_TCPPM=${NODE_TCPPM:-12200}; NODE_HTTP=${NODE_HTTP:-12201}; NODE_SOCKS=${NODE_SOCKS:-12202}

cat > "$BENCH_RUN/rx3proxy-bench.yaml" <<YAML
version: 1
log: { level: warn }
accessLog: { to: none }
services:
  - { name: tcppm, type: tcppm, listen: "127.0.0.1:$RX_TCPPM", target: "127.0.0.1:$ORIGIN_PORT", maxconn: 5000 }
YAML
if [[ " $TESTS " == *" http "* || " $TESTS " == *" mem "* || " $TESTS " == *" https "* ]]; then
  echo "  - { name: http, type: proxy, listen: \"127.0.0.1:$RX_HTTP\", maxconn: 5000, auth: [none] }" >> "$BENCH_RUN/rx3proxy-bench.yaml"
fi
if [[ " $TESTS " == *" socks "* || " $TESTS " == *" mem "* ]]; then
  echo "  - { name: socks, type: socks, listen: \"127.0.0.1:$RX_SOCKS\", maxconn: 5000, auth: [none] }" >> "$BENCH_RUN/rx3proxy-bench.yaml"
fi
if [[ " $TESTS " == *" https "* ]]; then
  TLSDIR="$BENCH_RUN/tls"; mkdir -p "$TLSDIR"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TLSDIR/proxy.key" -out "$TLSDIR/proxy.pem" \
    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
  echo "  - { name: https, type: proxy, listen: \"127.0.0.1:$RX_HTTPS\", maxconn: 5000, auth: [none], tls: { cert: \"$TLSDIR/proxy.pem\", key: \"$TLSDIR/proxy.key\" } }" >> "$BENCH_RUN/rx3proxy-bench.yaml"
fi

"${PROXYPIN[@]}" node "$HERE/dist/cli.js" "$BENCH_RUN/rx3proxy-bench.yaml" > "$BENCH_RUN/rx3proxy.out" 2>&1 &
RX_PID=$!; pids+=("$RX_PID")
"${PROXYPIN[@]}" node "$BENCH/impl/node-relay.js" --mode pipe --bind 127.0.0.1 --tcppm "$NODE_TCPPM:127.0.0.1:$ORIGIN_PORT" \
  --http "$NODE_HTTP" --socks "$NODE_SOCKS" > "$BENCH_RUN/node-pipe.out" 2>&1 &
NODE_PID=$!; pids+=("$NODE_PID")
wait_port "$RX_TCPPM" 15; wait_port "$NODE_TCPPM" 15

RAW="$OUT/raw.tsv"; : > "$RAW"
run_one() { # impl test-script args...
  local impl=$1 rep=$2; shift 2
  "$@" 2>/dev/null | while IFS='=' read -r k v; do printf '%s\t%s\t%s\t%s\n' "$impl" "$rep" "$k" "$v"; done >> "$RAW"
}
# Memory first, on the freshly started processes (VmHWM is a lifetime peak): 1,000 idle tunnels.
if [[ " $TESTS " == *" mem "* ]]; then
  wait_port "$RX_SOCKS" 15; wait_port "$RX_HTTP" 15
  run_one rx3proxy 1 "$BENCH/bench-mem.sh" --pid "$RX_PID" --mode socks --port "$RX_SOCKS"
  run_one node-pipe 1 "$BENCH/bench-mem.sh" --pid "$NODE_PID" --mode socks --port "$NODE_SOCKS"
  run_one rx3proxy 1 "$BENCH/bench-mem.sh" --pid "$RX_PID" --mode connect --port "$RX_HTTP"
  run_one node-pipe 1 "$BENCH/bench-mem.sh" --pid "$NODE_PID" --mode connect --port "$NODE_HTTP"
fi
# Warm-up (not recorded): V8 needs several seconds of load before the per-connection paths are
# optimised, and with the proxy pinned to one CPU its background compiler shares that CPU. Measured
# 2026-12-02 on a fresh rx3proxy, tcppm connection-per-request in 5 s turns: 369, 351, 303 us of
# CPU per connection (node-pipe 280, 243, 246), so 15 s per mode. Both implementations get the
# same. WARMUP=0 skips it.
WARMUP="${WARMUP:-15}"
if [ "$WARMUP" -gt 0 ]; then
  for t in $TESTS; do
    case $t in
      tcppm)
        # The rate half of bench-tcppm.sh (keep-alive, then a connection per request); the bulk
        # transfers before it in the measured run do not exercise the per-connection code.
        for p in "$RX_TCPPM" "$NODE_TCPPM"; do PREFIX=tcppm WRK_EXTRA=plain DURATION=$WARMUP "$BENCH/bench-http.sh" "$p" > /dev/null 2>&1 || true; done ;;
      http)
        for p in "$RX_HTTP" "$NODE_HTTP"; do DURATION=$WARMUP "$BENCH/bench-http.sh" "$p" > /dev/null 2>&1 || true; done ;;
      socks)
        for p in "$RX_SOCKS" "$NODE_SOCKS"; do DURATION=$WARMUP "$BENCH/bench-socks-rate.sh" "$p" > /dev/null 2>&1 || true; done ;;
      https)
        wait_port "$RX_HTTPS" 15
        DURATION=$WARMUP "${LOADPIN[@]}" node "$HERE/bench/connect-rate.js" --port "$RX_HTTPS" --origin "$ORIGIN_HOST:$ORIGIN_PORT" --tls --ca "$TLSDIR/proxy.pem" > /dev/null 2>&1 || true
        DURATION=$WARMUP "${LOADPIN[@]}" node "$HERE/bench/connect-rate.js" --port "$RX_HTTP" --origin "$ORIGIN_HOST:$ORIGIN_PORT" > /dev/null 2>&1 || true ;;
    esac
  done
fi
for rep in $(seq "$REPS"); do
  for t in $TESTS; do
    case $t in
      tcppm)
        run_one rx3proxy "$rep" "$BENCH/bench-tcppm.sh" "$RX_TCPPM"
        run_one node-pipe "$rep" "$BENCH/bench-tcppm.sh" "$NODE_TCPPM" ;;
      http)
        run_one rx3proxy "$rep" "$BENCH/bench-http.sh" "$RX_HTTP"
        run_one node-pipe "$rep" "$BENCH/bench-http.sh" "$NODE_HTTP"
        run_one rx3proxy "$rep" "$BENCH/bench-bulk.sh" --http "$RX_HTTP"
        run_one node-pipe "$rep" "$BENCH/bench-bulk.sh" --http "$NODE_HTTP" ;;
      mem) ;; # measured once, above
      https)
        run_one tls "$rep" "${LOADPIN[@]}" node "$HERE/bench/connect-rate.js" --name connect --port "$RX_HTTPS" --origin "$ORIGIN_HOST:$ORIGIN_PORT" --tls --ca "$TLSDIR/proxy.pem"
        run_one plain "$rep" "${LOADPIN[@]}" node "$HERE/bench/connect-rate.js" --name connect --port "$RX_HTTP" --origin "$ORIGIN_HOST:$ORIGIN_PORT"
        run_one tls "$rep" bash -c ". '$BENCH/lib/common.sh'; . '$BENCH/lib/bulk.sh'; bulk_one bulk_connect 'http://$ORIGIN_HOST:$ORIGIN_PORT/huge' -p -x 'https://127.0.0.1:$RX_HTTPS' --proxy-cacert '$TLSDIR/proxy.pem'"
        run_one plain "$rep" bash -c ". '$BENCH/lib/common.sh'; . '$BENCH/lib/bulk.sh'; bulk_one bulk_connect 'http://$ORIGIN_HOST:$ORIGIN_PORT/huge' -p -x 'http://127.0.0.1:$RX_HTTP'" ;;
      socks)
        run_one rx3proxy "$rep" "$BENCH/bench-socks-rate.sh" "$RX_SOCKS"
        run_one node-pipe "$rep" "$BENCH/bench-socks-rate.sh" "$NODE_SOCKS"
        run_one rx3proxy "$rep" "$BENCH/bench-bulk.sh" --socks "$RX_SOCKS"
        run_one node-pipe "$rep" "$BENCH/bench-bulk.sh" --socks "$NODE_SOCKS" ;;
    esac
  done
done
node "$HERE/bench/ratios.js" "$RAW" | tee "$OUT/summary.md"
