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
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
DURATION="${BENCH_DURATION:-15s}"
PG_DB="trasealla_bench"
LOGIN_LUA="$BENCH_DIR/login.lua"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

# The one tenant each backend gets; login.lua reads these from the environment.
export BENCH_USERNAME="owner@bench.example"
export BENCH_PASSWORD="BenchPass-123456"
COMPANY="Bench Co"
FULL_NAME="Bench Owner"

bench_prereqs
BIN_SIZE="$(stat -c %s "$BIN")"
print_header

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

# bench_wrk backend label connections wrk-args...: one wrk run, its row of
# the summary, and the server's memory after it.
ROWS=()
bench_wrk() {
    local backend="$1" label="$2" conns="$3"; shift 3
    run_wrk "$backend $label" "$conns" "$DURATION" "$@"
    server_alive "$backend" "$label"
    local rss_after peak
    rss_after="$(rss_kib "$SERVER_PID" VmRSS)"
    peak="$(rss_kib "$SERVER_PID" VmHWM)"
    log "[$backend] RSS after $label: $(mib "$rss_after") (peak so far $(mib "$peak"))"
    ROWS+=("| $backend | $label | $conns | $WRK_RPS | $WRK_P50 | $WRK_P99 | $(mib "$IDLE_RSS_KIB") | $(mib "$rss_after") | $WRK_TOTAL |")
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
            pg_fresh_db "$PG_DB"
            url="$PG_SERVER_URL/$PG_DB"
            ;;
        *) die "unknown backend $backend" ;;
    esac

    start_server "$backend" "$url"
    register_tenant "$backend"

    bench_wrk "$backend" "GET /api/tenants/current" 32 \
        -H "Authorization: Bearer $TOKEN" "$BASE/api/tenants/current"
    bench_wrk "$backend" "POST /api/auth/login" 8 \
        -s "$LOGIN_LUA" "$BASE/api/auth/login"

    stop_server "$backend"
    report_server_log "$backend"

    case "$backend" in
        sqlite) rm -rf "$WORK/sqlite" ;;
        postgres) pg_drop_db "$PG_DB" ;;
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
