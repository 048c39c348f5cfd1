#!/usr/bin/env python3
"""Contact CSV for bench/import.sh. Standard library only.

  import_gen.py ROWS OUT.csv

Columns first_name,last_name,email,phone,title,company,tags,source; about
100 bytes a row; 2,000 distinct companies; 3 % of the rows repeat the e-mail
of an earlier row (in other letter case: the server compares lowercased),
2 % have no e-mail, 0.5 % are invalid (no first name, a malformed e-mail,
or a title over 100 characters). Deterministic (fixed seed).

Prints one JSON line: the counts an import with on_duplicate=skip should
report (imported, skipped, errors).
"""

import csv
import json
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, __import__("os").path.dirname(__file__))
from crm_seed import FIRST, LAST, DOMAINS, TITLES, SOURCES, TAGS, CO_A, CO_B, CO_SUFFIX  # noqa: E402

COMPANIES = 2000
DUPLICATES = 0.03
NO_EMAIL = 0.02
INVALID = 0.005


def main():
    rows, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(20240601)
    companies = []
    seen = set()
    while len(companies) < COMPANIES:
        name = f"{rnd.choice(CO_A)} {rnd.choice(CO_B)} {rnd.choice(CO_SUFFIX)}"
        if name in seen:
            name = f"{name} {len(companies)}"
        seen.add(name)
        companies.append(name)
    emails = []  # valid e-mails written so far (for duplicates)
    imported = skipped = errors = 0
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["first_name", "last_name", "email", "phone", "title", "company", "tags", "source"])
        for i in range(1, rows + 1):
            first = FIRST[int(rnd.random() ** 1.3 * len(FIRST))]
            last = LAST[int(rnd.random() ** 1.3 * len(LAST))]
            r = rnd.random()
            email = f"{first.lower()}.{last.lower()}{i}@{rnd.choice(DOMAINS)}"
            title = rnd.choice(TITLES) if rnd.random() < 0.8 else ""
            kind = "ok"
            if r < INVALID:
                kind = "invalid"
                bad = i % 3
                if bad == 0:
                    first = ""
                elif bad == 1:
                    email = f"{first.lower()}.{last.lower()}{i}@"
                else:
                    title = "Head of " + "very " * 20 + "important things"
            elif r < INVALID + DUPLICATES and emails:
                kind = "duplicate"
                email = rnd.choice(emails).upper()
            elif r < INVALID + DUPLICATES + NO_EMAIL:
                email = ""
            tags = ";".join(rnd.sample(TAGS, rnd.choice((0, 0, 1, 2))))
            w.writerow([first, last, email, f"+1 555 {rnd.randrange(10_000_000):07d}", title,
                        rnd.choice(companies), tags, rnd.choice(SOURCES)])
            if kind == "invalid":
                errors += 1
            elif kind == "duplicate":
                skipped += 1
            else:
                imported += 1
                if email:
                    emails.append(email)
    print(json.dumps({"rows": rows, "imported": imported, "skipped": skipped, "errors": errors,
                      "companies": COMPANIES}))


if __name__ == "__main__":
    main()
