#!/usr/bin/env bash
# CSV import benchmark: a generated contact file (100,000 rows by default,
# then 200,000 to show that memory stays flat) imported through
# POST /api/contacts/import as text/csv and as multipart, on SQLite and
# PostgreSQL, with the server's RSS sampled every 50 ms; then the export of
# the result timed. Loopback only; every request bounded in time. See
# bench/README.md.
#
#   bash bench/import.sh
#
# Knobs (environment, all optional):
#   BENCH_BACKENDS     backends to run, default "sqlite postgres"
#   BENCH_IMPORT_ROWS  file sizes, default "100000 200000"
#   BENCH_PG_URL       PostgreSQL server, default postgres://postgres@127.0.0.1:5432
#   BENCH_BIN          the server binary (default target/release/trasealla,
#                      built with cargo build --release when missing)
#   BENCH_REBUILD=1    rebuild even when the binary exists (not with BENCH_BIN)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
SIZES="${BENCH_IMPORT_ROWS:-100000 200000}"
PG_DB="trasealla_bench_import"
MODES="text/csv multipart"
IMPORT_TIMEOUT=600 # seconds; curl gives up after this

bench_prereqs
print_header

# ----------------------------------------------------------------- files ---
declare -A EXPECT
for rows in $SIZES; do
    log "generating a $rows-row contact CSV"
    EXPECT[$rows]="$(python3 "$BENCH_DIR/import_gen.py" "$rows" "$WORK/contacts-$rows.csv")"
    printf '    %s: %s bytes; expected %s\n' "contacts-$rows.csv" "$(stat -c %s "$WORK/contacts-$rows.csv")" "${EXPECT[$rows]}"
done

ROWS=()

# import_one label token file mode: times the import with the RSS sampled,
# then the export; appends a row to ROWS.
import_one() {
    local label="$1" token="$2" file="$3" mode="$4" rows="$5"
    local code t0 t1 secs peak_sampled peak_hwm idle reset summary
    idle="$(rss_kib "$SERVER_PID" VmRSS)"
    reset="$(reset_peak_rss)"
    start_rss_sampler "$WORK/rss-import.txt" 0.05
    log "[$label] POST /api/contacts/import ($mode, $rows rows; load average before: $(loadavg))"
    t0="$(date +%s.%N)"
    case "$mode" in
        text/csv)
            code="$(curl -sS --max-time "$IMPORT_TIMEOUT" -o "$WORK/body.json" -w '%{http_code}' \
                -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' \
                --data-binary "@$file" "$BASE/api/contacts/import")" ;;
        multipart)
            code="$(curl -sS --max-time "$IMPORT_TIMEOUT" -o "$WORK/body.json" -w '%{http_code}' \
                -H "Authorization: Bearer $token" -F "file=@$file;type=text/csv" \
                "$BASE/api/contacts/import")" ;;
    esac
    t1="$(date +%s.%N)"
    stop_rss_sampler
    expect_code "$label" "POST /api/contacts/import ($mode)" 200 "$code"
    server_alive "$label" "the import"
    secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')"
    peak_sampled="$(max_kib "$WORK/rss-import.txt")"
    peak_hwm="$(rss_kib "$SERVER_PID" VmHWM)"
    summary="$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["data"]
print(d["imported"], d["updated"], d["skipped"], len(d["errors"]) + d["more_errors"])' "$WORK/body.json")"
    local imported updated skipped errors
    read -r imported updated skipped errors <<<"$summary"
    log "[$label] imported $imported, updated $updated, skipped $skipped, errors $errors in $secs s; RSS idle $(mib "$idle"), peak sampled $(mib "$peak_sampled"), VmHWM $(mib "$peak_hwm")"
    python3 - "$summary" "${EXPECT[$rows]}" <<'EOF' || die "[$label] the import summary is not what the file holds"
import json, sys
imported, updated, skipped, errors = map(int, sys.argv[1].split())
e = json.loads(sys.argv[2])
got = {"imported": imported, "skipped": skipped, "errors": errors}
want = {k: e[k] for k in got}
if got != want or updated != 0:
    print(f"    got {got}, updated {updated}; expected {want}", file=sys.stderr)
    sys.exit(1)
