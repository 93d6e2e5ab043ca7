#!/usr/bin/env bash
# The test command: unit + simulation, integration (real redis-server processes), and the
# multi-region container scenarios (Docker engine started when none runs; set
# GEOGATE_SKIP_CONTAINERS=1 to skip them explicitly). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/scripts/setup.sh --test-tools

containers=0
if [ "${GEOGATE_SKIP_CONTAINERS:-}" != "1" ] && [ -d test/containers ] && ls test/containers/*.test.ts >/dev/null 2>&1; then containers=1; fi

# The container suite's production image (its base images made locally, then `docker build`
# with a real `npm ci`) takes a minute and a half, mostly downloads: it is prepared in the
# background at the lowest CPU priority while the other suites run (infra/images/prebuild.ts;
# the deploy test waits for it). A Docker engine it had to start is stopped at the end.
prebuild_dir="$(mktemp -d)"
prebuild_pid=""
stop_engine() {
  if [ -n "$prebuild_pid" ] && kill -0 "$prebuild_pid" 2>/dev/null; then kill "$prebuild_pid" 2>/dev/null || true; sleep 1; fi
  if [ -s "$prebuild_dir/log" ]; then sed 's/^/test: /' "$prebuild_dir/log" >&2 || true; fi
  if [ -f "$prebuild_dir/engine" ] && grep -q '^engine=started' "$prebuild_dir/engine" \
    && [ -z "$(docker ps -aq 2>/dev/null)" ]; then
    bash infra/scripts/ensure-docker.sh --stop >/dev/null 2>&1 || true
  fi
  rm -rf "$prebuild_dir"
}
trap stop_engine EXIT
if [ "$containers" = 1 ]; then
  ( bash infra/scripts/ensure-docker.sh >"$prebuild_dir/engine" 2>"$prebuild_dir/log" \
      && exec nice -n 19 node --import tsx infra/images/prebuild.ts ) >>"$prebuild_dir/log" 2>&1 &
  prebuild_pid=$!
fi

npx tsc -p tsconfig.json --noEmit
npx vitest run --project unit --project integration "$@"
if [ "${GEOGATE_SKIP_CONTAINERS:-}" = "1" ]; then
  echo "test: container scenarios SKIPPED (GEOGATE_SKIP_CONTAINERS=1)" >&2
elif [ "$containers" = 1 ]; then
  # (the deploy test waits for the prebuild; its log is printed at the end)
  GEOGATE_PREBUILD_PID="${prebuild_pid}" npx vitest run --project containers
fi
