#!/usr/bin/env python3
"""Counts what `make check` ran: each cmocka case, each integration check.

A test program's .log holds cmocka's "[  PASSED  ] N test(s)." /
"[  FAILED  ] N test(s)" lines, or the integration harness's
"NAME: P/T checks passed" line (T - P failed). A program whose log has neither (it
crashed, or is a plain test) counts as one test by its automake result.
Prints failing logs' tails, then one line "N passed, N failed"; exits 1 when
anything failed.
"""
import pathlib
import re
import sys

build = pathlib.Path(sys.argv[1])
make_status = int(sys.argv[2]) if len(sys.argv) > 2 else 0
passed = failed = skipped = 0
failed_logs = []
for trs in sorted(build.rglob("*.trs")):
    text = trs.read_text(errors="replace")
    m = re.search(r"^:test-result: (\w+)", text, re.M)
    result = m.group(1) if m else "ERROR"
    log = trs.with_suffix(".log")
    body = log.read_text(errors="replace") if log.exists() else ""
    p = f = 0
    counted = False
    cm_pass = re.findall(r"\[  PASSED  \] (\d+) test", body, re.M)
    cm_fail = re.findall(r"\[  FAILED  \] (\d+) test", body, re.M)
    checks = [(int(p), int(t) - int(p))
              for p, t in re.findall(r"^\S+: (\d+)/(\d+) checks passed$", body, re.M)]
    if cm_pass or cm_fail:
        p = sum(map(int, cm_pass))
        f = sum(map(int, cm_fail))
        counted = True
    elif checks:
        p = sum(a for a, _ in checks)
        f = sum(b for _, b in checks)
        counted = True
    if result == "SKIP":
        skipped += 1
        continue
    if not counted:
        p, f = (1, 0) if result in ("PASS", "XFAIL") else (0, 1)
    elif result in ("FAIL", "ERROR", "XPASS") and f == 0:
        f = 1  # it claimed success but exited non-zero: count the exit
    passed += p
    failed += f
    if f:
        failed_logs.append(log)

for log in failed_logs:
    print(f"--- {log.relative_to(build)} (last 40 lines)")
    lines = log.read_text(errors="replace").splitlines()
    print("\n".join(lines[-40:]))
if make_status and not failed:
    # make check failed before or besides the tests (a build error): that
    # is a failure too, and its output says why.
    print("--- make check failed; its last lines:")
    out = (build / "check.out").read_text(errors="replace").splitlines()
    print("\n".join(out[-20:]))
    failed += 1
tail = f", {skipped} skipped" if skipped else ""
print(f"{passed} passed, {failed} failed{tail}")
sys.exit(1 if failed else 0)
