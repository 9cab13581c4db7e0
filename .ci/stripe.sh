# Sourced by .ci/run: a fake Stripe API on loopback for the billing tests — localstripe (PyPI, in
# the CI venv under target/). It serves /v1/customers (create/retrieve/DELETE) and answers 404 for
# what it does not implement (Checkout and Billing Portal sessions). Any secret key of the form
# `sk_<at least 3 chars>` is accepted. Exports TEST_STRIPE_URL (no trailing slash); the server stops
# with the shell, alongside whatever EXIT trap is already set (smtp.sh sets one).
ci_venv="${CARGO_TARGET_DIR:-target}/ci-venv"
[ -x "$ci_venv/bin/python" ] || python3 -m venv "$ci_venv"
"$ci_venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("localstripe") != "1.15.10")' 2>/dev/null \
  || "$ci_venv/bin/pip" install --quiet --disable-pip-version-check 'localstripe==1.15.10'
stripe_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# Not the `localstripe` entry point: that binds every interface ('::') and loads/saves its store in
# the fixed file /tmp/localstripe.pickle. This serves the same app on 127.0.0.1 only, from memory.
"$ci_venv/bin/python" -c '
import sys
from aiohttp import web
import localstripe.resources
from localstripe.server import app
localstripe.resources.Store.dump_to_disk = lambda self: None
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
' "$stripe_port" &
stripe_pid=$!
# Keep the EXIT trap already set (smtp.sh's) and add ours to it.
eval "ci_prev_exit_trap=($(trap -p EXIT))"
trap "${ci_prev_exit_trap[2]:+${ci_prev_exit_trap[2]}; }kill $stripe_pid 2>/dev/null || true" EXIT
unset ci_prev_exit_trap
for _ in $(seq 1 200); do
  # Any HTTP answer (401 without a key) means it is serving.
  python3 -c "
import urllib.request, urllib.error
try: urllib.request.urlopen('http://127.0.0.1:$stripe_port/v1/customers', timeout=1)
except urllib.error.HTTPError: pass" 2>/dev/null && break
  sleep 0.1
done
export TEST_STRIPE_URL="http://127.0.0.1:$stripe_port"
