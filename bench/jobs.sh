#!/usr/bin/env bash
# Job queue benchmark: `trasealla jobs bench` on a fresh SQLite file and a
# fresh PostgreSQL database, with 4 and 16 workers. It measures no-op jobs,
# i.e. the queue's own cost: the rate at which jobs are queued (1,000 per
# transaction), the rate at which the workers run 10,000 of them queued at
# once, and the delay from the commit that queued one job to the end of its
# run on an idle queue (p50/p99 over 200 jobs, from the database's own
# timestamps). Loopback only; bounded by the job counts. See bench/README.md.
#
#   bash bench/jobs.sh
#
# Knobs (environment, all optional):
#   BENCH_BACKENDS     backends to run, default "sqlite postgres"
#   BENCH_WORKERS      worker counts, default "4 16"
#   BENCH_JOBS         jobs of the throughput run, default 10000
#   BENCH_SAMPLES      jobs of the latency run, default 200
#   BENCH_PG_URL       PostgreSQL server, default postgres://postgres@127.0.0.1:5432
#   BENCH_BIN          the binary (default target/release/trasealla, built
#                      with cargo build --release when missing)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
WORKERS="${BENCH_WORKERS:-4 16}"
JOBS="${BENCH_JOBS:-10000}"
SAMPLES="${BENCH_SAMPLES:-200}"
PG_DB="trasealla_bench_jobs"

bench_prereqs
print_header

RESULTS=()
for backend in $BACKENDS; do
    for workers in $WORKERS; do
        case "$backend" in
            sqlite)
                rm -rf "$WORK/jobs" && mkdir -p "$WORK/jobs"
                url="sqlite://$WORK/jobs/bench.db"
                ;;
            postgres)
                psql_db postgres -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
                psql_db postgres -c "CREATE DATABASE $PG_DB" >/dev/null
                PG_DBS+=("$PG_DB")
                url="$PG_SERVER_URL/$PG_DB"
                ;;
            *) die "unknown backend $backend" ;;
        esac
        log "$backend, $workers workers: $JOBS jobs, then $SAMPLES one at a time"
        line="$(RUST_LOG=warn DATABASE_URL="$url" TRASEALLA_JOB_WORKERS="$workers" \
            TRASEALLA_MASTER_KEY="$(head -c 32 /dev/urandom | base64)" \
            XDG_CONFIG_HOME="$WORK/config" \
            timeout 900 "$BIN" jobs bench --jobs "$JOBS" --samples "$SAMPLES")" \
            || die "trasealla jobs bench failed on $backend"
        echo "    $line"
        RESULTS+=("$line")
    done
done

echo
echo "## Job queue ($(nproc) CPUs, $(date -u +%Y-%m-%d))"
echo
for r in "${RESULTS[@]}"; do
    echo "- $r"
done
