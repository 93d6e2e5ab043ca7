#!/usr/bin/env bash
# Runs a local multi-region cluster on loopback (installs what it needs first).
# Options are passed to `geogate up`: --regions N --base-port P --dir D --wan-delay-ms N --tls
# --redis standalone|sentinel (sentinel: a master, a replica and 3 sentinels per region)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/scripts/setup.sh
exec node bin/geogate.js up "$@"