print(f"    summary as expected: {got}", file=sys.stderr)
EOF

    # The export of what was imported, streamed.
    local et0 et1 esecs elines ebytes
    et0="$(date +%s.%N)"
    code="$(curl -sS --max-time "$IMPORT_TIMEOUT" -o "$WORK/export.csv" -w '%{http_code}' \
        -H "Authorization: Bearer $token" "$BASE/api/contacts/export")"
    et1="$(date +%s.%N)"
    [[ "$code" == 200 ]] || { head -c 2000 "$WORK/export.csv" >&2; die "[$label] GET /api/contacts/export answered $code"; }
    esecs="$(awk -v a="$et0" -v b="$et1" 'BEGIN {printf "%.2f", b - a}')"
    elines="$(python3 -c 'import csv, sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))) - 1)' "$WORK/export.csv")"
    ebytes="$(stat -c %s "$WORK/export.csv")"
    (( elines == imported )) || die "[$label] the export has $elines rows, the import reported $imported"
    local export_peak
    export_peak="$(rss_kib "$SERVER_PID" VmHWM)"
    log "[$label] GET /api/contacts/export: $elines rows, $ebytes bytes in $esecs s (VmHWM now $(mib "$export_peak"))"
    rm -f "$WORK/export.csv"

    local rps
    rps="$(awk -v n="$rows" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
    ROWS+=("| $label | $mode | $rows | $(stat -c %s "$file") | $secs | $rps | $imported / $updated / $skipped / $errors | $(mib "$idle") | $(mib "$peak_sampled") | $(mib "$peak_hwm")$( (( reset )) || echo ' (lifetime)') | $esecs | $(mib "$export_peak") |")
}

# -------------------------------------------------------------- backends ---
for backend in $BACKENDS; do
    echo
    echo "------------------------------------------------------------ $backend"
    case "$backend" in
        sqlite)
            mkdir -p "$WORK/sqlite"
            url="sqlite://$WORK/sqlite/import.db"
            ;;
        postgres)
            pg_fresh_db "$PG_DB"
            url="$PG_SERVER_URL/$PG_DB"
            ;;
        *) die "unknown backend $backend" ;;
    esac

    # The tenants first, on a server of their own: registration hashes
    # passwords with argon2, whose memory should not count as the import's.
    start_server "$backend" "$url"
    declare -A TOKENS=()
    n=0
    for rows in $SIZES; do
        for mode in $MODES; do
            n=$((n + 1))
            body="$(python3 -c 'import json, sys; print(json.dumps({"company_name": "Import " + sys.argv[1], "email": "import" + sys.argv[1] + "@bench.example", "password": "BenchPass-123456", "full_name": "Import Owner"}))' "$n")"
            code="$(http -X POST -H 'Content-Type: application/json' --data "$body" "$BASE/api/tenants/register")"
            expect_code "$backend" "POST /api/tenants/register" 201 "$code"
            TOKENS["$rows $mode"]="$(json_get '["data"]["token"]')"
        done
    done
    # One request by hand: a two-row import, as a dry run.
    code="$(http -X POST -H "Authorization: Bearer ${TOKENS["$(echo "$SIZES" | awk '{print $1}') text/csv"]}" \
        -H 'Content-Type: text/csv' --data-binary $'first_name,email\nHand,hand@bench.example\n' \
        "$BASE/api/contacts/import?dry_run=true")"
    expect_code "$backend" "POST /api/contacts/import?dry_run=true" 200 "$code"
    stop_server "$backend"
    report_server_log "$backend (registration)"

    # Each import on a freshly started server, its tenant's table empty.
    for rows in $SIZES; do
        for mode in $MODES; do
            label="$backend ${rows} ${mode%%/*}"
            start_server "$label" "$url"
            import_one "$backend" "${TOKENS["$rows $mode"]}" "$WORK/contacts-$rows.csv" "$mode" "$rows"
            stop_server "$label"
            report_server_log "$label"
        done
    done

    case "$backend" in
        sqlite) rm -rf "$WORK/sqlite" ;;
        postgres) pg_drop_db "$PG_DB" ;;
    esac
done

# ----------------------------------------------------------------- summary ---
echo
echo "## trasealla CSV import benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "each import on a freshly started release server (idle RSS shown), into an empty tenant; RSS sampled every 50 ms" \
     "(and VmHWM, reset before the import); $(nproc) CPU(s); load average now $(loadavg)"
echo
echo "| backend | upload | rows | bytes | import s | rows/s | imported / updated / skipped / errors | idle RSS | peak RSS (sampled) | VmHWM | export s | VmHWM after export |"
echo "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
if (( ${#SERVER_LOG_ISSUES[@]} )); then
    echo "server log issues:"
    printf -- '- %s\n' "${SERVER_LOG_ISSUES[@]}"
else
    echo "no server warnings/errors; every server stopped with status 0 on SIGTERM"
fi
