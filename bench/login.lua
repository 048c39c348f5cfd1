-- wrk script for bench/run.sh: POST /api/auth/login with the bench tenant's
-- correct credentials (run.sh registers that tenant first and passes the
-- credentials through the environment, so this file holds no secrets).
local username = os.getenv("BENCH_USERNAME") or "owner@bench.example"
local password = os.getenv("BENCH_PASSWORD") or "BenchPass-123456"

wrk.method = "POST"
wrk.path = "/api/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}', username, password)
