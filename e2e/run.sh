#!/usr/bin/env bash
# The browser suite: builds the server, makes sure Debian's Chromium and the
# one npm package (playwright-core, pinned in package-lock.json) are there,
# and runs e2e/run.mjs against a fresh server. Loopback only; the server it
# starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null 2>&1 || { echo "FATAL: node is required for the browser suite" >&2; exit 1; }

(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
cargo build --quiet
node e2e/run.mjs
