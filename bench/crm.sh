#!/usr/bin/env bash
# CRM load benchmark: N tenants x M contacts (with companies, deals and
# activities), then wrk on the contact list (first and deep page), one
# contact, contact creation and search, each request as a random tenant.
# Loopback only, every load bounded in time. See bench/README.md.
#
#   bash bench/crm.sh
#
# Knobs (environment, all optional):
#   BENCH_BACKEND      postgres (default) or sqlite
#   BENCH_TENANTS      tenants to register, default 1000
#   BENCH_CONTACTS     contacts per tenant, default 1000 (and a tenth as many
#                      companies, a quarter as many deals and activities)
#   BENCH_DURATION     length of each wrk run, default 15s
#   BENCH_CONNECTIONS  wrk connections, default 32
#   BENCH_WARMUP       an unreported wrk run before each measured one, default
#                      3s (0: none); warms caches and prepared statements
#   BENCH_SAMPLE       tenants whose deep-page cursor is found, default 50
#   BENCH_PAGE         the deep page, default 100 (of limit=10)
#   BENCH_PG_URL       PostgreSQL server, default postgres://postgres@127.0.0.1:5432
#   BENCH_BIN          the server binary to use (default target/release/trasealla,
#                      built with cargo build --release when missing)
#   BENCH_REBUILD=1    rebuild even when the binary exists (not with BENCH_BIN)
#   BENCH_KEEP_DB=1    leave the PostgreSQL database trasealla_bench_crm in
#                      place after the run (for EXPLAIN); dropped otherwise
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

BACKEND="${BENCH_BACKEND:-postgres}"
TENANTS="${BENCH_TENANTS:-1000}"
CONTACTS="${BENCH_CONTACTS:-1000}"
DURATION="${BENCH_DURATION:-15s}"
CONNS="${BENCH_CONNECTIONS:-32}"
WARMUP="${BENCH_WARMUP:-3s}"
SAMPLE="${BENCH_SAMPLE:-50}"
PAGE="${BENCH_PAGE:-100}"
PAGE_LIMIT=10
PG_DB="trasealla_bench_crm"
SEED="$BENCH_DIR/crm_seed.py"
LUA="$BENCH_DIR/crm.lua"

# Targets of the issue.
P99_TARGET_MS=25
RSS_TARGET_MIB=100
PAGE_RATIO_TARGET=1.5

(( PAGE * PAGE_LIMIT <= CONTACTS )) \
    || die "BENCH_CONTACTS=$CONTACTS has no page $PAGE of limit=$PAGE_LIMIT; set BENCH_PAGE=$((CONTACTS / PAGE_LIMIT)) or fewer"
case "$BACKEND" in postgres|sqlite) ;; *) die "BENCH_BACKEND must be postgres or sqlite" ;; esac

bench_prereqs
[[ "$BACKEND" != sqlite ]] || python3 -c 'import sqlite3' || die "python3 lacks sqlite3"
print_header

# ------------------------------------------------------------- the server ---
echo "------------------------------------------------------------ $BACKEND: $TENANTS tenants x $CONTACTS contacts"
case "$BACKEND" in
    postgres)
        pg_fresh_db "$PG_DB"
        if [[ "${BENCH_KEEP_DB:-0}" == 1 ]]; then
            PG_DBS=() # keep it: the run's data stays for EXPLAIN
            log "[postgres] BENCH_KEEP_DB=1: $PG_DB stays after the run"
        fi
        DB_URL="$PG_SERVER_URL/$PG_DB"
        ;;
    sqlite)
        mkdir -p "$WORK/sqlite"
        SQLITE_DB="$WORK/sqlite/bench.db"
        DB_URL="sqlite://$SQLITE_DB"
        ;;
esac
start_server "$BACKEND" "$DB_URL"

