#!/usr/bin/env bash
# HTTP load on a release build. The server is pinned to CPU 0 and the load generator to CPU 1,
# so the server's CPU time per request can be read from /proc (utime + stime) before and after.
# Uses oha (`cargo install oha`) when present, else wrk (`apt-get install wrk`).
#
#   benches/load.sh                     # /health, current, history, statistics, windows; 20 s each
#   DURATION=60 CONNECTIONS=64 benches/load.sh
#   PATHS="/health /api/v1/prices/current?region=germany" benches/load.sh
#   RATE_LIMIT=on PATHS="/api/v1/prices/current?region=germany" benches/load.sh   # its cost
#   AUTH=on PATHS="/api/v1/auth/me" benches/load.sh      # with a signed-in user's bearer token
#   REDIS=on AUTH=on RATE_LIMIT=on PATHS=... benches/load.sh   # clustered: KV in Redis (it must
#                                          # run on 127.0.0.1:6379); reports Redis commands/request
#
# The server runs on the embedded default with the forecaster off (its calibrations would share
# the server's core) and 400 days of simulated history loaded before the first route, so the
# 365-day statistics read real stored history.
#
# Traffic stays on 127.0.0.1 and each run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-50}"
PORT="${PORT:-18080}"
if [ -n "${PATHS:-}" ]; then read -r -a PATHS <<<"$PATHS"; else
PATHS=("/health" "/api/v1/prices/current?region=germany"
       "/api/v1/prices/history?region=germany&days=7" "/api/v1/prices/statistics?region=germany&days=7"
       "/api/v1/prices/statistics?region=germany&days=365" "/api/v1/prices/history?region=germany&days=1"
       "/api/v1/prices/optimal-windows?region=germany&duration_hours=3")
fi

if command -v oha >/dev/null; then tool=oha; elif command -v wrk >/dev/null; then tool=wrk; else
  echo "load.sh: needs oha (cargo install oha) or wrk (apt-get install wrk)" >&2; exit 1
fi
cargo build --release --locked --bin wattline >&2
. benches/serve.sh
# The rate limit is off unless RATE_LIMIT=on (then with limits no run reaches, to measure its
# cost per request).
if [ "${RATE_LIMIT:-off}" = on ]; then
  limits=(WATTLINE_RATE_LIMIT__ENABLED=true WATTLINE_RATE_LIMIT__PER_MINUTE=1000000000
          WATTLINE_RATE_LIMIT__PER_HOUR=1000000000)
else
  limits=(WATTLINE_RATE_LIMIT__ENABLED=false)
fi
cluster=()
if [ "${REDIS:-off}" = on ]; then
  cluster=(WATTLINE_CLUSTER__REDIS_URL=redis://127.0.0.1:6379 WATTLINE_CLUSTER__KEY_PREFIX="bench$$"
           WATTLINE_SECURITY__JWT_SECRET=load-bench-signing-key-of-at-least-32-bytes)
fi
serve_pinned "$PORT" WATTLINE_TELEMETRY__LOG_FILTER=warn WATTLINE_FORECAST__ENABLED=false \
  WATTLINE_FORECAST__BOOTSTRAP_DAYS=400 WATTLINE_SECURITY__API_KEY=load-bench \
  WATTLINE_AUTH__ACCESS_TTL=1h "${limits[@]}" "${cluster[@]}"
# The history load is done when its actor has finished.
for _ in $(seq 1 600); do
  curl -fs -H 'x-api-key: load-bench' "http://127.0.0.1:$PORT/api/v1/admin/actors" \
    | grep -q '"name":"history-bootstrap","kind":"bootstrap","state":"finished"' && break
  sleep 0.1
done

# AUTH=on: every request carries a signed-in user's access token.
headers=()
if [ "${AUTH:-off}" = on ]; then
  token="$(curl -fs -X POST -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"Bench-Password-2026!"}' \
    "http://127.0.0.1:$PORT/api/v1/auth/signup" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
  headers=(-H "Authorization: Bearer $token")
fi
redis_commands() { redis-cli -h 127.0.0.1 info stats | awk -F: '/^total_commands_processed/ {print $2+0}'; }

hz="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
echo "tool=$tool duration=${DURATION}s connections=$CONNECTIONS server=cpu0 load=cpu1 ($(nproc) cpus)" \
  "rate_limit=${RATE_LIMIT:-off} auth=${AUTH:-off} redis=${REDIS:-off}"
printf '%-66s %12s %10s %10s %10s %16s %s\n' path requests req/s p50_ms p99_ms server_cpu_us/req \
  "$([ "${REDIS:-off}" = on ] && echo redis_cmds/req)"
for path in "${PATHS[@]}"; do
  url="http://127.0.0.1:$PORT$path"
  before="$(cpu_ticks)"
  [ "${REDIS:-off}" = on ] && commands_before="$(redis_commands)"
  if [ "$tool" = oha ]; then
    out="$(taskset -c 1 oha -z "${DURATION}s" -c "$CONNECTIONS" --no-tui --json "${headers[@]}" "$url")"
    requests="$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(d["statusCodeDistribution"].values()))')"
    p50="$(echo "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["latencyPercentiles"]["p50"]*1000,3))')"
    p99="$(echo "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["latencyPercentiles"]["p99"]*1000,3))')"
  else
    out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${headers[@]}" "$url")"
    requests="$(echo "$out" | awk '/requests in/ {print $1}')"
    to_ms() { python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)', v); f={'us':1e-3,'ms':1,'s':1e3}[m.group(2)]; print(round(float(m.group(1))*f,3))" "$1"; }
    p50="$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")"
    p99="$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")"
  fi
  after="$(cpu_ticks)"
  rate="$(python3 -c "print(round($requests/$DURATION))")"
  cpu="$(python3 -c "print(round(($after-$before)/$hz*1e6/$requests, 2))")"
  per_request=""
  if [ "${REDIS:-off}" = on ]; then
    per_request="$(python3 -c "print(round(($(redis_commands)-$commands_before)/$requests, 3))")"
  fi
  printf '%-66s %12s %10s %10s %10s %16s %s\n' "$path" "$requests" "$rate" "$p50" "$p99" "$cpu" "$per_request"
done

# The same measurement of a minimal axum server (benches/hello_server.rs): the ceiling of the
# edge on this machine, so the ratio of Wattline's CPU per request to it goes on record.
if [ -z "${SKIP_HELLO:-}" ]; then
  hello="$(cargo bench --locked --bench hello_server --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "hello_server" and m.get("executable"):
        print(m["executable"])')"
  kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  HELLO_BIND="127.0.0.1:$PORT" taskset -c 0 "$hello" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.1; done
  path="/ (minimal axum hello-world, benches/hello_server.rs)"
  before="$(cpu_ticks)"
  out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/")"
  after="$(cpu_ticks)"
  requests="$(echo "$out" | awk '/requests in/ {print $1}')"
  rate="$(python3 -c "print(round($requests/$DURATION))")"
  cpu="$(python3 -c "print(round(($after-$before)/$hz*1e6/$requests, 2))")"
  printf '%-66s %12s %10s %10s %10s %16s\n' "$path" "$requests" "$rate" "-" "-" "$cpu"
fi
