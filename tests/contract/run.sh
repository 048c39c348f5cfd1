#!/usr/bin/env bash
# The API contract test: schemathesis (https://schemathesis.io) generates
# requests from GET /api/openapi.json, valid and invalid, and checks every
# answer against the description (`--checks all`). It runs against a fresh
# server on SQLite, then on a fresh PostgreSQL database, as a tenant's admin
# (the owner registered here), and fails when either run reports a failure.
#
#   bash tests/contract/run.sh
#
# Knobs (environment, all optional):
#   CONTRACT_BACKENDS      default "sqlite postgres"
#   CONTRACT_PG_URL        PostgreSQL server, default postgres://postgres@127.0.0.1:5432
#   CONTRACT_MAX_EXAMPLES  schemathesis --max-examples, default 25
#   CONTRACT_SEED          schemathesis --seed (default: random; the seed is printed)
#   CONTRACT_ARGS          extra schemathesis arguments (e.g. "--include-path-regex contacts")
#
# Loopback only; it stops only the servers it started (by PID) and drops only
# the database it created.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

BACKENDS="${CONTRACT_BACKENDS:-sqlite postgres}"
PG_URL="${CONTRACT_PG_URL:-postgres://postgres@127.0.0.1:5432}"
MAX_EXAMPLES="${CONTRACT_MAX_EXAMPLES:-25}"
SEED="${CONTRACT_SEED:-$(python3 -c 'import random; print(random.randrange(2**31))')}"
BIN="$ROOT/target/debug/trasealla"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/trasealla-contract.XXXXXX")"
SERVER_PID=""
PG_DB=""

log() { echo "[contract] $*"; }
die() { echo "[contract] FATAL: $*" >&2; exit 1; }

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
    if [[ -n "$PG_DB" ]]; then
        psql "$PG_URL/postgres" -Atqc "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
        PG_DB=""
    fi
}
stop_stripe() { if [[ -n "${STRIPE_PID:-}" ]]; then kill "$STRIPE_PID" 2>/dev/null || true; fi; }
trap 'cleanup; stop_stripe; [[ -n "${CONTRACT_KEEP:-}" ]] || rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# The version these hooks and settings were made with (hook names and
# config merging differ between releases).
SCHEMATHESIS_VERSION=4.32.5
if ! command -v schemathesis >/dev/null 2>&1 \
    || [[ "$(schemathesis --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION (pip)"
    python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
        || die "pip could not install schemathesis==$SCHEMATHESIS_VERSION"
    hash -r
    command -v schemathesis >/dev/null 2>&1 || die "schemathesis is not on PATH after pip install"
fi
log "$(schemathesis --version)"

if [[ " $BACKENDS " == *" postgres "* ]]; then
    command -v psql >/dev/null 2>&1 || die "psql is needed for the PostgreSQL run (or set CONTRACT_BACKENDS=sqlite)"
    psql "$PG_URL/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1 \
        || die "PostgreSQL does not answer at $PG_URL (set CONTRACT_PG_URL, or CONTRACT_BACKENDS=sqlite)"
fi

cargo build --quiet
[[ -x "$BIN" ]] || die "no binary at $BIN"

# The run's platform admin (never shipped: the server creates it from the
# environment of this run only).
ADMIN_PASSWORD="contract-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"

# Billing is on, against a local fake of Stripe's API
# (tests/contract/fake_stripe.py), which exits when this script does.
STRIPE_KEY="sk_test_contract_$$"
coproc STRIPE { exec python3 "$ROOT/tests/contract/fake_stripe.py" "$STRIPE_KEY"; }
STRIPE_PORT=""
if read -r -t 30 word port <&"${STRIPE[0]}" && [[ "$word" == PORT ]]; then
    STRIPE_PORT="$port"
fi
[[ -n "$STRIPE_PORT" ]] || die "the fake Stripe did not start"
log "fake Stripe API on 127.0.0.1:$STRIPE_PORT"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # database-url
    local port
    port="$(free_port)"
    BASE="http://127.0.0.1:$port"
    # Every example of registration and of the availability check comes
    # from this one address: lift the per-address throttles (tested in
    # tests/api/registration.rs), or valid requests would answer 429.
    # The master key lives in the run's directory, not the home directory.
    # A platform admin lifts the tenant's request limits after it
    # registers (see register), for the same reason.
    # Webhooks the run creates point at a closed loopback port (see
    # hooks.py), which only TRASEALLA_WEBHOOK_ALLOW_PRIVATE admits.
    TRASEALLA_SIGNUPS_PER_HOUR=1000000 TRASEALLA_AVAILABILITY_PER_MINUTE=1000000 \
    TRASEALLA_WEBHOOK_ALLOW_PRIVATE=true \
    TRASEALLA_PLATFORM_ADMIN_USERNAME=contract-admin \
    TRASEALLA_PLATFORM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    TRASEALLA_MASTER_KEY_FILE="$WORK/master.key" \
    TRASEALLA_STRIPE_SECRET_KEY="$STRIPE_KEY" TRASEALLA_STRIPE_WEBHOOK_SECRET="whsec_contract_$$" \
    TRASEALLA_STRIPE_API_BASE="http://127.0.0.1:$STRIPE_PORT" \
    TRASEALLA_STRIPE_PRICES="starter_monthly=price_s_m,starter_yearly=price_s_y,professional_monthly=price_p_m,professional_yearly=price_p_y,enterprise_monthly=price_e_m,enterprise_yearly=price_e_y" \
    DATABASE_URL="$1" TRASEALLA_LISTEN="127.0.0.1:$port" RUST_LOG="${CONTRACT_LOG:-warn}" \
        "$BIN" serve >"$WORK/server-$BACKEND.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server-$BACKEND.log" >&2; die "[$BACKEND] the server exited"; }
        sleep 0.2
    done
    cat "$WORK/server-$BACKEND.log" >&2
    die "[$BACKEND] the server did not answer on $BASE"
}

