#!/usr/bin/env python3
"""tlsrpt_schema_check.py - validate daneguard's TLS-RPT reports against tests/data/tlsrpt-schema.json.

Usage: tlsrpt_schema_check.py TEST_BINARY SCHEMA

TEST_BINARY is test_tlsrpt_report; run with "--dump DIR" it writes the reports it builds from
a fixed journal to DIR/report-N.json. Each must validate against the schema (written from the
field list of RFC 8460 section 4.4, SPEC RPT-3); the summary's failure count must equal the
sum of its failure-details rows; and broken copies (policies not an array, a count as a
string, an unknown result type) must fail, so the check itself is shown to bite.
"""
import copy
import glob
import json
import os
import subprocess
import sys
import tempfile

import jsonschema


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, schema_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft7Validator(schema)
    with tempfile.TemporaryDirectory(prefix="dg-tlsrpt-schema-") as d:
        subprocess.run([binary, "--dump", d], check=True, timeout=60)
        paths = sorted(glob.glob(os.path.join(d, "report-*.json")))
        if len(paths) < 2:
            print(f"got {len(paths)} reports, want at least 2", file=sys.stderr)
            return 1
        bad = 0
        for p in paths:
            with open(p, encoding="utf-8") as f:
                rep = json.load(f)
            errs = list(validator.iter_errors(rep))
            for e in errs:
                print(f"{os.path.basename(p)}: {list(e.path)}: {e.message}", file=sys.stderr)
            bad += len(errs)
            for pol in rep["policies"]:
                rows = sum(r["failed-session-count"] for r in pol.get("failure-details", []))
                want = pol["summary"]["total-failure-session-count"]
                if rows != want:
                    print(f"{os.path.basename(p)}: failure rows sum to {rows}, want {want}",
                          file=sys.stderr)
                    bad += 1
        # the schema must reject broken reports
        with open(paths[0], encoding="utf-8") as f:
            good = json.load(f)
        breakers = [
            lambda r: r.__setitem__("policies", {}),
            lambda r: r["policies"][0]["summary"].__setitem__(
                "total-successful-session-count", "3"),
            lambda r: r["policies"][0].setdefault("failure-details", []).append(
                {"result-type": "no-such-type", "failed-session-count": 1}),
            lambda r: r.pop("report-id"),
            lambda r: r["date-range"].__setitem__("start-datetime", "2026-03-14"),
        ]
        for i, brk in enumerate(breakers):
            r = copy.deepcopy(good)
            brk(r)
            if validator.is_valid(r):
                print(f"broken report {i} passed the schema, want a failure", file=sys.stderr)
                bad += 1
    if bad:
        return 1
    print(f"{len(paths)} reports valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
