#!/usr/bin/env python3
"""Counts what `make check` ran: each cmocka case, each integration check.

Usage: test-summary.py BUILD-DIR MAKE-STATUS TEST...

TEST... are the tests `make check` was asked to run (Makefile.am's TESTS,
from `make print-tests`); only their results count, so a stale .trs of a
test that no longer exists, or of an earlier build, is never read, and a
listed test without a fresh .trs (it never ran) is a failure.

A unit program's .log holds cmocka's "[  PASSED  ] N test(s)." /
"[  FAILED  ] N test(s)" / "[  SKIPPED ] N test(s)" lines; an integration
script's holds the harness's "NAME: P/T checks passed, S skipped" line.
A program whose log has neither (it crashed, or is a plain test) counts as
one test by its automake result, and a whole script that exited 77 counts
as one skip.

Prints failing logs' tails, the skipped checks with their reasons, then one
line "N passed, N failed, N skipped" (also written to $SUMMARY_COUNTS as
"N N N" when that is set). Exits 1 when anything failed, or when
the number skipped is not EXPECTED_SKIPS (default 0): scripts/test.sh
installs every tool and data file the suite needs, so a skip means the
set-up is broken, not that a check may be left out.
"""
import os
import pathlib
import re
import sys

build = pathlib.Path(sys.argv[1])
make_status = int(sys.argv[2]) if len(sys.argv) > 2 else 0
tests = sys.argv[3:]
expected_skips = int(os.environ.get("EXPECTED_SKIPS", "0"))
stamp = build / "check.stamp"
since = stamp.stat().st_mtime if stamp.exists() else 0.0

passed = failed = skipped = 0
failed_logs = []
skip_lines = []


def result_files(test):
    """The .trs and .log automake writes for TEST (no TEST_EXTENSIONS)."""
    base = build / test
    return base.with_name(base.name + ".trs"), base.with_name(base.name + ".log")


for test in tests:
    trs, log = result_files(test)
    if not trs.exists() or trs.stat().st_mtime <= since:
        print(f"--- {test}: no result from this run (it did not run, or its .trs is stale)")
        failed += 1
        continue
    text = trs.read_text(errors="replace")
    m = re.search(r"^:test-result: (\w+)", text, re.M)
    result = m.group(1) if m else "ERROR"
    body = log.read_text(errors="replace") if log.exists() else ""
    p = f = s = 0
    counted = False
    cm_pass = re.findall(r"^\[  PASSED  \] (\d+) test", body, re.M)
    cm_fail = re.findall(r"^\[  FAILED  \] (\d+) test", body, re.M)
    cm_skip = re.findall(r"^\[  SKIPPED \] (\d+) test", body, re.M)
    checks = [(int(a), int(b) - int(a), int(c or 0))
              for a, b, c in re.findall(
                  r"^\S+: (\d+)/(\d+) checks passed(?:, (\d+) skipped)?$", body, re.M)]
    if cm_pass or cm_fail or cm_skip:
        p = sum(map(int, cm_pass))
        f = sum(map(int, cm_fail))
        s = sum(map(int, cm_skip))
        counted = True
        if s:
            names = dict.fromkeys(re.findall(r"^\[  SKIPPED \] (test_\S+)", body, re.M))
            skip_lines += [f"{test}: {name}" for name in names]
    elif checks:
        p = sum(a for a, _, _ in checks)
        f = sum(b for _, b, _ in checks)
        s = sum(c for _, _, c in checks)
        counted = True
        skip_lines += [f"{test}: {line}" for line in
                       re.findall(r"^SKIP - (.*)$", body, re.M)]
    if result == "SKIP" and not counted:
        skipped += 1
        reason = re.findall(r"^SKIP: (.*)$", body, re.M)
        skip_lines.append(f"{test}: whole script: {reason[-1] if reason else '(no reason)'}")
        continue
    if not counted:
        p, f = (1, 0) if result in ("PASS", "XFAIL") else (0, 1)
    elif result in ("FAIL", "ERROR", "XPASS") and f == 0:
        f = 1  # it claimed success but exited non-zero: count the exit
    elif result == "SKIP" and f == 0:
        f = 1  # it counted checks, then skipped: the harness forbids that
    passed += p
    failed += f
    skipped += s
    if f:
        failed_logs.append(log)

for log in failed_logs:
    print(f"--- {log.relative_to(build)} (last 40 lines)")
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    print("\n".join(lines[-40:]))
for line in skip_lines:
    print(f"skipped: {line}")
if make_status and not failed:
    # make check failed before or besides the tests (a build error): that
    # is a failure too, and its output says why.
    print("--- make check failed; its last lines:")
    out = (build / "check.out").read_text(errors="replace").splitlines()
    print("\n".join(out[-20:]))
    failed += 1
if not tests:
    print("--- no tests were listed: nothing was checked")
    failed += 1
if skipped != expected_skips:
    print(f"--- {skipped} checks skipped where {expected_skips} were expected "
          "(EXPECTED_SKIPS): the set-up is incomplete")
    failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
if os.environ.get("SUMMARY_COUNTS"):
    # For scripts/test.sh, which adds up its phases.
    pathlib.Path(os.environ["SUMMARY_COUNTS"]).write_text(f"{passed} {failed} {skipped}\n")
sys.exit(1 if failed else 0)
