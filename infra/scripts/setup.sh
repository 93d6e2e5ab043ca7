#!/usr/bin/env bash
# Makes this machine ready to run geogate from the source tree: redis-server (Debian's
# package, when missing and we are root), the npm dependencies (npm ci when node_modules is
# missing or older than the lockfile) and the compiled output (npm ci runs the build; a
# stale dist/ is rebuilt). Idempotent; sourced by up.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf 'setup: %s\n' "$*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing redis-server (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq redis-server >/dev/null
    # the package starts a system redis on 6379; geogate runs its own processes
    (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
  else
    log "redis-server is not installed and cannot be installed automatically (need root + apt); install it and retry"
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (npm ci)"
  # The lockfile pins every version. When the registry serves no build of an optional,
  # platform-specific package the lockfile names (e.g. a darwin binary of msgpackr-extract),
  # npm ci refuses; npm install then installs the same pinned versions and skips it.
  npm ci --no-audit --no-fund --loglevel=error || {
    log "npm ci refused the lockfile; installing the pinned versions with npm install"
    npm install --no-audit --no-fund --loglevel=error
  }
fi

# One find, no pipeline: under pipefail a `... | head -1` fails when head closes the pipe
# early (the writer dies of SIGPIPE), which grew likelier as the tree grew.
stale_src() {
  [ -n "$(find gateway witness replicator conflict infra \( -name '*.ts' -o -name '*.lua' \) \
    -newer dist/infra/cli/main.js -print -quit)" ]
}
if [ ! -f dist/infra/cli/main.js ] || stale_src; then
  log "building (tsc)"
  npm run build --silent
fi
