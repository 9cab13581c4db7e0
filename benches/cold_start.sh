#!/usr/bin/env bash
# Time from process start to "every region's forecast ready" (model-info: 14 of 14 `ready`), on
# the embedded default with the simulator: first on an empty data directory (the history
# bootstrap loads 120 days, then every model calibrates from scratch), then a restart on the same
# data. Release build, loopback only; prints one line per run.
#
#   benches/cold_start.sh
#   RUNS="cold warm warm" benches/cold_start.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-18082}"
RUNS="${RUNS:-cold warm}"
cargo build --release --locked --bin wattline >&2
tmp="$(mktemp -d)"
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
pid=""
for run in $RUNS; do
  started="$(date +%s.%N)"
  WATTLINE_STORAGE__DATABASE_URL="sqlite://$tmp/cold.sqlite3" WATTLINE_SERVER__BIND="127.0.0.1:$PORT" \
    WATTLINE_TELEMETRY__LOG_FILTER=warn WATTLINE_RATE_LIMIT__ENABLED=false target/release/wattline serve &
  pid=$!
  ready=""
  for _ in $(seq 1 3000); do
    body="$(curl -fs "http://127.0.0.1:$PORT/api/v1/ml/predict/model-info" 2>/dev/null || true)"
    n="$(printf '%s' "$body" | python3 -c 'import json,sys
try: print(sum(1 for r in json.load(sys.stdin)["regions"] if r["state"] == "ready"))
except Exception: print(0)')"
    if [ "$n" = "14" ]; then ready="$(date +%s.%N)"; break; fi
    sleep 0.1
  done
  if [ -z "$ready" ]; then echo "$run: not ready after 300 s" >&2; exit 1; fi
  python3 -c "print(f'$run start: all 14 regions ready after {$ready - $started:.1f} s')"
  kill -TERM $pid; wait $pid 2>/dev/null || true
done
