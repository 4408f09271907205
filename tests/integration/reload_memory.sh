#!/usr/bin/env bash
# reload_memory.sh: reloads do not pile up memory.
#
# Each reload builds the new snapshot on a thread of its own, and so in a
# malloc arena of its own; the old snapshot's memory, freed afterwards,
# must go back to the system rather than stay with its arena. meridiand
# loads a zone of 200,000 A records (generated here), then reloads it four
# times (SIGHUP, each waited for); its resident memory afterwards must stay
# under 1.5 times what it was after the first load (without the release it
# grows to about three times). Under AddressSanitizer, whose allocator
# keeps freed memory, only the reloads are checked.
#
# Data: generated (example.com with h0..h199999).
. "$(dirname "$0")/lib.sh"
require_cmd dig "$PYTHON"

RECORDS=200000
"$PYTHON" - "$WORKDIR/example.com.zone" "$RECORDS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("$ORIGIN example.com.\n$TTL 300\n")
    f.write("@ SOA ns1 hostmaster 1 3600 900 604800 300\n@ NS ns1\nns1 A 192.0.2.1\n")
    for i in range(n):
        f.write("h%d A 10.%d.%d.%d\n" % (i, i >> 16 & 255, i >> 8 & 255, i & 255))
PY
cat >"$WORKDIR/meridian.yaml" <<YAML
server:
  allow_root: true
  control: ""
  listen: ["127.0.0.1:5399"]
  workers: 1
  log_level: info
zones: [$WORKDIR/example.com.zone]
YAML
start_meridiand "$WORKDIR/meridian.yaml"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$MERIDIAND_PID/status"; }
reloads_done() { grep -c 'reload: [0-9]* zones' "$MERIDIAND_LOG" || true; }
last_name_answers() {
    q "h$((RECORDS - 1)).example.com" A
    assert_answer "h$((RECORDS - 1)).example.com. 300 IN A 10.3.13.63"
}

last_name_answers
first=$(rss_kb)
echo "# resident after the first load: $((first / 1024)) MB"

for i in 1 2 3 4; do
    n=$(reloads_done)
    kill -HUP "$MERIDIAND_PID"
    for _ in $(seq 300); do
        [ "$(reloads_done)" -gt "$n" ] && break
        sleep 0.1
    done
    if [ "$(reloads_done)" -le "$n" ]; then
        fail "reload $i did not finish within 30 s"
        finish
    fi
done
pass "four reloads of $RECORDS records finished"

# AddressSanitizer's allocator keeps freed memory in quarantine and has no
# malloc_trim(): under it only the reloads themselves are checked.
# (not "ldd | grep -q": under pipefail grep's early exit can fail the pipe)
if [[ "$(ldd "$MERIDIAND" 2>/dev/null)" == *libasan* ]]; then
    skip_checks 1 "built with AddressSanitizer (quarantine, no malloc_trim): resident memory"
else
    # The last old snapshot is freed after its reload is logged: give it time.
    limit=$((first * 3 / 2))
    for _ in $(seq 50); do
        now=$(rss_kb)
        [ "$now" -le "$limit" ] && break
        sleep 0.2
    done
    if [ "$now" -le "$limit" ]; then
        pass "resident memory after four reloads: $((now / 1024)) MB (first $((first / 1024)) MB)"
    else
        fail "resident memory grew from $((first / 1024)) to $((now / 1024)) MB in four reloads"
    fi
fi
last_name_answers

finish
