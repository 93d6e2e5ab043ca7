#!/usr/bin/env bash
# The test command: unit + simulation, integration (real redis-server processes), and the
# multi-region container scenarios (Docker engine started when none runs; set
# GEOGATE_SKIP_CONTAINERS=1 to skip them explicitly). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/scripts/setup.sh --test-tools
npx tsc -p tsconfig.json --noEmit
npx vitest run --project unit --project integration "$@"
if [ "${GEOGATE_SKIP_CONTAINERS:-}" = "1" ]; then
  echo "test: container scenarios SKIPPED (GEOGATE_SKIP_CONTAINERS=1)" >&2
elif [ -d test/containers ] && ls test/containers/*.test.ts >/dev/null 2>&1; then
  npx vitest run --project containers
fi
