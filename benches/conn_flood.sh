#!/usr/bin/env bash
# More connections than the server's cap, silent, from several loopback addresses, while
# /health is probed from 127.0.0.1 every 50 ms (benches/conn_flood.py). Loopback only, bounded.
#
#   benches/conn_flood.sh                                  # 3000 connections, cap 1000, 20 s
#   CONNECTIONS=6000 CAP=2000 DURATION=30 benches/conn_flood.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS="${CONNECTIONS:-3000}"
CAP="${CAP:-1000}"
PER_ADDRESS="${PER_ADDRESS:-256}"
DURATION="${DURATION:-20}"
PORT="${PORT:-18081}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --locked --bin wattline >&2
. benches/serve.sh
serve_pinned "$PORT" WATTLINE_TELEMETRY__LOG_FILTER=error WATTLINE_FORECAST__ENABLED=false WATTLINE_RATE_LIMIT__ENABLED=false \
  WATTLINE_SERVER__MAX_CONNECTIONS="$CAP" WATTLINE_SERVER__MAX_CONNECTIONS_PER_ADDRESS="$PER_ADDRESS"
echo "cap=$CAP per_address=$PER_ADDRESS header_read_timeout=10s (default)"
taskset -c 1 python3 benches/conn_flood.py --port "$PORT" --connections "$CONNECTIONS" --seconds "$DURATION" &
flood=$!
sleep 1
# The operator's probe: a fresh connection to /health every 50 ms while the flood runs.
probes="$tmp/probes"
end=$((SECONDS + DURATION - 2))
while [ "$SECONDS" -lt "$end" ]; do
  curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$PORT/health" >>"$probes" || echo "000 5" >>"$probes"
  sleep 0.05
done
wait $flood
python3 - "$probes" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
times = sorted(float(t) * 1000 for _, t in rows)
failed = sum(1 for c, _ in rows if c != "200")
pct = lambda q: times[min(len(times) - 1, int(q * len(times)))]
print(f"/health probes: {len(rows)}, failed {failed}, p50 {pct(0.5):.2f} ms, p99 {pct(0.99):.2f} ms, max {times[-1]:.2f} ms")
PY
echo "server RSS after: $(awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status")"
