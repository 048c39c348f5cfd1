#!/usr/bin/env bash
# What metering and per-tenant limits cost: GET /api/contacts (one
# tenant, 200 contacts, the first page of 50) under wrk, with
# TRASEALLA_METERING on and off, alternating on/off/on/off in one run on
# one database, so both see the same machine. The tenant's own limits are
# lifted by a platform admin, so that "on" does all the work (count the
# call, check the rate and the quota, write the RateLimit headers) without
# refusing anything. Loopback only; every load bounded in time.
#
#   bash bench/metering.sh
#
# Knobs (environment, all optional):
#   BENCH_BACKEND      sqlite (default) or postgres
#   BENCH_DURATION     length of each wrk run, default 10s
#   BENCH_CONNECTIONS  wrk connections, default 32
#   BENCH_ROUNDS       on/off pairs, default 2
#   BENCH_REDIS_URL    also run with the limits in this Redis (default: none)
#   BENCH_PG_URL, BENCH_BIN, BENCH_REBUILD: as for bench/run.sh
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

BACKEND="${BENCH_BACKEND:-sqlite}"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNECTIONS:-32}"
ROUNDS="${BENCH_ROUNDS:-2}"
PG_DB="trasealla_bench_metering"
ADMIN_USER="bench-admin"
ADMIN_PASS="bench-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"

bench_prereqs
print_header

case "$BACKEND" in
    postgres) pg_fresh_db "$PG_DB"; DB_URL="$PG_SERVER_URL/$PG_DB" ;;
    sqlite) mkdir -p "$WORK/sqlite"; DB_URL="sqlite://$WORK/sqlite/bench.db" ;;
    *) die "BENCH_BACKEND must be postgres or sqlite" ;;
esac

api() { # method path token [body]
    curl -fsS -X "$1" -H 'Content-Type: application/json' \
        ${3:+-H "Authorization: Bearer $3"} ${4:+--data "$4"} "$BASE$2"
}
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# The tenant, its contacts and its lifted limits, made once.
MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
SERVER_ENV=(TRASEALLA_MASTER_KEY="$MASTER_KEY"
            TRASEALLA_PLATFORM_ADMIN_USERNAME="$ADMIN_USER" TRASEALLA_PLATFORM_ADMIN_PASSWORD="$ADMIN_PASS")
start_server "setup" "$DB_URL"
REG="$(api POST /api/tenants/register '' '{"company_name": "Meter Co", "email": "owner@meter.example", "password": "MeterPass-12345", "full_name": "Meter Owner"}')"
TENANT="$(json 'd["data"]["tenant"]["id"]' <<<"$REG")"
ADMIN="$(api POST /api/auth/login '' "{\"username\": \"$ADMIN_USER\", \"password\": \"$ADMIN_PASS\"}" | json 'd["data"]["token"]')"
api PATCH "/api/tenants/$TENANT" "$ADMIN" \
    '{"limit_overrides": {"requests_per_minute": 1000000000, "api_calls_per_month": 1000000000000, "records": 1000000}}' >/dev/null
TOKEN="$(api POST /api/auth/login '' '{"username": "owner@meter.example", "password": "MeterPass-12345"}' | json 'd["data"]["token"]')"
python3 - "$BASE" "$TOKEN" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1:3]
rows = "first_name,last_name,email\n" + "".join(f"Person,{i},p{i}@meter.example\n" for i in range(200))
req = urllib.request.Request(base + "/api/contacts/import", data=rows.encode(), method="POST",
    headers={"Authorization": "Bearer " + token, "Content-Type": "text/csv"})
with urllib.request.urlopen(req) as r:
    assert json.load(r)["data"]["imported"] == 200
PY
stop_server "setup"

declare -A RPS=()
CONFIGS=(on off)
[[ -n "${BENCH_REDIS_URL:-}" ]] && CONFIGS=(on off redis)
for round in $(seq 1 "$ROUNDS"); do
    for mode in "${CONFIGS[@]}"; do
        SERVER_ENV=(TRASEALLA_MASTER_KEY="$MASTER_KEY")
        case "$mode" in
            on) SERVER_ENV+=(TRASEALLA_METERING=true) ;;
            off) SERVER_ENV+=(TRASEALLA_METERING=false) ;;
            redis) SERVER_ENV+=(TRASEALLA_METERING=true TRASEALLA_REDIS_URL="$BENCH_REDIS_URL"
                                TRASEALLA_REDIS_PREFIX="bench-$$") ;;
        esac
        start_server "$mode" "$DB_URL"
        curl -fsS -o /dev/null -D "$WORK/headers" -H "Authorization: Bearer $TOKEN" "$BASE/api/contacts?limit=50"
        if [[ "$mode" == off ]]; then
            ! grep -qi '^ratelimit-limit' "$WORK/headers" || die "metering off still limits"
        else
            grep -qi '^ratelimit-limit' "$WORK/headers" || die "metering on sends no RateLimit headers"
        fi
        run_wrk "warm-up $mode" "$CONNS" 3s -H "Authorization: Bearer $TOKEN" "$BASE/api/contacts?limit=50" >/dev/null
        run_wrk "GET /api/contacts metering=$mode round $round" "$CONNS" "$DURATION" \
            -H "Authorization: Bearer $TOKEN" "$BASE/api/contacts?limit=50"
        RPS[$mode]="${RPS[$mode]:-} $WRK_RPS"
        stop_server "$mode"
    done
done

echo
echo "## Metering and limits on GET /api/contacts ($BACKEND, $CONNS connections, $DURATION x $ROUNDS each, $(nproc) CPUs)"
echo
python3 - "${RPS[on]}" "${RPS[off]}" "${RPS[redis]:-}" <<'PY'
import sys, statistics
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
redis = [float(x) for x in sys.argv[3].split()]
m_on, m_off = statistics.mean(on), statistics.mean(off)
print(f"- off: {m_off:,.0f} req/s (runs: {', '.join(f'{x:,.0f}' for x in off)})")
print(f"- on:  {m_on:,.0f} req/s (runs: {', '.join(f'{x:,.0f}' for x in on)})")
print(f"- cost of metering and limits: {(m_off - m_on) / m_off * 100:.1f}% of throughput")
if redis:
    m_r = statistics.mean(redis)
    print(f"- on, limits in Redis: {m_r:,.0f} req/s, {(m_off - m_r) / m_off * 100:.1f}% below off")
PY
