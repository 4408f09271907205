#!/usr/bin/env bash
# systemd.sh: what `make install` ships. The tree is installed with
# DESTDIR and the installed files themselves are checked, never a copy this
# script made: no placeholder is left in any installed text file, the unit
# starts the installed binary with the config path that binary reads by
# default, the paths baked into the binaries exist in the installed tree,
# and `systemd-analyze verify --root` passes on the installed unit. The unit
# asks for Type=notify, hardening and only the capability to bind port 53.
# Skipped (77) where systemd-analyze or make is not installed.
. "$(dirname "$0")/lib.sh"
require_meridiand
require_cmd systemd-analyze make

dest="$WORKDIR/root"
# A nested make must not join the jobserver of the `make check` running us.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" install DESTDIR="$dest" \
    >"$WORKDIR/install.log" 2>&1; then
    mapfile -t show < <(tail -n 20 "$WORKDIR/install.log")
    fail "make install DESTDIR=$dest" "expected: exit 0" "got:" "${show[@]}"
    finish
fi
unit=$(find "$dest" -type f -name meridiand.service)
daemon=$(find "$dest" -type f -path '*/sbin/meridiand')
ctl=$(find "$dest" -type f -path '*/sbin/meridianctl')
if [ -z "$unit" ] || [ -z "$daemon" ] || [ -z "$ctl" ]; then
    fail "make install ships the unit and both binaries" \
        "got: unit '$unit' meridiand '$daemon' meridianctl '$ctl'"
    finish
fi
pass "make install ships ${unit#"$dest"}, ${daemon#"$dest"}, ${ctl#"$dest"}"
sbindir=$(dirname "${daemon#"$dest"}")

# configure substitutes @name@ wherever it appears, so a placeholder that
# survives into an installed file means a substitution went wrong.
left=$(grep -rIlE '@[A-Za-z_]+@' "$dest" || true)
if [ -z "$left" ]; then
    pass "no @placeholder@ left in any installed text file"
else
    mapfile -t show < <(grep -rInE '@[A-Za-z_]+@' "$dest" | sed "s|^$dest||")
    fail "no @placeholder@ left in any installed text file" "got:" "${show[@]}"
fi

# The default config path each binary was built with (-DSYSCONFDIR).
default_config() {
    local help
    help=$("$1" --help 2>&1) || true
    sed -n 's|.*(default \(/[^)]*\)).*|\1|p' <<<"$help"
}
config=$(default_config "$daemon")
ctl_config=$(default_config "$ctl")
if [ -n "$config" ] && [ "$config" = "$ctl_config" ]; then
    pass "meridiand and meridianctl read $config by default"
else
    fail "meridiand and meridianctl read the same default config" \
        "got: meridiand '$config', meridianctl '$ctl_config'"
fi
# The country table the daemon looks for (-DMERIDIAN_DATADIR) is installed.
countries=$(grep -aoE '/[ -~]*/countries\.csv' "$daemon" || true)
countries=${countries%%$'\n'*}
if [ -n "$countries" ] && [ -f "$dest$countries" ]; then
    pass "the built-in country table path $countries is installed"
else
    fail "the built-in country table path is installed" \
        "expected: a file at DESTDIR$countries" "got: $(ls "$dest$countries" 2>&1)"
fi

for want in "ExecStart=$sbindir/meridiand -c $config" \
    "ExecStartPre=$sbindir/meridiand -c $config --check" \
    "Type=notify" "NoNewPrivileges=yes" "ProtectSystem=strict" \
    "AmbientCapabilities=CAP_NET_BIND_SERVICE" "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" \
    "ExecReload=/bin/kill -HUP \$MAINPID" "DynamicUser=yes"; do
    if grep -qxF -- "$want" "$unit"; then
        pass "installed unit says $want"
    else
        mapfile -t show < <(grep -E '^(Exec|Type|Dynamic)' "$unit")
        fail "installed unit says $want" "expected the line: $want" "got:" "${show[@]}"
    fi
done

# verify --root resolves the unit's commands inside the installed tree; it
# also wants the default dependency sysinit.target and ExecReload's
# /bin/kill there, which a package would find on the target system.
for d in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -f "$d/sysinit.target" ]; then sysinit="$d/sysinit.target"; break; fi
done
[ -n "${sysinit:-}" ] || skip "no sysinit.target on this machine"
mkdir -p "$dest/usr/lib/systemd/system" "$dest/bin"
cp "$sysinit" "$dest/usr/lib/systemd/system/"
cp /bin/kill "$dest/bin/kill"
verify() {
    systemd-analyze verify --man=no --root="$dest" "$unit" 2>&1
}
out=$(verify) && rc=0 || rc=$?
if [ "$rc" = 0 ] && [ -z "$out" ]; then
    pass "systemd-analyze verify --root on the installed unit: no complaints"
else
    mapfile -t show <<<"$out"
    fail "systemd-analyze verify --root on the installed unit" \
        "expected: exit 0 and no output" "got:      exit $rc" "${show[@]}"
fi
# Without the installed binary the same check must fail: it is real.
mv "$daemon" "$daemon.away"
if verify >/dev/null; then
    fail "systemd-analyze rejects the installed unit when its binary is missing" \
        "expected a non-zero exit"
else
    pass "systemd-analyze rejects the installed unit when its binary is missing"
fi
mv "$daemon.away" "$daemon"
finish
