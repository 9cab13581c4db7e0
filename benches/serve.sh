# Sourced by the load scripts: starts the release server on the embedded default, pinned to CPU 0,
# with a fresh data directory and the extra `KEY=value` settings given, stops it on exit, and
# returns once it is ready. Sets `pid` (the server) and `tmp` (its data directory).
#
#   serve_pinned "$PORT" WATTLINE_FORECAST__ENABLED=false ...
serve_pinned() {
  local port="$1"
  shift
  tmp="$(mktemp -d)"
  env WATTLINE_STORAGE__DATABASE_URL="sqlite://$tmp/bench.sqlite3" WATTLINE_SERVER__BIND="127.0.0.1:$port" \
    "$@" taskset -c 0 "${CARGO_TARGET_DIR:-target}/release/wattline" serve &
  pid=$!
  trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not become ready" >&2
  return 1
}
