"""Schemathesis hooks for tests/contract/run.sh (loaded via SCHEMATHESIS_HOOKS).

A body field such as `company_id` must name an existing record of the
caller's tenant; a reference to a record that does not exist is refused
with 422 naming the field, which is the right answer and which no schema can
rule out (it is state, not shape). Schemathesis' `parameters` overrides
reach only some of its phases (not Coverage), so this hook gives every
phase the same treatment just before a request is sent: a reference field
holding a well-formed id (a value the schema allows) gets the id of the
record run.sh seeded for it. Anything else (null, a wrong type, a malformed
id: the negative cases) is left exactly as generated, and schemathesis
re-checks the case against the schema after the edit, so a positive case
stays positive and a negative one negative.

The seeded ids come from the JSON file named by CONTRACT_IDS.
"""

import json
import os
import re

import schemathesis

with open(os.environ["CONTRACT_IDS"]) as f:
    IDS = json.load(f)

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    for field, seeded in IDS.items():
        value = body.get(field)
        if isinstance(value, str) and UUID.match(value):
            body[field] = seeded