register() {
    local body code
    body='{"company_name": "Contract Co", "email": "owner@contract.example", "password": "ContractPass-123", "full_name": "Contract Owner"}'
    code="$(curl -sS -o "$WORK/register.json" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' --data "$body" "$BASE/api/tenants/register")"
    [[ "$code" == 201 ]] || { cat "$WORK/register.json" >&2; die "[$BACKEND] register answered $code"; }
    TOKEN="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["data"]["token"])' "$WORK/register.json")"
    # The run sends thousands of requests a minute, far past a trial's, and
    # sets logos, which a trial's plan lacks (the limits and the feature
    # have tests of their own in tests/api/plans.rs).
    python3 - "$BASE" "$ADMIN_PASSWORD" "$WORK/register.json" <<'PY'
import json, sys, urllib.request
base, password, registered = sys.argv[1:4]
tenant = json.load(open(registered))["data"]["tenant"]["id"]
def call(method, path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req) as r:
        return json.load(r)["data"]
admin = call("POST", "/api/auth/login", {"username": "contract-admin", "password": password})["token"]
call("PATCH", "/api/tenants/" + tenant, {"feature_overrides": {"custom_branding": True}, "limit_overrides": {
    "requests_per_minute": 10000000, "api_calls_per_month": 1000000000, "records": 10000000}}, admin)
PY
}

# Records the generated requests may point at. A reference to a record
# that does not exist is refused (422 naming the field): that is state, not
# shape, so the schema cannot say it; tests/contract/hooks.py puts these
# real ids into every well-formed reference schemathesis generates.
seed() {
    python3 - "$BASE" "$TOKEN" "$WORK/ids.json" <<'PY'
import json, sys, urllib.request
base, token, out = sys.argv[1:4]
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["data"]
me = call("GET", "/api/auth/me")["user"]
pipeline = call("GET", "/api/pipelines")[0]
stage = next(s for s in pipeline["stages"] if s["kind"] == "open")
company = call("POST", "/api/companies", {"name": "Seed Co"})
contact = call("POST", "/api/contacts", {"first_name": "Seed", "company_id": company["id"]})
lead = call("POST", "/api/leads", {"first_name": "Seed Lead"})
deal = call("POST", "/api/deals", {"title": "Seed Deal", "contact_id": contact["id"], "company_id": company["id"]})
product = call("POST", "/api/products", {"name": "Seed Product", "price": 100})
staff = call("POST", "/api/users", {"email": "staff@contract.example", "full_name": "Contract Staff",
                                    "password": "ContractPass-123", "role": "user"})
role = call("POST", "/api/roles", {"name": "Seed Role"})
ids = {
    "role_id": role["id"],
    "owner_id": me["id"], "assigned_to": me["id"],
    "company_id": company["id"], "contact_id": contact["id"],
    "lead_id": lead["id"], "deal_id": deal["id"], "product_id": product["id"],
    "pipeline_id": pipeline["id"], "stage_id": stage["id"],
    # Not a body field: the user that stands in for the run's own (see hooks.py).
    "_self": me["id"], "_staff": staff["id"],
    # Where the run's webhooks go: a closed port on loopback (nothing leaves
    # the machine; deliveries fail and are retried).
    "_webhook_url": "http://127.0.0.1:9/contract-hook",
}
with open(out, "w") as f:
    json.dump(ids, f)
PY
}

FAILED=()
run_backend() {
    BACKEND="$1"
    local url rc=0 started
    started=$SECONDS
    case "$BACKEND" in
        sqlite) url="sqlite://$WORK/contract.db" ;;
        postgres)
            PG_DB="trasealla_contract_$$"
            psql "$PG_URL/postgres" -Atqc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null
            psql "$PG_URL/postgres" -Atqc "CREATE DATABASE \"$PG_DB\"" >/dev/null
            url="$PG_URL/$PG_DB"
            ;;
        *) die "unknown backend $BACKEND" ;;
    esac
    start_server "$url"
    register
    seed
    log "[$BACKEND] server on $BASE (PID $SERVER_PID), seed $SEED"
    # POST /api/auth/logout-all is left out: it ends the very token every
    # other request of the run carries (tests/api/users.rs covers it).
    # shellcheck disable=SC2086
    CONTRACT_IDS="$WORK/ids.json" SCHEMATHESIS_HOOKS="$ROOT/tests/contract/hooks.py" \
    schemathesis --config-file "$ROOT/tests/contract/schemathesis.toml" run "$BASE/api/openapi.json" \
        --checks all \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --workers 1 \
        --request-timeout 20 \
        -H "Authorization: Bearer $TOKEN" \
        --exclude-path /api/auth/logout-all \
        ${CONTRACT_ARGS:-} || rc=$?
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$WORK/server-$BACKEND.log" >&2
        log "[$BACKEND] the server died during the run"
        rc=1
    fi
    cleanup
    log "[$BACKEND] schemathesis exit code $rc after $((SECONDS - started)) s"
    [[ $rc == 0 ]] || FAILED+=("$BACKEND")
}

for b in $BACKENDS; do
    run_backend "$b"
done

if ((${#FAILED[@]})); then
    die "schemathesis reported failures on: ${FAILED[*]}"
fi
log "no failures on: $BACKENDS"
