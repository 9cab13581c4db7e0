#!/usr/bin/env bash
# Contract test of the OpenAPI document: schemathesis (PyPI, installed here into a venv under
# target/) generates requests from `/openapi.json` and checks every answer of a running server
# (debug build, embedded default, loopback only) against the document.
#
# Checks: all of them, except
#   - positive_data_acceptance: some rules span several fields or depend on the clock and cannot
#     be written in JSON Schema (`days` or `start`/`end`, not both; `duration_minutes` or
#     `duration_hours`, not both; a start not in the past and before the end; an IANA time zone
#     name; an end within the known horizon). Requests breaking them are refused with 4xx, which
#     that check counts as "valid data rejected".
# The rate limit is off: thousands of generated requests from one address would mostly get 429
# (documented, but then nothing else is exercised); tests/api/rate_limit.rs covers it.
# Requests carry a signed-in user's bearer token (and the operator key), so protected routes are
# exercised beyond their 401; schemathesis's ignored_auth check also sends them without.
# Billing: the server has a webhook signing secret, so generated webhook bodies meet the signature
# check (400) rather than "not configured" (503); it has no Stripe key, and checkout and portal
# requests never reach Stripe because the redirect allowlist is empty (422 for every URL).
# Paths: all, except
#   - /api/v1/prices/stream: a Server-Sent Events stream never ends, so no response completes
#     (its parameters are checked in tests/api/stream.rs).
#   - /api/v1/compliance/gdpr/delete-my-data: a valid request erases the signed-in account, and
#     every later request of the run would get 401 (tests/api/compliance.rs covers it); likewise
#   - /api/v1/auth/signout, which revokes the run's token (tests/api/auth.rs covers it).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
venv="$target/ci-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
cargo build --locked --bin wattline
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
data="$(mktemp -d)"
WATTLINE_STORAGE__DATABASE_URL="sqlite://$data/contract.sqlite3" WATTLINE_EMAIL__FILE_DIR="$data/mail" WATTLINE_SERVER__BIND="127.0.0.1:$port" \
  WATTLINE_TELEMETRY__LOG_FILTER=error WATTLINE_FORECAST__BOOTSTRAP_DAYS=40 WATTLINE_RATE_LIMIT__ENABLED=false \
  WATTLINE_AUTH__ACCESS_TTL=1h WATTLINE_SECURITY__API_KEY=contract-key \
  WATTLINE_BILLING__WEBHOOK_SECRET=whsec_contract_run "$target/debug/wattline" serve &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.1
done
token="$(curl -fs -X POST -H 'content-type: application/json' \
  -d '{"email":"contract@example.com","password":"Contract-Password-2026!"}' \
  "http://127.0.0.1:$port/api/v1/auth/signup" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --exclude-path /api/v1/prices/stream --exclude-path /api/v1/compliance/gdpr/delete-my-data \
  --exclude-path /api/v1/auth/signout \
  -H "X-API-Key: contract-key" -H "Authorization: Bearer $token" --max-examples 50 --seed 1
