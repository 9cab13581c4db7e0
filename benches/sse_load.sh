#!/usr/bin/env bash
# SSE load on a release build: N subscribers to one region, the server pinned to CPU 0 and the
# load generator (benches/sse_load.rs) to CPU 1. Two runs:
#   idle   — the clock at real speed: only heartbeats; measures RSS per idle subscriber.
#   fanout — the engine clock at 86400x (a market day per second) and only `japan` enabled, so
#            the simulator publishes one new day per second through the real path
#            (fetcher → writer → broadcaster → SSE): 1 event/s to every subscriber.
#   ceiling — not Wattline: benches/sse_ceiling.rs, a minimal tokio program writing the same
#            bytes to every subscriber once a second; the ceiling the fanout run compares with.
#   hyper  — the same program streaming the same frames through hyper's HTTP/1 connection: the
#            floor of any server built on hyper.
#
#   SUBSCRIBERS=10000 SECONDS=30 benches/sse_load.sh
#   FORECAST=false SUBSCRIBERS=10000 MODES=fanout benches/sse_load.sh   # forecaster off
#
# Traffic stays on 127.0.0.1; every run is bounded by SECONDS plus the connect time.
set -euo pipefail
cd "$(dirname "$0")/.."
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
WINDOW="${SECONDS_WINDOW:-${SECONDS:-30}}"
PORT="${PORT:-18090}"
MODES="${MODES:-idle fanout}"
# Each side needs a descriptor per subscriber (plus a few): take the hard limit.
ulimit -n "$(ulimit -Hn)"
cargo build --release --locked --bin wattline >&2
cargo bench --locked --bench sse_load --no-run >&2
cargo bench --locked --bench sse_ceiling --no-run >&2
tool="$(ls -t target/release/deps/sse_load-* | grep -v '\.d$' | head -n 1)"
ceiling="$(ls -t target/release/deps/sse_ceiling-* | grep -v '\.d$' | head -n 1)"

for mode in $MODES; do
  tmp="$(mktemp -d)"
  if [ "$mode" = ceiling ] || [ "$mode" = hyper ]; then
    flags=()
    [ "$mode" = hyper ] && flags=(--hyper)
    taskset -c 0 "$ceiling" --addr "127.0.0.1:$PORT" "${flags[@]}" &
    pid=$!
    for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    taskset -c 1 "$tool" --addr "127.0.0.1:$PORT" --server-pid "$pid" --subscribers "$SUBSCRIBERS" \
      --mode fanout --seconds "$WINDOW" --region japan
    kill -TERM "$pid"; wait "$pid" || true
    continue
  fi
  speed=1
  [ "$mode" = fanout ] && speed=86400
  WATTLINE_STORAGE__DATABASE_URL="sqlite://$tmp/load.sqlite3" WATTLINE_SERVER__BIND="127.0.0.1:$PORT" \
    WATTLINE_TELEMETRY__LOG_FILTER=warn WATTLINE_REGIONS__ENABLED='["japan"]' WATTLINE_CLOCK__SPEED="$speed" \
    WATTLINE_STREAM__MAX_PER_ADDRESS=1000000 WATTLINE_STREAM__MAX_SUBSCRIBERS=1000000 \
    WATTLINE_SERVER__MAX_CONNECTIONS_PER_ADDRESS=19000 WATTLINE_SERVER__MAX_CONNECTIONS=19000 \
    WATTLINE_FORECAST__ENABLED="${FORECAST:-true}" WATTLINE_RATE_LIMIT__ENABLED=false \
    taskset -c 0 target/release/wattline serve &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.1; done
  taskset -c 1 "$tool" --addr "127.0.0.1:$PORT" --server-pid "$pid" --subscribers "$SUBSCRIBERS" \
    --mode "$mode" --seconds "$WINDOW" --region japan
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$tmp"
done
