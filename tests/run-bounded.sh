#!/bin/sh
# run-bounded.sh PROGRAM [ARGS...]: automake's LOG_COMPILER for every test.
# Runs the test under a time limit (TEST_TIMEOUT seconds, default 300) so a
# hang fails with a message instead of holding up the suite; the test gets
# SIGTERM first (the integration harness then stops its daemons), SIGKILL
# 10 s later.
limit=${TEST_TIMEOUT:-300}
timeout -k 10 "$limit" "$@"
rc=$?
case $rc in
124 | 137)
    echo "FAIL - $1 did not finish within $limit s (TEST_TIMEOUT); stopped"
    exit 1
    ;;
esac
exit $rc
