# Sourced by .ci/run: a real SMTP server on loopback for the email tests — aiosmtpd (PyPI, in the
# CI venv under target/) with its Maildir handler, so tests read what it received from
# $TEST_SMTP_DIR/new. Exports TEST_SMTP_URL and TEST_SMTP_DIR; the server stops with the shell.
ci_venv="${CARGO_TARGET_DIR:-target}/ci-venv"
[ -x "$ci_venv/bin/python" ] || python3 -m venv "$ci_venv"
"$ci_venv/bin/python" -c 'import aiosmtpd' 2>/dev/null \
  || "$ci_venv/bin/pip" install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6'
smtp_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
smtp_dir="$(mktemp -d)/maildir"
"$ci_venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$smtp_dir" &
smtp_pid=$!
trap 'kill $smtp_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $smtp_port), 1)" 2>/dev/null && break
  sleep 0.1
done
export TEST_SMTP_URL="smtp://127.0.0.1:$smtp_port"
export TEST_SMTP_DIR="$smtp_dir"
