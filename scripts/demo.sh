#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and serves the bundled demo
# zones on 127.0.0.1:5353 and [::1]:5353 in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cat <<'MSG'

Meridian is starting on 127.0.0.1:5353 with the demo zones. Try, in another terminal:
    dig @127.0.0.1 -p 5353 www.example.com A
    dig @127.0.0.1 -p 5353 +tcp web.example.com A

MSG
exec "${BUILD_DIR:-build}/meridiand" -c etc/meridian.yaml "$@"
