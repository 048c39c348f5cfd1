#!/usr/bin/env bash
# Load benchmark for trasealla: SQLite and PostgreSQL, loopback only, every
# load bounded in time.  See bench/README.md.
#
#   bash bench/run.sh
#
# Knobs (environment, all optional):
#   BENCH_BACKENDS   backends to run, default "sqlite postgres"
#   BENCH_DURATION   length of each wrk run, default 15s
#   BENCH_PG_URL     server URL of PostgreSQL, default postgres://postgres@127.0.0.1:5432
#   BENCH_REBUILD=1  run `cargo build --release` even when the binary exists
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
BIN="$ROOT/target/release/trasealla"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
DURATION="${BENCH_DURATION:-15s}"
PG_SERVER_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
PG_DB="trasealla_bench"
LOGIN_LUA="$BENCH_DIR/login.lua"

# The one tenant each backend gets; login.lua reads these from the environment.
export BENCH_USERNAME="owner@bench.example"
export BENCH_PASSWORD="BenchPass-123456"
COMPANY="Bench Co"
FULL_NAME="Bench Owner"

WORK="$(mktemp -d /tmp/trasealla-bench.XXXXXX)"
SERVER_PID=""
PG_CREATED=0
ROWS=()

log()  { printf '==> %s\n' "$*" >&2; }
die()  { printf '\n!!! BENCH FAILED: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- clean-up ---
# Whatever happens, stop the server this script started (only that PID) and
# remove the temporary database(s).
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        log "cleanup: stopping server pid $SERVER_PID"
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            [[ "$(proc_state "$SERVER_PID")" == Z ]] && break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if (( PG_CREATED )); then
        psql -X -q -h 127.0.0.1 -U postgres -d postgres \
            -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
    fi
    if (( rc != 0 )); then
        # Keep the server logs of a failed run where they can be read.
        mkdir -p /tmp/trasealla-bench-failed && cp "$WORK"/server-*.log /tmp/trasealla-bench-failed/ 2>/dev/null
        log "cleanup: server logs kept in /tmp/trasealla-bench-failed"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

proc_state() { awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo gone; }
rss_kib()    { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib()        { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }

# ----------------------------------------------------------- prerequisites ---
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (apt-get)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
fi
for tool in wrk curl python3 psql; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

if [[ ! -x "$BIN" || "${BENCH_REBUILD:-0}" == 1 ]]; then
    log "building the release binary (cargo build --release)"
    (cd "$ROOT" && cargo build --release)
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

BIN_SIZE="$(stat -c %s "$BIN")"
echo
echo "binary:      $BIN"
echo "binary size: $BIN_SIZE bytes ($(mib $((BIN_SIZE / 1024))))"
echo "source tree: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [[ -n "$(git status --porcelain -- src Cargo.toml Cargo.lock migrations 2>/dev/null)" ]] && echo ' (+ uncommitted changes in the working tree)')"
echo "binary mtime: $(stat -c %y "$BIN")"
echo "machine:     $(nproc) CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk:         $(wrk -v 2>&1 | head -n1)"
echo

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------ server life ---
start_server() { # backend database_url
    local backend="$1" url="$2"
    PORT="$(free_port)"
    BASE="http://127.0.0.1:$PORT"
    SERVER_LOG="$WORK/server-$backend.log"
    log "[$backend] starting server on 127.0.0.1:$PORT"
    DATABASE_URL="$url" TRASEALLA_LISTEN="127.0.0.1:$PORT" TRASEALLA_LOG_FORMAT=text \
        RUST_LOG=warn "$BIN" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null --max-time 2 "$BASE/healthz"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null || [[ "$(proc_state "$SERVER_PID")" == Z ]]; then
            cat "$SERVER_LOG" >&2
            die "[$backend] the server exited before answering /healthz"
        fi
        (( SECONDS < deadline )) || { cat "$SERVER_LOG" >&2; die "[$backend] no /healthz after 60 s"; }
        sleep 0.2
    done
    sleep 2 # let start-up work settle before measuring idle memory
    IDLE_RSS_KIB="$(rss_kib "$SERVER_PID" VmRSS)"
    log "[$backend] up, pid $SERVER_PID, idle RSS $(mib "$IDLE_RSS_KIB")"
}

stop_server() { # backend
    local backend="$1" rc=0
    log "[$backend] SIGTERM to pid $SERVER_PID"
    kill -TERM "$SERVER_PID"
    local deadline=$((SECONDS + 20))
    while kill -0 "$SERVER_PID" 2>/dev/null && [[ "$(proc_state "$SERVER_PID")" != Z ]]; do
        if (( SECONDS >= deadline )); then
            kill -KILL "$SERVER_PID" 2>/dev/null || true
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            die "[$backend] the server did not stop within 20 s of SIGTERM"
        fi
        sleep 0.1
    done
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    [[ "$rc" == 0 ]] || { tail -n 40 "$SERVER_LOG" >&2; die "[$backend] the server exited with status $rc after SIGTERM (expected 0)"; }
    log "[$backend] server exited with status 0"
}

# Warnings and errors the server logged (RUST_LOG=warn keeps only those).
report_server_log() { # backend
    local backend="$1" n
    n="$(grep -cE 'WARN|ERROR|panicked' "$SERVER_LOG" || true)"
    if (( n > 0 )); then
        echo "[$backend] the server logged $n warning/error line(s); first 10:"
        grep -E 'WARN|ERROR|panicked' "$SERVER_LOG" | head -n 10 | sed 's/^/    /'
        SERVER_LOG_ISSUES+=("$backend: $n warning/error line(s) in the server log")
    else
        echo "[$backend] server log: no warnings or errors"
    fi
}
SERVER_LOG_ISSUES=()

# ---------------------------------------------------------------- helpers ---
# curl that prints the status code and leaves the body in $WORK/body.json.
http() { curl -sS --max-time 10 -o "$WORK/body.json" -w '%{http_code}' "$@"; }
json_get() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval("d" + sys.argv[2]))' "$WORK/body.json" "$1"; }

register_tenant() { # backend
    local backend="$1" code body
    body="$(python3 -c 'import json, sys; print(json.dumps({"company_name": sys.argv[1], "email": sys.argv[2], "password": sys.argv[3], "full_name": sys.argv[4]}))' \
        "$COMPANY" "$BENCH_USERNAME" "$BENCH_PASSWORD" "$FULL_NAME")"
    code="$(http -X POST -H 'Content-Type: application/json' --data "$body" "$BASE/api/tenants/register")"
    [[ "$code" == 201 ]] || { cat "$WORK/body.json" >&2; echo >&2; die "[$backend] register answered $code, expected 201"; }
    TOKEN="$(json_get '["data"]["token"]')"
    [[ -n "$TOKEN" ]] || die "[$backend] no token in the register response"
    log "[$backend] registered tenant '$(json_get '["data"]["tenant"]["slug"]')', got a token"

    # One request of each kind by hand, so a broken endpoint fails here with
    # its body shown rather than as a bare non-2xx count.
    code="$(http -H "Authorization: Bearer $TOKEN" "$BASE/api/tenants/current")"
    [[ "$code" == 200 ]] || { cat "$WORK/body.json" >&2; echo >&2; die "[$backend] GET /api/tenants/current answered $code"; }
    code="$(http -X POST -H 'Content-Type: application/json' \
        --data "{\"username\":\"$BENCH_USERNAME\",\"password\":\"$BENCH_PASSWORD\"}" "$BASE/api/auth/login")"
    [[ "$code" == 200 ]] || { cat "$WORK/body.json" >&2; echo >&2; die "[$backend] POST /api/auth/login answered $code"; }
}

# run_wrk backend label connections wrk-args...
run_wrk() {
    local backend="$1" label="$2" conns="$3"; shift 3
    local out="$WORK/wrk-$backend-${label//[^a-z]/_}.txt"
    log "[$backend] wrk $label: -t2 -c$conns -d$DURATION (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
    wrk -t2 -c"$conns" -d"$DURATION" --latency "$@" >"$out" 2>&1 || { cat "$out" >&2; die "[$backend] wrk failed"; }
    sed 's/^/    /' "$out"

    local rps p50 p99 total non2xx sockerr
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(awk '$1 == "50%" {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    total="$(awk '/requests in/ {print $1}' "$out")"
    non2xx="$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")"
    sockerr="$(grep -E 'Socket errors' "$out" | sed 's/^ *//' || true)"
    [[ -n "$rps" && -n "$p50" && -n "$p99" && -n "$total" ]] || die "[$backend] cannot parse wrk output for $label"
    (( total > 0 )) || die "[$backend] $label: wrk completed no request"
    if [[ -n "$non2xx" && "$non2xx" != 0 ]]; then
        die "[$backend] $label: $non2xx of $total responses were not 2xx/3xx (see the wrk output above and $SERVER_LOG)"
    fi
    if [[ -n "$sockerr" ]]; then
        die "[$backend] $label: $sockerr"
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "[$backend] the server died during $label"
    local rss_after peak
    rss_after="$(rss_kib "$SERVER_PID" VmRSS)"
    peak="$(rss_kib "$SERVER_PID" VmHWM)"
    log "[$backend] RSS after $label: $(mib "$rss_after") (peak so far $(mib "$peak"))"
    ROWS+=("| $backend | $label | $conns | $rps | $p50 | $p99 | $(mib "$IDLE_RSS_KIB") | $(mib "$rss_after") | $total |")
}

# ---------------------------------------------------------------- backends ---
bench_backend() { # backend
    local backend="$1" url
    echo
    echo "------------------------------------------------------------ $backend"
    case "$backend" in
        sqlite)
            mkdir -p "$WORK/sqlite"
            url="sqlite://$WORK/sqlite/bench.db"
            ;;
        postgres)
            log "[postgres] fresh database $PG_DB"
            PG_CREATED=1
            psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres \
                -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" \
                -c "CREATE DATABASE $PG_DB" || die "[postgres] cannot create $PG_DB"
            url="$PG_SERVER_URL/$PG_DB"
            ;;
        *) die "unknown backend $backend" ;;
    esac

    start_server "$backend" "$url"
    register_tenant "$backend"

    run_wrk "$backend" "GET /api/tenants/current" 32 \
        -H "Authorization: Bearer $TOKEN" "$BASE/api/tenants/current"
    run_wrk "$backend" "POST /api/auth/login" 8 \
        -s "$LOGIN_LUA" "$BASE/api/auth/login"

    stop_server "$backend"
    report_server_log "$backend"

    case "$backend" in
        sqlite) rm -rf "$WORK/sqlite" ;;
        postgres)
            psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres \
                -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || die "[postgres] cannot drop $PG_DB"
            PG_CREATED=0
            ;;
    esac
}

for backend in $BACKENDS; do
    bench_backend "$backend"
done

# ----------------------------------------------------------------- summary ---
echo
echo "## trasealla load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "binary $BIN_SIZE bytes; $(nproc) CPU(s); wrk -t2 -d$DURATION --latency, loopback; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| backend | endpoint | concurrency | req/s | p50 | p99 | idle RSS | RSS after run | requests |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
if (( ${#SERVER_LOG_ISSUES[@]} )); then
    echo "server log issues:"
    printf -- '- %s\n' "${SERVER_LOG_ISSUES[@]}"
else
    echo "no non-2xx responses, no socket errors, no server warnings/errors; every server stopped with status 0 on SIGTERM"
fi