# ------------------------------------------------------------ the data set ---
LOAD_START=$SECONDS
log "[$BACKEND] registering $TENANTS tenants through the API (${BENCH_REGISTER_CONCURRENCY:-8} at a time)"
python3 "$SEED" register "$BASE" "$TENANTS" "$WORK/tenants.tsv"
REGISTER_SECS=$((SECONDS - LOAD_START))
server_alive "$BACKEND" "registration"

BULK_START=$SECONDS
log "[$BACKEND] bulk-loading $CONTACTS contacts, $((CONTACTS / 10)) companies, $((CONTACTS / 4)) deals and $((CONTACTS / 4)) activities per tenant"
case "$BACKEND" in
    postgres)
        python3 "$SEED" pg-sql "$CONTACTS" >"$WORK/load.sql"
        psql_db "$PG_DB" -f "$WORK/load.sql" 2>&1 | sed 's/^/    /'
        ;;
    sqlite)
        python3 "$SEED" sqlite-load "$SQLITE_DB" "$CONTACTS"
        ;;
esac
BULK_SECS=$((SECONDS - BULK_START))
LOAD_SECS=$((SECONDS - LOAD_START))
log "[$BACKEND] data set loaded in ${LOAD_SECS} s (registration ${REGISTER_SECS} s, bulk load + ANALYZE ${BULK_SECS} s)"

# A fresh server for the load: registration hashes passwords with argon2
# (19 MiB each, two at a time), and the allocator keeps some of that for a
# while; the CRM endpoints should be measured without it.
LOAD_PHASE_PEAK_KIB="$(rss_kib "$SERVER_PID" VmHWM)"
LOAD_PHASE_RSS_KIB="$(rss_kib "$SERVER_PID" VmRSS)"
log "[$BACKEND] server RSS after the data load $(mib "$LOAD_PHASE_RSS_KIB"), peak $(mib "$LOAD_PHASE_PEAK_KIB"); restarting it for the load"
stop_server "$BACKEND"
report_server_log "$BACKEND (data load)"
start_server "$BACKEND" "$DB_URL"

log "[$BACKEND] one contact per tenant, and the page-$PAGE cursors of $SAMPLE tenants"
TARGETS_START=$SECONDS
python3 "$SEED" targets "$BASE" "$WORK/tenants.tsv" "$WORK/tokens.txt" "$WORK/cursors.txt" \
    "$SAMPLE" "$PAGE" "$PAGE_LIMIT"
TARGETS_SECS=$((SECONDS - TARGETS_START))
awk '{print $1, "-"}' "$WORK/cursors.txt" >"$WORK/first-pages.txt"
TERMS="$(python3 "$SEED" terms)"

# ------------------------------------------------- every endpoint by hand ---
read -r TOKEN CONTACT_ID < "$WORK/tokens.txt"
read -r CTOKEN CURSOR < "$WORK/cursors.txt"
auth=(-H "Authorization: Bearer $TOKEN")
code="$(http "${auth[@]}" "$BASE/api/contacts?limit=50")"
expect_code "$BACKEND" "GET /api/contacts?limit=50" 200 "$code"
[[ "$(json_get '["data"].__len__()')" == 50 ]] || die "[$BACKEND] GET /api/contacts?limit=50 did not return 50 contacts"
code="$(http -H "Authorization: Bearer $CTOKEN" "$BASE/api/contacts?limit=$PAGE_LIMIT")"
expect_code "$BACKEND" "GET /api/contacts?limit=$PAGE_LIMIT" 200 "$code"
code="$(http -H "Authorization: Bearer $CTOKEN" "$BASE/api/contacts?limit=$PAGE_LIMIT&cursor=$CURSOR")"
expect_code "$BACKEND" "GET /api/contacts?limit=$PAGE_LIMIT&cursor=<page $PAGE>" 200 "$code"
[[ "$(json_get '["data"].__len__()')" == "$PAGE_LIMIT" ]] || die "[$BACKEND] page $PAGE is not full"
code="$(http "${auth[@]}" "$BASE/api/contacts/$CONTACT_ID")"
expect_code "$BACKEND" "GET /api/contacts/:id" 200 "$code"
for term in $TERMS; do
    code="$(http "${auth[@]}" "$BASE/api/search?q=$term")"
    expect_code "$BACKEND" "GET /api/search?q=$term" 200 "$code"
    printf '    search %-10s %2s hits in the first tenant (limit 20)\n' "$term" "$(json_get '["data"].__len__()')"
