#!/usr/bin/env bash
# Installs what Meridian needs on Debian 12 (only what is missing), then
# builds it out of tree in build/ (or $BUILD_DIR). Extra configure flags may
# be given in $CONFIGURE_FLAGS, e.g. --enable-sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

packages=(
    build-essential autoconf automake libtool pkg-config
    libldns-dev libmaxminddb-dev libuv1-dev liburcu-dev libyaml-dev libcmocka-dev
    libcurl4-openssl-dev openssl libjansson-dev libsystemd-dev
    dnsutils ldnsutils nsd unbound python3 iproute2 procps libmaxmind-db-writer-perl systemd
    knot
    clang libclang-rt-14-dev # the fuzz targets: scripts/fuzz.sh
)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
fi
# The nsd, unbound and knot packages may start system services on port 53;
# the tests start their own instances on other ports.
if command -v systemctl >/dev/null 2>&1; then
    for unit in nsd unbound knot; do
        if systemctl is-active --quiet "$unit" 2>/dev/null; then
            systemctl stop "$unit" || true
        fi
    done
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    ./autogen.sh >/dev/null
fi
build=${BUILD_DIR:-$top/build}
mkdir -p "$build"
cd "$build"
flags="--enable-werror ${CONFIGURE_FLAGS:-}"
if [ ! -f Makefile ] || [ "$(cat .configure-flags 2>/dev/null)" != "$flags" ]; then
    # shellcheck disable=SC2086
    "$top/configure" $flags >/dev/null
    echo "$flags" > .configure-flags
fi
make -j"$(nproc)" >/dev/null
echo "setup: built $build/meridiand"

# The quick start's GeoIP database, geoip/quickstart.mmdb: the free country
# database when scripts/demo.sh could fetch it (geoip/country.mmdb), else a
# small demo database built from geoip/demo.csv.
cd "$top"
if [ ! -f geoip/demo.mmdb ] || [ geoip/demo.csv -nt geoip/demo.mmdb ]; then
    geoip/csv2mmdb geoip/demo.csv geoip/demo.mmdb.tmp && mv geoip/demo.mmdb.tmp geoip/demo.mmdb
fi
if [ -s geoip/country.mmdb ]; then
    cp geoip/country.mmdb geoip/quickstart.mmdb
else
    cp geoip/demo.mmdb geoip/quickstart.mmdb
fi
