# Shared helpers of the benchmark scripts (bench/run.sh, crm.sh, import.sh).
# Sourced, never run: the caller sets `set -Eeuo pipefail`, ROOT and
# BENCH_DIR, then sources this file, which
#   - makes the temporary directory $WORK,
#   - installs the EXIT trap (stops only the server this script started,
#     only the RSS sampler it started, drops only the databases it created),
#   - offers start_server / stop_server / run_wrk / RSS helpers.
# bench/run.sh uses it too.

BIN="${BENCH_BIN:-$ROOT/target/release/trasealla}"
PG_SERVER_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"

WORK="$(mktemp -d /tmp/trasealla-bench.XXXXXX)"
SERVER_PID=""
SAMPLER_PID=""
PG_DBS=()           # databases this script created (dropped by cleanup)
SERVER_LOG_ISSUES=()

log()  { printf '==> %s\n' "$*" >&2; }
die()  { printf '\n!!! BENCH FAILED: %s\n' "$*" >&2; exit 1; }

proc_state() { awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo gone; }
rss_kib()    { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib()        { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }
loadavg()    { cut -d' ' -f1-3 /proc/loadavg; }

# psql as the postgres superuser on the benchmark's PostgreSQL server.
pg_host_args() {
    python3 - "$PG_SERVER_URL" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(f"-h {u.hostname or '127.0.0.1'} -p {u.port or 5432} -U {u.username or 'postgres'}")
EOF
}
PSQL_ARGS=""
psql_db() { # database psql-args...
    local db="$1"; shift
    [[ -n "$PSQL_ARGS" ]] || PSQL_ARGS="$(pg_host_args)"
    # shellcheck disable=SC2086
    psql -X -q -v ON_ERROR_STOP=1 $PSQL_ARGS -d "$db" "$@"
}

# ---------------------------------------------------------------- clean-up ---
stop_pid_quietly() {
    local pid="$1"
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        [[ "$(proc_state "$pid")" == Z ]] && break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    trap - ERR
    if [[ -n "$SAMPLER_PID" ]]; then
        stop_pid_quietly "$SAMPLER_PID"
    fi
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        log "cleanup: stopping server pid $SERVER_PID"
        stop_pid_quietly "$SERVER_PID"
    fi
    local db
    for db in "${PG_DBS[@]}"; do
        psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    done
    if (( rc != 0 )); then
        mkdir -p /tmp/trasealla-bench-failed && cp "$WORK"/server-*.log /tmp/trasealla-bench-failed/ 2>/dev/null
        log "cleanup: server logs kept in /tmp/trasealla-bench-failed"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
# A command that fails under `set -e` says so before the script ends.
trap 'printf "\n!!! BENCH FAILED: line %s: \"%s\" exited with status %s\n" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------- prerequisites ---
bench_prereqs() { # extra tools...
    if ! command -v wrk >/dev/null 2>&1; then
        log "installing wrk (apt-get)"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
    fi
    local tool
    for tool in wrk curl python3 psql "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
    done
    if [[ -z "${BENCH_BIN:-}" ]] && [[ ! -x "$BIN" || "${BENCH_REBUILD:-0}" == 1 ]]; then
        log "building the release binary (cargo build --release)"
        (cd "$ROOT" && cargo build --release)
    fi
    [[ -x "$BIN" ]] || die "no binary at $BIN"
}

print_header() {
    local size
    size="$(stat -c %s "$BIN")"
    echo
    echo "binary:       $BIN"
    echo "binary size:  $size bytes ($(mib $((size / 1024))))"
    if [[ -n "${BENCH_BIN:-}" ]]; then
        echo "binary from:  BENCH_BIN (not built by this script)"
    else
        echo "source tree:  $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [[ -n "$(git status --porcelain -- src Cargo.toml Cargo.lock migrations 2>/dev/null)" ]] && echo ' (+ uncommitted changes in the working tree)')"
    fi
    echo "binary mtime: $(stat -c %y "$BIN")"
    echo "machine:      $(nproc) CPU(s), load average $(loadavg)"
    echo "wrk:          $({ wrk -v 2>&1 || true; } | head -n1)"
    echo
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ----------------------------------------------------------- databases ---
# pg_fresh_db name: drop and create; remembered for cleanup. Prints the URL.
pg_fresh_db() {
    local db="$1"
    log "[postgres] fresh database $db"
    PG_DBS+=("$db")
    psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" \
        || die "[postgres] cannot create $db"
}

pg_drop_db() {
    local db="$1" keep=() d
    psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || die "[postgres] cannot drop $db"
    for d in "${PG_DBS[@]}"; do [[ "$d" == "$db" ]] || keep+=("$d"); done
    PG_DBS=("${keep[@]}")
}

# ------------------------------------------------------------ server life ---
# start_server label database_url: sets PORT, BASE, SERVER_LOG, SERVER_PID,
# IDLE_RSS_KIB. Extra environment for the server: SERVER_ENV (array of
# NAME=value).
SERVER_ENV=()
SERVER_STARTS=0
start_server() {
    local label="$1" url="$2"
    PORT="$(free_port)"
    BASE="http://127.0.0.1:$PORT"
    SERVER_STARTS=$((SERVER_STARTS + 1))
    SERVER_LOG="$WORK/server-${SERVER_STARTS}-${label//[^a-z0-9]/_}.log"
    log "[$label] starting server on 127.0.0.1:$PORT"
    # A load generator signs up many tenants from one address: lift the
    # per-address sign-up throttle; and it drives one tenant as hard as
    # the server goes: lift the per-tenant connection cap (SERVER_ENV may
    # still set either).
    env TRASEALLA_SIGNUPS_PER_HOUR=1000000 TRASEALLA_AVAILABILITY_PER_MINUTE=1000000 \
        TRASEALLA_TENANT_MAX_CONNECTIONS=1000000 \
        "${SERVER_ENV[@]}" DATABASE_URL="$url" TRASEALLA_LISTEN="127.0.0.1:$PORT" \
        TRASEALLA_LOG_FORMAT=text RUST_LOG=warn "$BIN" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null --max-time 2 "$BASE/healthz"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null || [[ "$(proc_state "$SERVER_PID")" == Z ]]; then
            cat "$SERVER_LOG" >&2
            die "[$label] the server exited before answering /healthz"
        fi
        (( SECONDS < deadline )) || { cat "$SERVER_LOG" >&2; die "[$label] no /healthz after 60 s"; }
        sleep 0.2
    done
    sleep 2 # let start-up work settle before measuring idle memory
    IDLE_RSS_KIB="$(rss_kib "$SERVER_PID" VmRSS)"
    log "[$label] up, pid $SERVER_PID, idle RSS $(mib "$IDLE_RSS_KIB")"
}

stop_server() { # label
    local label="$1" rc=0
    log "[$label] SIGTERM to pid $SERVER_PID"
    kill -TERM "$SERVER_PID"
    local deadline=$((SECONDS + 20))
    while kill -0 "$SERVER_PID" 2>/dev/null && [[ "$(proc_state "$SERVER_PID")" != Z ]]; do
        if (( SECONDS >= deadline )); then
            kill -KILL "$SERVER_PID" 2>/dev/null || true
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            die "[$label] the server did not stop within 20 s of SIGTERM"
        fi
        sleep 0.1
    done
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    [[ "$rc" == 0 ]] || { tail -n 40 "$SERVER_LOG" >&2; die "[$label] the server exited with status $rc after SIGTERM (expected 0)"; }
    log "[$label] server exited with status 0"
}

server_alive() { # label what
    kill -0 "$SERVER_PID" 2>/dev/null && [[ "$(proc_state "$SERVER_PID")" != Z ]] \
        || { tail -n 40 "$SERVER_LOG" >&2; die "[$1] the server died during $2"; }
}

# Resets the server's VmHWM to its current RSS (Linux >= 4.0, as root or the
# owner), so a later VmHWM is the peak of what followed. Prints 1 when it
# worked, 0 when the kernel refused (VmHWM then covers the whole life).
reset_peak_rss() {
    if { echo 5 >"/proc/$SERVER_PID/clear_refs"; } 2>/dev/null; then echo 1; else echo 0; fi
}

# Warnings and errors the server logged (RUST_LOG=warn keeps only those).
report_server_log() { # label
    local label="$1" n
    n="$(grep -cE 'WARN|ERROR|panicked' "$SERVER_LOG" || true)"
    if (( n > 0 )); then
        echo "[$label] the server logged $n warning/error line(s); first 10:"
        grep -E 'WARN|ERROR|panicked' "$SERVER_LOG" | head -n 10 | sed 's/^/    /'
        SERVER_LOG_ISSUES+=("$label: $n warning/error line(s) in the server log")
    else
        echo "[$label] server log: no warnings or errors"
    fi
}

# ------------------------------------------------------------ RSS sampling ---
# start_rss_sampler file interval: VmRSS (KiB) of the server every interval
# seconds, one line each, until stop_rss_sampler.
start_rss_sampler() {
    local out="$1" every="$2" pid="$SERVER_PID"
    : >"$out"
    (
        trap 'exit 0' TERM
        while [[ -r "/proc/$pid/status" ]]; do
            awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status" >>"$out" 2>/dev/null
            sleep "$every"
        done
    ) &
    SAMPLER_PID=$!
}
stop_rss_sampler() {
    [[ -n "$SAMPLER_PID" ]] || return 0
    stop_pid_quietly "$SAMPLER_PID"
    SAMPLER_PID=""
}
# max_kib file: the largest sample.
max_kib() { awk 'BEGIN {m = 0} $1 > m {m = $1} END {print m}' "$1"; }

# ---------------------------------------------------------------- helpers ---
# curl that prints the status code and leaves the body in $WORK/body.json.
http() { curl -sS --max-time 30 -o "$WORK/body.json" -w '%{http_code}' "$@"; }
json_get() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval("d" + sys.argv[2]))' "$WORK/body.json" "$1"; }
# expect_code label what expected actual: dies with the body shown.
expect_code() {
    [[ "$4" == "$3" ]] || { cat "$WORK/body.json" >&2; echo >&2; die "[$1] $2 answered $4, expected $3"; }
}

# wrk latency ("850.00us", "1.23ms", "2.01s", "1.00m") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

# run_wrk label connections duration wrk-args...: runs wrk, fails loudly on
# non-2xx responses or socket errors, and sets WRK_RPS, WRK_P50, WRK_P99
# (as wrk prints them), WRK_P50_MS, WRK_P99_MS, WRK_TOTAL, WRK_OUT.
run_wrk() {
    local label="$1" conns="$2" duration="$3"; shift 3
    WRK_OUT="$WORK/wrk-${label//[^a-zA-Z0-9]/_}.txt"
    log "wrk $label: -t2 -c$conns -d$duration (load average before: $(loadavg))"
    wrk -t2 -c"$conns" -d"$duration" --latency "$@" >"$WRK_OUT" 2>&1 || { cat "$WRK_OUT" >&2; die "$label: wrk failed"; }
    sed 's/^/    /' "$WRK_OUT"

    local non2xx sockerr
    WRK_RPS="$(awk '/^Requests\/sec:/ {print $2}' "$WRK_OUT")"
    WRK_P50="$(awk '$1 == "50%" {print $2}' "$WRK_OUT")"
    WRK_P99="$(awk '$1 == "99%" {print $2}' "$WRK_OUT")"
    WRK_TOTAL="$(awk '/requests in/ {print $1}' "$WRK_OUT")"
    non2xx="$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$WRK_OUT")"
    sockerr="$(grep -E 'Socket errors' "$WRK_OUT" | sed 's/^ *//' || true)"
    [[ -n "$WRK_RPS" && -n "$WRK_P50" && -n "$WRK_P99" && -n "$WRK_TOTAL" ]] || die "cannot parse wrk output for $label"
    (( WRK_TOTAL > 0 )) || die "$label: wrk completed no request"
    if [[ -n "$non2xx" && "$non2xx" != 0 ]]; then
        die "$label: $non2xx of $WRK_TOTAL responses were not 2xx/3xx (see the wrk output above and $SERVER_LOG)"
    fi
    [[ -z "$sockerr" ]] || die "$label: $sockerr"
    WRK_P50_MS="$(to_ms "$WRK_P50")"
    WRK_P99_MS="$(to_ms "$WRK_P99")"
}