done
code="$(http -X POST "${auth[@]}" -H 'Content-Type: application/json' \
    --data '{"first_name":"Hand","last_name":"Check","email":"hand-check@bench.example"}' "$BASE/api/contacts")"
expect_code "$BACKEND" "POST /api/contacts" 201 "$code"
log "[$BACKEND] every endpoint answered by hand"

# How common the search terms are: contacts per tenant whose name starts so.
if [[ "$BACKEND" == postgres ]]; then
    echo "    search selectivity (contacts of one tenant matching the prefix, average over tenants):"
    psql_db "$PG_DB" -At -F ' ' -c "
        SELECT w, round(count(*)::numeric / (SELECT count(*) FROM tenants), 1)
          FROM unnest(string_to_array('$TERMS', ' ')) w
          JOIN contacts c ON c.search @@ to_tsquery('simple', w || ':*')
         GROUP BY w ORDER BY 2 DESC" | awk '{printf "      %-10s %s\n", $1, $2}'
fi

# ------------------------------------------------------------------- load ---
STARTUP_RSS_KIB="$IDLE_RSS_KIB"
IDLE_RSS_KIB="$(rss_kib "$SERVER_PID" VmRSS)"
PEAK_RESET="$(reset_peak_rss)"
ROWS=()
PASSES=()
declare -A P50_MS
wrk_endpoint() { # key label lua-mode lua-file
    local key="$1" label="$2"
    export BENCH_LUA_MODE="$3" BENCH_LUA_FILE="$4" BENCH_LUA_LIMIT="$PAGE_LIMIT" BENCH_LUA_TERMS="$TERMS"
    if [[ "$WARMUP" != 0 ]]; then
        run_wrk "$label (warm-up)" "$CONNS" "$WARMUP" -s "$LUA" "$BASE" >/dev/null
        server_alive "$BACKEND" "$label (warm-up)"
    fi
    start_rss_sampler "$WORK/rss-$key.txt" 0.1
    run_wrk "$label" "$CONNS" "$DURATION" -s "$LUA" "$BASE"
    stop_rss_sampler
    server_alive "$BACKEND" "$label"
    local rss_after rss_max verdict
    rss_after="$(rss_kib "$SERVER_PID" VmRSS)"
    rss_max="$(max_kib "$WORK/rss-$key.txt")"
    log "RSS after $label: $(mib "$rss_after") (peak so far $(mib "$(rss_kib "$SERVER_PID" VmHWM)"))"
    P50_MS[$key]="$WRK_P50_MS"
    verdict="$(awk -v p="$WRK_P99_MS" -v t="$P99_TARGET_MS" 'BEGIN {print (p < t) ? "PASS" : "FAIL"}')"
    PASSES+=("$verdict  p99 < ${P99_TARGET_MS} ms: $label (p99 $WRK_P99)")
    ROWS+=("| $label | $CONNS | $WRK_RPS | $WRK_P50 | $WRK_P99 | $(mib "$rss_max") | $(mib "$rss_after") | $WRK_TOTAL |")
}

