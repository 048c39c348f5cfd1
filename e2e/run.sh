#!/usr/bin/env bash
# The browser suite: builds the server, makes sure Debian's Chromium and the
# one npm package (playwright-core, pinned in package-lock.json) are there,
# starts the SMTP sink of the e-mail tests (tests/mail/sink.py) for the mail
# the journey reads, and runs e2e/run.mjs against a fresh server. Loopback
# only; the server and the sink it starts are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null 2>&1 || { echo "FATAL: node is required for the browser suite" >&2; exit 1; }

# The sink runs on aiosmtpd, at the version the test suite pins, installed
# into <target>/pytools as the tests and .ci/run do.
AIOSMTPD_VERSION="$(sed -n 's/^pub const AIOSMTPD_VERSION: &str = "\(.*\)";$/\1/p' tests/api/support/mail.rs)"
[ -n "$AIOSMTPD_VERSION" ] || { echo "FATAL: no AIOSMTPD_VERSION in tests/api/support/mail.rs" >&2; exit 1; }
TARGET="${CARGO_TARGET_DIR:-target}"
case "$TARGET" in /*) ;; *) TARGET="$(pwd)/$TARGET" ;; esac
AIOSMTPD_DIR="$TARGET/pytools/aiosmtpd-$AIOSMTPD_VERSION"
SINK_PYTHONPATH="$AIOSMTPD_DIR${PYTHONPATH:+:$PYTHONPATH}"
if ! PYTHONPATH="$SINK_PYTHONPATH" python3 -c 'import aiosmtpd.smtp' 2>/dev/null; then
    echo "installing aiosmtpd $AIOSMTPD_VERSION into $AIOSMTPD_DIR (pip)"
    rm -rf "$AIOSMTPD_DIR.e2e"
    mkdir -p "$(dirname "$AIOSMTPD_DIR")"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
        --target "$AIOSMTPD_DIR.e2e" "aiosmtpd==$AIOSMTPD_VERSION" \
        || { echo "FATAL: the browser suite needs Python 3 with aiosmtpd==$AIOSMTPD_VERSION" >&2; exit 1; }
    rm -rf "$AIOSMTPD_DIR"
    mv -T "$AIOSMTPD_DIR.e2e" "$AIOSMTPD_DIR"
fi

(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
cargo build --quiet

# The sink files into a maildir of this run (removed when it exits) and
# exits when its standard input closes: when this script ends, however it
# ends. It prints "PORT <n>" once it listens.
MAILDIR="$(mktemp -d "${TMPDIR:-/tmp}/trasealla-e2e-mail-XXXXXX")"
coproc SINK { PYTHONPATH="$SINK_PYTHONPATH" exec python3 tests/mail/sink.py 0 "$MAILDIR" --remove-on-exit; }
SINK_OUT=${SINK[0]}
SINK_IN=${SINK[1]}
SINK_PROC=$SINK_PID
stop_sink() {
    eval "exec ${SINK_IN}>&-" 2>/dev/null || true
    for _ in $(seq 1 20); do
        kill -0 "$SINK_PROC" 2>/dev/null || break
        sleep 0.1
    done
    kill "$SINK_PROC" 2>/dev/null || true
    wait "$SINK_PROC" 2>/dev/null || true
    rm -rf "$MAILDIR"
}
trap stop_sink EXIT
SINK_PORT=""
if read -r -t 60 word port <&"$SINK_OUT" && [ "$word" = PORT ]; then
    SINK_PORT="$port"
fi
[ -n "$SINK_PORT" ] || { echo "FATAL: the SMTP sink did not start" >&2; exit 1; }
echo "SMTP sink on 127.0.0.1:$SINK_PORT, filing into $MAILDIR"

# The server run.mjs starts sends through the sink and looks for due jobs
# often, so a message is there a moment after the page that queued it.
TRASEALLA_SMTP_URL="smtp://127.0.0.1:$SINK_PORT?tls=none" \
    TRASEALLA_JOB_POLL_MS=100 \
    E2E_MAILDIR="$MAILDIR" \
    TRASEALLA_BIN="${TRASEALLA_BIN:-$TARGET/debug/trasealla}" \
    node e2e/run.mjs
