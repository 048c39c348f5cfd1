#!/usr/bin/env python3
"""Data set of the CRM benchmark (bench/crm.sh). Standard library only.

Sub-commands:

  register BASE COUNT OUT       registers COUNT tenants through the API,
                                CONCURRENCY at a time; OUT gets one line per
                                tenant: tenant_id TAB token
  pg-sql CONTACTS               prints the SQL that bulk-loads companies,
                                contacts, deals and activities into every
                                registered tenant (run by psql as postgres)
  sqlite-load DB CONTACTS       the same, straight into a SQLite database
  targets BASE TENANTS TOKENS CURSORS SAMPLE PAGE LIMIT
                                TOKENS gets "token contact_id" per tenant;
                                CURSORS gets "token cursor" for SAMPLE
                                tenants, the cursor of page PAGE of
                                GET /api/contacts?limit=LIMIT, found by
                                walking the pages through the API
  terms                         prints the search terms the load uses

Names come from fixed lists with a skewed (roughly Zipf-like) choice, so a
search for a common name finds a realistic share of a tenant's contacts
(1-2 %), a rare one almost nothing.
"""

import json
import os
import random
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

# Most common first, roughly as in US name statistics.
FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth
William Barbara Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Charles
Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven
Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian
Melissa George Deborah Timothy Stephanie Ronald Dorothy Jason Rebecca Edward Sharon
Jeffrey Laura Ryan Cynthia Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley
Jonathan Brenda Stephen Emma Larry Anna Justin Pamela Scott Nicole Brandon Samantha
Benjamin Katherine Samuel Christine Gregory Debra Alexander Rachel Patrick Carolyn
Frank Janet Raymond Maria Jack Olivia Dennis Heather Jerry Helen Tyler Catherine
Aaron Diane Jose Julie Adam Victoria Nathan Joyce Henry Lauren Zachary Kelly Douglas
Christina Peter Ruth Kyle Joan Noah Virginia Ethan Judith Jeremy Evelyn Christian
Hannah Walter Andrea Keith Megan Austin Cheryl Roger Jacqueline Terry Madison Sean
Teresa Gerald Abigail Carl Sophia Dylan Martha Harold Sara Jordan Gloria Jesse
Janice Bryan Kathryn Lawrence Ann Arthur Isabella Gabriel Judy Bruce Charlotte Logan
Julia Billy Grace Joe Amber Alan Alice Juan Jean Elijah Denise Willie Frances Albert
Danielle Wayne Marilyn Randy Natalie Mason Beverly Vincent Diana Liam Brittany Roy
Theresa Bobby Kayla Caleb Alexis Bradley Doris Russell Lori Lucas Tiffany""".split()

LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez
Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez
Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King
Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell
Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins
Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson
Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James
Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross
Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson
Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton
Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis
Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez
McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman
Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason
Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar
Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto
Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez
Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson
Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston
Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval""".split()

DOMAINS = """gmail.com yahoo.com outlook.com hotmail.com icloud.com acme.example
globex.example initech.example umbrella.example hooli.example stark.example
wayne.example wonka.example tyrell.example cyberdyne.example soylent.example
aperture.example vandelay.example gringotts.example dunder.example""".split()

TITLES = """CEO CTO CFO COO Founder Owner Director Manager Engineer Consultant
Analyst Buyer Accountant Designer Developer Architect Recruiter Specialist
Coordinator Assistant""".split()

SOURCES = "website referral event cold_call linkedin partner advertisement import".split()
TAGS = "vip customer prospect partner newsletter hot cold enterprise smb renewal".split()

