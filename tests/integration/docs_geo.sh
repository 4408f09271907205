#!/usr/bin/env bash
# docs_geo.sh: docs/geo.md's worked example works as printed. Its zone
# (step 1) and config (step 2) are taken from the page; only the two paths
# of files outside this tree (the GeoIP database and the country table)
# are pointed at the test database and geoip/countries.csv, and, as the
# page sets no server section, one for a test run as root without
# /run/meridian (allow_root, no control socket) is added. Then
# `meridiand --check` must pass, and `--explain` of step 4 must print what
# the page says, line for line (the page's London address is in MaxMind's
# GeoIP2-City-Test.mmdb with the same location; skipped when that external
# test data is absent).
. "$(dirname "$0")/lib.sh"
require_meridiand
page="$top_srcdir/docs/geo.md"
dir="$WORKDIR/example"
mkdir -p "$dir/etc" "$dir/zones"

# block SECTION-PREFIX: the first fenced block under the "## N." heading.
block() {
    awk -v want="$1" '
        /^## / { in_sec = index($0, want) == 1; next }
        in_sec && /^```/ { if (inside) exit; inside = 1; next }
        in_sec && inside { print }
    ' "$page"
}

block "## 1." >"$dir/zones/example.com.zone"
block "## 2." >"$dir/etc/meridian.yaml.page"
block "## 4." >"$dir/explain.page"
for f in zones/example.com.zone etc/meridian.yaml.page explain.page; do
    [ -s "$dir/$f" ] || hard_error "docs/geo.md: no block for $f (headings changed?)"
done

db=""
for up in .. ../..; do
    if [ -r "$top_srcdir/$up/shared/geoip-testdata/GeoIP2-City-Test.mmdb" ]; then
        db="$top_srcdir/$up/shared/geoip-testdata/GeoIP2-City-Test.mmdb"
        break
    fi
done
[ -n "$db" ] || skip "no GeoIP2-City-Test.mmdb beside the checkout"

# Only the two external paths change; a page that stops naming them fails.
sed -e "s|^\(  database: \)[^ ]*|\1$db|" \
    -e "s|^\(  countries: \)[^ ]*|\1$top_srcdir/geoip/countries.csv|" \
    "$dir/etc/meridian.yaml.page" >"$dir/etc/meridian.yaml"
if [ "$(diff "$dir/etc/meridian.yaml.page" "$dir/etc/meridian.yaml" | grep -c '^>')" = 2 ]; then
    pass "the page's config names a database and a country table"
else
    fail "the page's config names a database and a country table" \
        "$(diff "$dir/etc/meridian.yaml.page" "$dir/etc/meridian.yaml")"
fi
if ! grep -q '^server:' "$dir/etc/meridian.yaml"; then
    printf 'server:\n  allow_root: true\n  control: ""\n' >>"$dir/etc/meridian.yaml"
fi
for want in "health_checks:" "check: web" "check: api"; do
    if grep -qF -- "$want" "$dir/etc/meridian.yaml"; then
        pass "the page's config has $want"
    else
        fail "the page's config has $want"
    fi
done

cd "$dir/etc"
run_meridiand -c meridian.yaml --check
expect_rc 0

# The explain block: "$ meridiand -c meridian.yaml --explain NAME ADDRESS",
# then the output.
read -r -a cmd < <(sed -n '1s/^\$ //p' "$dir/explain.page")
[ "${cmd[0]:-}" = meridiand ] || hard_error "docs/geo.md step 4 does not start with \$ meridiand"
tail -n +2 "$dir/explain.page" >"$dir/explain.want"
out=$("$MERIDIAND" "${cmd[@]:1}" 2>"$dir/explain.err") && rc=0 || rc=$?
printf '%s\n' "$out" >"$dir/explain.got"
if [ "$rc" = 0 ] && diff -u "$dir/explain.want" "$dir/explain.got" >"$dir/explain.diff"; then
    pass "--explain prints what docs/geo.md shows"
else
    mapfile -t show <"$dir/explain.diff"
    mapfile -t errs <"$dir/explain.err"
    fail "--explain prints what docs/geo.md shows" "exit $rc" "${show[@]}" "${errs[@]}"
fi
finish