wrk_endpoint list50 "GET /api/contacts?limit=50" list50 "$WORK/tokens.txt"
wrk_endpoint page1 "GET /api/contacts?limit=$PAGE_LIMIT (page 1)" page "$WORK/first-pages.txt"
wrk_endpoint pageN "GET /api/contacts?limit=$PAGE_LIMIT (page $PAGE)" page "$WORK/cursors.txt"
wrk_endpoint get "GET /api/contacts/:id" get "$WORK/tokens.txt"
wrk_endpoint search "GET /api/search?q=<common name>" search "$WORK/tokens.txt"
wrk_endpoint create "POST /api/contacts" create "$WORK/tokens.txt"

PEAK_KIB="$(rss_kib "$SERVER_PID" VmHWM)"
FINAL_RSS_KIB="$(rss_kib "$SERVER_PID" VmRSS)"
stop_server "$BACKEND"
report_server_log "$BACKEND"
if [[ "$BACKEND" == postgres && "${BENCH_KEEP_DB:-0}" != 1 ]]; then
    pg_drop_db "$PG_DB"
fi

# ----------------------------------------------------------------- summary ---
RATIO="$(awk -v a="${P50_MS[page1]}" -v b="${P50_MS[pageN]}" 'BEGIN {
    lo = (a < b) ? a : b; hi = (a < b) ? b : a; printf "%.2f", (lo > 0) ? hi / lo : 0 }')"
PASSES+=("$(awk -v r="$RATIO" -v t="$PAGE_RATIO_TARGET" 'BEGIN {print (r <= t) ? "PASS" : "FAIL"}')  page 1 vs page $PAGE p50 within ${PAGE_RATIO_TARGET}x: ${P50_MS[page1]} ms vs ${P50_MS[pageN]} ms (${RATIO}x)")
PASSES+=("$(awk -v k="$PEAK_KIB" -v t="$RSS_TARGET_MIB" 'BEGIN {print (k / 1024 < t) ? "PASS" : "FAIL"}')  server memory < ${RSS_TARGET_MIB} MiB under load: peak $(mib "$PEAK_KIB")$( (( PEAK_RESET )) || echo ' (VmHWM over the whole life: the kernel refused a reset)')")

echo
echo "## trasealla CRM benchmark ($BACKEND), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "$TENANTS tenants x $CONTACTS contacts ($((CONTACTS / 10)) companies, $((CONTACTS / 4)) deals, $((CONTACTS / 4)) activities each);" \
     "wrk -t2 -c$CONNS -d$DURATION --latency (after a $WARMUP warm-up), loopback, each request as a random tenant" \
     "(page 1 / page $PAGE: $SAMPLE sampled tenants); $(nproc) CPU(s); load average now $(loadavg)"
echo
echo "data load: ${LOAD_SECS} s = registration of $TENANTS tenants ${REGISTER_SECS} s + bulk load and ANALYZE ${BULK_SECS} s" \
     "(then ${TARGETS_SECS} s to collect contact ids and walk the cursors)"
echo "server RSS during the data load (registration through the API): $(mib "$LOAD_PHASE_RSS_KIB") after it, peak $(mib "$LOAD_PHASE_PEAK_KIB");" \
     "then restarted for the load"
echo "server RSS of the restarted server: at start-up $(mib "$STARTUP_RSS_KIB"), before wrk (after the cursor walk) $(mib "$IDLE_RSS_KIB")," \
     "at the end $(mib "$FINAL_RSS_KIB"), peak during the load (VmHWM) $(mib "$PEAK_KIB")"
echo
echo "| endpoint | connections | req/s | p50 | p99 | RSS max (100 ms samples) | RSS after | requests |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo "| server peak RSS (VmHWM) over the whole load | | | | | $(mib "$PEAK_KIB") | | |"
echo
echo "targets:"
printf -- '- %s\n' "${PASSES[@]}"
echo
if (( ${#SERVER_LOG_ISSUES[@]} )); then
    echo "server log issues:"
    printf -- '- %s\n' "${SERVER_LOG_ISSUES[@]}"
else
    echo "no non-2xx responses, no socket errors, no server warnings/errors; the server stopped with status 0 on SIGTERM"
fi
