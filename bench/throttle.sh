#!/usr/bin/env bash
# Throttled relay under load (issue 7 benchmark, not a test): SESSIONS concurrent tcppm sessions
# through ONE shared bandwidth rule (3proxy bandlimin: all matched sessions share the channel,
# so each session's share is RATE/SESSIONS), for DURATION seconds. Prints the aggregate download
# rate against the configured one and the proxy's CPU use in % of one core (utime+stime from
# /proc/PID/stat over the measured window).
#
# Loopback only; bounded: SESSIONS connections, WARMUP+DURATION seconds, every process killed on exit.
# env: SESSIONS=1000 DURATION=10 WARMUP=2 SESSION_KBIT=80 (per-session share; rule = SESSIONS x it)
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
SESSIONS="${SESSIONS:-1000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SESSION_KBIT="${SESSION_KBIT:-80}"
RATE_BITS=$((SESSIONS * SESSION_KBIT * 1000))
(( SESSIONS <= 5000 && DURATION <= 120 )) || { echo "throttle.sh: SESSIONS <= 5000 and DURATION <= 120" >&2; exit 2; }
[ -f "$HERE/dist/cli.js" ] || (cd "$HERE" && npm run build --silent)

RUN="$(mktemp -d /tmp/rx3-throttle-bench.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

# Origin: streams bytes to every connection as fast as backpressure allows.
cat > "$RUN/origin.js" <<'JS'
const net = require('node:net');
const chunk = Buffer.alloc(16 * 1024, 0x61);
const server = net.createServer((s) => {
  s.on('error', () => s.destroy());
  const pump = () => { while (!s.destroyed && s.write(chunk)); };
  s.on('drain', pump);
  pump();
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
JS

# Clients: SESSIONS connections; counts bytes received during the window [WARMUP, WARMUP+DURATION].
cat > "$RUN/clients.js" <<'JS'
const net = require('node:net');
const [port, sessions, warmup, duration] = process.argv.slice(2).map(Number);
let open = 0, counting = false, bytes = 0, closedEarly = 0;
const sockets = [];
for (let i = 0; i < sessions; i++) {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('connect', () => open++);
  s.on('data', (d) => { if (counting) bytes += d.length; });
  s.on('error', () => {});
  s.on('close', () => { if (counting) closedEarly++; });
  sockets.push(s);
}
setTimeout(() => {
  counting = true;
  console.log(`window-start open=${open}`);
  setTimeout(() => {
    counting = false;
    console.log(`window-end bytes=${bytes} open=${open} closedEarly=${closedEarly}`);
    for (const s of sockets) s.destroy();
    process.exit(0);
  }, duration * 1000);
}, warmup * 1000);
JS

node "$RUN/origin.js" > "$RUN/origin.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$RUN/origin.port" ] && break; sleep 0.1; done
ORIGIN_PORT="$(cat "$RUN/origin.port")"

cat > "$RUN/rx3proxy.yaml" <<YAML
version: 1
log: { level: warn }
accessLog: { to: none }
bandwidth:
  - { direction: in, rate: $RATE_BITS }
services:
  - { name: tcppm, type: tcppm, listen: "127.0.0.1:0", target: "127.0.0.1:$ORIGIN_PORT", maxconn: $((SESSIONS + 100)) }
YAML
node "$HERE/dist/cli.js" "$RUN/rx3proxy.yaml" --port-file "$RUN/ports.json" > "$RUN/rx3proxy.out" 2>&1 &
RX_PID=$!
pids+=("$RX_PID")
for _ in $(seq 100); do [ -s "$RUN/ports.json" ] && break; sleep 0.1; done
[ -s "$RUN/ports.json" ] || { echo "proxy did not start:" >&2; cat "$RUN/rx3proxy.out" >&2; exit 1; }
PORT="$(node -e 'console.log(require(process.argv[1]).tcppm)' "$RUN/ports.json")"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$RX_PID/stat"; }
HZ="$(getconf CLK_TCK)"

node "$RUN/clients.js" "$PORT" "$SESSIONS" "$WARMUP" "$DURATION" > "$RUN/clients.out" &
CLIENTS_PID=$!
pids+=("$CLIENTS_PID")
# The window opens when the clients say so; CPU is sampled at the same moments.
until grep -q window-start "$RUN/clients.out" 2>/dev/null; do sleep 0.05; done
T0="$(cpu_ticks)"; S0="$(date +%s.%N)"
until grep -q window-end "$RUN/clients.out" 2>/dev/null; do sleep 0.05; done
T1="$(cpu_ticks)"; S1="$(date +%s.%N)"
wait "$CLIENTS_PID" || true

BYTES="$(sed -n 's/.*window-end bytes=\([0-9]*\).*/\1/p' "$RUN/clients.out")"
OPEN="$(sed -n 's/.*window-start open=\([0-9]*\).*/\1/p' "$RUN/clients.out")"
CLOSED="$(sed -n 's/.*closedEarly=\([0-9]*\).*/\1/p' "$RUN/clients.out")"
RSS_KB="$(awk '/VmHWM/ { print $2 }' "/proc/$RX_PID/status")"
awk -v b="$BYTES" -v d="$DURATION" -v r="$RATE_BITS" -v t0="$T0" -v t1="$T1" -v hz="$HZ" -v s0="$S0" -v s1="$S1" \
    -v n="$SESSIONS" -v open="$OPEN" -v closed="$CLOSED" -v rss="$RSS_KB" 'BEGIN {
  got = b * 8 / d
  wall = s1 - s0
  printf "sessions=%d (open at window start %d, closed during it %d)\n", n, open, closed
  printf "configured_rate_mbit=%.2f (per-session share %.1f kbit/s)\n", r / 1e6, r / n / 1e3
  printf "aggregate_rate_mbit=%.2f (%.1f%% of configured)\n", got / 1e6, 100 * got / r
  printf "proxy_cpu_pct_one_core=%.1f (over %.1f s)\n", 100 * (t1 - t0) / hz / wall, wall
  printf "proxy_peak_rss_mb=%.0f\n", rss / 1024
}'
