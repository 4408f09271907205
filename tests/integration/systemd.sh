#!/usr/bin/env bash
# systemd.sh: the systemd unit (etc/meridiand.service.in, made into
# meridiand.service by make) passes `systemd-analyze verify` with this
# build's binaries, and asks for what the operations issue requires:
# Type=notify, hardening, and only the capability to bind port 53.
# Skipped (77) where systemd-analyze is not installed.
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd systemd-analyze

unit="$WORKDIR/meridiand.service"
sed -e "s|@sbindir@|$(dirname "$MERIDIAND")|g" -e "s|@sysconfdir@|$top_srcdir/etc/..|g" \
    "$top_srcdir/etc/meridiand.service.in" > "$unit"

out=$(systemd-analyze verify --man=no "$unit" 2>&1) && rc=0 || rc=$?
if [ "$rc" = 0 ] && [ -z "$out" ]; then
    pass "systemd-analyze verify: no complaints"
else
    mapfile -t show <<<"$out"
    fail "systemd-analyze verify" "expected: exit 0 and no output" "got:      exit $rc" \
        "${show[@]}"
fi
for want in "Type=notify" "NoNewPrivileges=yes" "ProtectSystem=strict" \
    "AmbientCapabilities=CAP_NET_BIND_SERVICE" "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" \
    "ExecReload=/bin/kill -HUP \$MAINPID" "DynamicUser=yes"; do
    if grep -qxF -- "$want" "$unit"; then
        pass "unit says $want"
    else
        fail "unit says $want" "expected the line: $want"
    fi
done
# A unit that names a binary that is not there must fail: the check is real.
sed "s|$(dirname "$MERIDIAND")/meridiand|/nonexistent/meridiand|g" "$unit" > "$WORKDIR/bad.service"
if systemd-analyze verify --man=no "$WORKDIR/bad.service" >/dev/null 2>&1; then
    fail "systemd-analyze rejects a unit whose binary is missing" "expected a non-zero exit"
else
    pass "systemd-analyze rejects a unit whose binary is missing"
fi
finish