CO_A = """North South East West Blue Red Green Silver Golden Bright Rapid Prime
Summit Apex Pioneer Atlas Nova Vertex Crest Harbor Iron Maple Cedar Oak River
Stone Sky Star Sun Lake""".split()
CO_B = """Solutions Systems Industries Labs Partners Logistics Dynamics Foods
Media Health Energy Capital Works Networks Designs Analytics Robotics Retail
Consulting Ventures""".split()
CO_SUFFIX = "Inc LLC Ltd GmbH Corp Group Co".split()
INDUSTRIES = "software retail manufacturing finance healthcare logistics education media energy".split()
PRODUCTS = """licences renewal support upgrade onboarding expansion pilot hardware
training consulting integration""".split()
ACTIVITY = {
    "call": "Call with",
    "meeting": "Meeting with",
    "task": "Send proposal to",
    "email": "Follow-up e-mail to",
    "deadline": "Contract deadline for",
}
SKEW = 1.3  # index = n * u**SKEW: the first names are the common ones


def terms():
    """Common names: what people type into a search box."""
    return [n.lower() for n in LAST[:6] + FIRST[:4]]


def die(msg):
    print(f"\n!!! BENCH FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


# ----------------------------------------------------------------- HTTP ---
def request(method, url, token=None, body=None, timeout=60):
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def cmd_register(base, count, out):
    count = int(count)
    conc = int(os.environ.get("BENCH_REGISTER_CONCURRENCY", "8"))
    password = "BenchPass-123456"
    results = [None] * count
    done = [0]
    lock = threading.Lock()
    started = time.monotonic()

    def one(i):
        body = {
            "company_name": f"Bench Tenant {i + 1}",
            "email": f"owner{i + 1}@tenant{i + 1}.bench.example",
            "password": password,
            "full_name": f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}",
        }
        status, raw = request("POST", f"{base}/api/tenants/register", body=body)
        if status != 201:
            raise RuntimeError(f"register #{i + 1} answered {status}: {raw[:500]!r}")
        d = json.loads(raw)["data"]
        results[i] = (d["tenant"]["id"], d["token"])
        with lock:
            done[0] += 1
            if done[0] % 100 == 0 or done[0] == count:
                rate = done[0] / (time.monotonic() - started)
                print(f"    registered {done[0]}/{count} ({rate:.1f}/s)", file=sys.stderr)

    with ThreadPoolExecutor(max_workers=conc) as ex:
        for f in [ex.submit(one, i) for i in range(count)]:
            try:
                f.result()
            except Exception as e:  # noqa: BLE001 - shown, then fail
                ex.shutdown(cancel_futures=True)
                die(str(e))
    with open(out, "w") as f:
        for tid, token in results:
            f.write(f"{tid}\t{token}\n")


def cmd_targets(base, tenants, tokens_out, cursors_out, sample, page, limit):
    sample, page, limit = int(sample), int(page), int(limit)
    rows = [line.rstrip("\n").split("\t") for line in open(tenants)]
    conc = int(os.environ.get("BENCH_REGISTER_CONCURRENCY", "8"))

    def first_contact(row):
        tid, token = row
        status, raw = request("GET", f"{base}/api/contacts?limit=1", token=token)
        if status != 200:
            raise RuntimeError(f"GET /api/contacts?limit=1 for {tid} answered {status}: {raw[:500]!r}")
        data = json.loads(raw)["data"]
        if not data:
            raise RuntimeError(f"tenant {tid} has no contacts")
        return token, data[0]["id"]

    def cursor_of(row):
        tid, token = row
        cursor = None
        for n in range(1, page):
            url = f"{base}/api/contacts?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            status, raw = request("GET", url, token=token)
            if status != 200:
                raise RuntimeError(f"page {n} of {tid} answered {status}: {raw[:500]!r}")
            cursor = json.loads(raw)["next_cursor"]
            if not cursor:
                raise RuntimeError(f"tenant {tid} has no page {n + 1} at limit={limit}")
        status, raw = request("GET", f"{base}/api/contacts?limit={limit}&cursor={cursor}", token=token)
        body = json.loads(raw)
        if status != 200 or len(body["data"]) != limit:
            raise RuntimeError(f"page {page} of {tid}: status {status}, {len(body.get('data', []))} rows")
        return token, cursor

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=conc) as ex:
        try:
            pairs = list(ex.map(first_contact, rows))
        except Exception as e:  # noqa: BLE001
            die(str(e))
    with open(tokens_out, "w") as f:
        for token, cid in pairs:
            f.write(f"{token} {cid}\n")
    print(f"    one contact id for each of {len(pairs)} tenants in {time.monotonic() - started:.1f} s",
          file=sys.stderr)

    started = time.monotonic()
    chosen = random.Random(7).sample(rows, min(sample, len(rows)))
    with ThreadPoolExecutor(max_workers=conc) as ex:
        try:
            cursors = list(ex.map(cursor_of, chosen))
        except Exception as e:  # noqa: BLE001
            die(str(e))
    with open(cursors_out, "w") as f:
        for token, cursor in cursors:
            f.write(f"{token} {cursor}\n")
    print(f"    walked {page - 1} pages of limit={limit} in {len(chosen)} tenants "
          f"({(page - 1) * len(chosen)} requests) in {time.monotonic() - started:.1f} s", file=sys.stderr)


# ------------------------------------------------------------ PostgreSQL ---
def sql_array(words):
    return "ARRAY[" + ",".join("'" + w.replace("'", "''") + "'" for w in words) + "]::text[]"


def pick(arr, skew=None):
    """SQL: a random element of the array literal `arr` (1-based)."""
    n = arr.count("','") + 1
    u = f"power(random(), {skew})" if skew else "random()"
    return f"({arr})[1 + floor({u} * {n})::int]"


def cmd_pg_sql(contacts):
    m = int(contacts)
    companies = max(1, m // 10)
    deals = max(1, m // 4)
    activities = max(1, m // 4)
    first, last = sql_array(FIRST), sql_array(LAST)
    domains, titles = sql_array(DOMAINS), sql_array(TITLES)
    sources, tags = sql_array(SOURCES), sql_array(TAGS)
    co_a, co_b, co_s = sql_array(CO_A), sql_array(CO_B), sql_array(CO_SUFFIX)
    industries, products = sql_array(INDUSTRIES), sql_array(PRODUCTS)
    types = sql_array(list(ACTIVITY))
    verbs = sql_array(list(ACTIVITY.values()))
    # A uuid made from text: companies, contacts and deals get ids that
    # later rows can name without a join (version 4 / variant bits set).
    uid = "(overlay(overlay(md5({}) placing '4' from 13) placing '8' from 17))::uuid"

    def u(expr):
        return uid.format(expr)

    print(f"""\\set ON_ERROR_STOP 1
\\timing on
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SELECT setseed(0.4242);

-- One row per registered tenant: its owner and its default pipeline.
CREATE TEMP TABLE bench_tenants AS
SELECT t.id AS tenant_id, u.id AS user_id, p.id AS pipeline_id
  FROM tenants t
  JOIN users u ON u.tenant_id = t.id AND u.is_owner
  JOIN pipelines p ON p.tenant_id = t.id AND p.is_default;
CREATE TEMP TABLE bench_stages AS
SELECT tenant_id, pipeline_id, id AS stage_id, kind,
       (row_number() OVER (PARTITION BY tenant_id ORDER BY position) - 1)::int AS n,
       count(*) OVER (PARTITION BY tenant_id)::int AS cnt
  FROM pipeline_stages
 WHERE (tenant_id, pipeline_id) IN (SELECT tenant_id, pipeline_id FROM bench_tenants);
CREATE INDEX ON bench_stages (tenant_id, n);
ANALYZE bench_tenants; ANALYZE bench_stages;
SELECT count(*) AS tenants FROM bench_tenants;

-- Companies: {companies} per tenant.
INSERT INTO companies (tenant_id, id, name, domain, industry, phone, website, owner_id, created_by, created_at, updated_at)
SELECT tenant_id, {u("tenant_id::text || ':co:' || g")}, name,
       lower(replace(name, ' ', '')) || '.example', industry, phone,
       'https://www.' || lower(replace(name, ' ', '')) || '.example', user_id, user_id, created, created + (now() - created) * random()
  FROM (SELECT bt.tenant_id, bt.user_id, g,
               {pick(co_a)} || ' ' || {pick(co_b)} || ' ' || {pick(co_s)} || ' ' || g AS name,
               {pick(industries)} AS industry,
               '+1 555 ' || lpad((floor(random() * 10000000))::text, 7, '0') AS phone,
               now() - random() * interval '1095 days' AS created
          FROM bench_tenants bt CROSS JOIN generate_series(1, {companies}) g OFFSET 0) s;

-- Contacts: {m} per tenant, 70 % with a company.
INSERT INTO contacts (tenant_id, id, first_name, last_name, email, phone, title, company_id, tags, source,
                      owner_id, created_by, created_at, updated_at)
SELECT tenant_id, {u("tenant_id::text || ':ct:' || g")}, first, last,
       lower(first) || '.' || lower(last) || g || '@' || domain, phone, title,
       CASE WHEN co <= {companies} THEN {u("tenant_id::text || ':co:' || co")} END,
       tags, source, user_id, user_id, created, created + (now() - created) * random()
  FROM (SELECT bt.tenant_id, bt.user_id, g,
               {pick(first, "1.3")} AS first, {pick(last, "1.3")} AS last,
               {pick(domains)} AS domain,
               '+1 555 ' || lpad((floor(random() * 10000000))::text, 7, '0') AS phone,
               CASE WHEN random() < 0.8 THEN {pick(titles)} END AS title,
               1 + floor(random() * {companies} / 0.7)::int AS co,
               CASE WHEN random() < 0.5 THEN '[]'::jsonb
                    ELSE jsonb_build_array({pick(tags)}) END AS tags,
               {pick(sources)} AS source,
               now() - random() * interval '1095 days' AS created
          FROM bench_tenants bt CROSS JOIN generate_series(1, {m}) g OFFSET 0) s;

-- Deals: {deals} per tenant, in the tenant's default pipeline, status from the stage.
INSERT INTO deals (tenant_id, id, title, pipeline_id, stage_id, status, amount, currency, expected_close_date,
                   contact_id, company_id, lost_reason, closed_at, owner_id, created_by, created_at, updated_at)
SELECT s.tenant_id, {u("s.tenant_id::text || ':dl:' || s.g")}, s.title, st.pipeline_id, st.stage_id, st.kind,
       s.amount, s.currency, (s.created + interval '60 days')::date,
       {u("s.tenant_id::text || ':ct:' || s.ct")},
       CASE WHEN s.co <= {companies} THEN {u("s.tenant_id::text || ':co:' || s.co")} END,
       CASE WHEN st.kind = 'lost' THEN 'price' END,
       CASE WHEN st.kind <> 'open' THEN s.created + interval '30 days' END,
       s.user_id, s.user_id, s.created, s.created + (now() - s.created) * random()
  FROM (SELECT bt.tenant_id, bt.user_id, g,
               {pick(co_a)} || ' ' || {pick(co_b)} || ' ' || {pick(products)} AS title,
               floor(random() * 5000000)::bigint AS amount,
               CASE WHEN random() < 0.8 THEN 'USD' ELSE 'EUR' END AS currency,
               1 + floor(random() * {m})::int AS ct,
               1 + floor(random() * {companies} / 0.6)::int AS co,
               floor(random() * 6)::int AS stage_pick,
               now() - random() * interval '1095 days' AS created
          FROM bench_tenants bt CROSS JOIN generate_series(1, {deals}) g OFFSET 0) s
  JOIN bench_stages st ON st.tenant_id = s.tenant_id AND st.n = s.stage_pick % st.cnt;

-- Activities: {activities} per tenant, most about a contact, some about a deal.
INSERT INTO activities (tenant_id, id, type, subject, notes, due_at, duration_minutes, done, done_at,
                        assigned_to, contact_id, deal_id, owner_id, created_by, created_at, updated_at)
SELECT tenant_id, gen_random_uuid(), ({types})[k], ({verbs})[k] || ' ' || who, NULL, due,
       CASE WHEN k IN (1, 2) THEN 15 * (1 + floor(random() * 8))::bigint END,
       due < now() AND d, CASE WHEN due < now() AND d THEN due END,
       user_id, CASE WHEN ct <= {m} THEN {u("tenant_id::text || ':ct:' || ct")} END,
       CASE WHEN dl <= {deals} THEN {u("tenant_id::text || ':dl:' || dl")} END,
       user_id, user_id, due - interval '7 days', due - interval '7 days'
  FROM (SELECT bt.tenant_id, bt.user_id, g,
               1 + floor(random() * 5)::int AS k,
               {pick(first, "1.3")} || ' ' || {pick(last, "1.3")} AS who,
               now() + (random() - 0.8) * interval '730 days' AS due,
               random() < 0.8 AS d,
               1 + floor(random() * {m} / 0.8)::int AS ct,
               1 + floor(random() * {deals} / 0.3)::int AS dl
          FROM bench_tenants bt CROSS JOIN generate_series(1, {activities}) g OFFSET 0) s;

\\timing off
-- What autovacuum does to a live database: statistics, and the visibility
-- map that lets index-only scans (search) skip the table.
VACUUM (ANALYZE);
SELECT (SELECT count(*) FROM companies) AS companies, (SELECT count(*) FROM contacts) AS contacts,
       (SELECT count(*) FROM deals) AS deals, (SELECT count(*) FROM activities) AS activities,
       pg_size_pretty(pg_database_size(current_database())) AS database_size;
""")


# --------------------------------------------------------------- SQLite ---
def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cmd_sqlite_load(path, contacts):
    m = int(contacts)
    companies, deals, activities = max(1, m // 10), max(1, m // 4), max(1, m // 4)
    rnd = random.Random(4242)
    nf, nl = len(FIRST), len(LAST)
    now = datetime.now(timezone.utc)
    db = sqlite3.connect(path, timeout=60)
    db.execute("PRAGMA busy_timeout = 60000")
    db.execute("PRAGMA foreign_keys = ON")
    tenants = db.execute(
        """SELECT t.id, u.id, p.id FROM tenants t
             JOIN users u ON u.tenant_id = t.id AND u.is_owner
             JOIN pipelines p ON p.tenant_id = t.id AND p.is_default""").fetchall()
    stages = {}
    for tid, sid, kind in db.execute(
            "SELECT tenant_id, id, kind FROM pipeline_stages ORDER BY tenant_id, position"):
        stages.setdefault(tid, []).append((sid, kind))

    def when():
        return now - timedelta(seconds=rnd.random() * 1095 * 86400)

    def later(t):
        return t + (now - t) * rnd.random()

    def phone():
        return f"+1 555 {rnd.randrange(10_000_000):07d}"

    for n, (tid, uid_, pid) in enumerate(tenants, 1):
        co_ids = [str(uuid.uuid4()) for _ in range(companies)]
        ct_ids = [str(uuid.uuid4()) for _ in range(m)]
        dl_ids = [str(uuid.uuid4()) for _ in range(deals)]
        rows = []
        for g, cid in enumerate(co_ids, 1):
            name = f"{rnd.choice(CO_A)} {rnd.choice(CO_B)} {rnd.choice(CO_SUFFIX)} {g}"
            slug = name.replace(" ", "").lower()
            c = when()
            rows.append((tid, cid, name, f"{slug}.example", rnd.choice(INDUSTRIES), phone(),
                         f"https://www.{slug}.example", uid_, uid_, ts(c), ts(later(c))))
        db.executemany("""INSERT INTO companies (tenant_id, id, name, domain, industry, phone, website,
                          owner_id, created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""", rows)
        rows = []
        for g, cid in enumerate(ct_ids, 1):
            fn = FIRST[int(rnd.random() ** SKEW * nf)]
            ln = LAST[int(rnd.random() ** SKEW * nl)]
            c = when()
            rows.append((tid, cid, fn, ln, f"{fn.lower()}.{ln.lower()}{g}@{rnd.choice(DOMAINS)}", phone(),
                         rnd.choice(TITLES) if rnd.random() < 0.8 else None,
                         rnd.choice(co_ids) if rnd.random() < 0.7 else None,
                         json.dumps([] if rnd.random() < 0.5 else [rnd.choice(TAGS)]),
                         rnd.choice(SOURCES), uid_, uid_, ts(c), ts(later(c))))
        db.executemany("""INSERT INTO contacts (tenant_id, id, first_name, last_name, email, phone, title,
                          company_id, tags, source, owner_id, created_by, created_at, updated_at)
                          VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
        rows = []
        st = stages[tid]
        for did in dl_ids:
            sid, kind = rnd.choice(st)
            c = when()
            rows.append((tid, did, f"{rnd.choice(CO_A)} {rnd.choice(CO_B)} {rnd.choice(PRODUCTS)}", pid, sid,
                         kind, rnd.randrange(5_000_000), "USD" if rnd.random() < 0.8 else "EUR",
                         (c + timedelta(days=60)).date().isoformat(), rnd.choice(ct_ids),
                         rnd.choice(co_ids) if rnd.random() < 0.6 else None,
                         "price" if kind == "lost" else None,
                         ts(c + timedelta(days=30)) if kind != "open" else None,
                         uid_, uid_, ts(c), ts(later(c))))
        db.executemany("""INSERT INTO deals (tenant_id, id, title, pipeline_id, stage_id, status, amount, currency,
                          expected_close_date, contact_id, company_id, lost_reason, closed_at, owner_id,
                          created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
        rows = []
        types = list(ACTIVITY)
        for _ in range(activities):
            k = rnd.choice(types)
            due = now + timedelta(seconds=(rnd.random() - 0.8) * 730 * 86400)
            done = due < now and rnd.random() < 0.8
            created = due - timedelta(days=7)
            rows.append((tid, str(uuid.uuid4()), k,
                         f"{ACTIVITY[k]} {FIRST[int(rnd.random() ** SKEW * nf)]} {LAST[int(rnd.random() ** SKEW * nl)]}",
                         ts(due), 15 * rnd.randrange(1, 9) if k in ("call", "meeting") else None,
                         1 if done else 0, ts(due) if done else None, uid_,
                         rnd.choice(ct_ids) if rnd.random() < 0.8 else None,
                         rnd.choice(dl_ids) if rnd.random() < 0.3 else None,
                         uid_, uid_, ts(created), ts(created)))
        db.executemany("""INSERT INTO activities (tenant_id, id, type, subject, due_at, duration_minutes, done,
                          done_at, assigned_to, contact_id, deal_id, owner_id, created_by, created_at, updated_at)
                          VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
        db.commit()
        if n % 50 == 0 or n == len(tenants):
            print(f"    loaded {n}/{len(tenants)} tenants", file=sys.stderr)
    db.execute("ANALYZE")
    db.commit()
    for table in ("companies", "contacts", "deals", "activities"):
        print(f"    {table}: {db.execute(f'SELECT count(*) FROM {table}').fetchone()[0]}", file=sys.stderr)
    db.close()


def main():
    if len(sys.argv) < 2:
        die(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "register":
        cmd_register(*args)
    elif cmd == "pg-sql":
        cmd_pg_sql(*args)
    elif cmd == "sqlite-load":
        cmd_sqlite_load(*args)
    elif cmd == "targets":
        cmd_targets(*args)
    elif cmd == "terms":
        print(" ".join(terms()))
    else:
        die(f"unknown sub-command {cmd}\n{__doc__}")


if __name__ == "__main__":
    main()
