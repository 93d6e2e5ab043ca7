#!/usr/bin/env bash
# Makes this machine ready to run geogate from the source tree: redis-server (Debian's
# package, when missing and we are root), the npm dependencies (npm ci when node_modules is
# missing or older than the lockfile) and the compiled output (npm ci runs the build; a
# stale dist/ is rebuilt). Idempotent; sourced by up.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf 'setup: %s\n' "$*" >&2; }

# What apt has to install: redis-server always; with `setup.sh --test-tools` (test.sh) the
# tools the test suites drive besides Redis — headless Chromium (the status page),
# debootstrap (the production Dockerfile's base image, made locally), docker-compose (the
# compose file), promtool (the alert rules). One `apt-get update` for all of them.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${1:-}" = "--test-tools" ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
fi

# The npm dependencies install while apt does (both mostly wait on downloads).
npm_pid=""
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (npm ci)"
  # The lockfile pins every version. When the registry serves no build of an optional,
  # platform-specific package the lockfile names (e.g. a darwin binary of msgpackr-extract),
  # npm ci refuses; npm install then installs the same pinned versions and skips it.
  ( npm ci --no-audit --no-fund --loglevel=error || {
    log "npm ci refused the lockfile; installing the pinned versions with npm install"
    npm install --no-audit --no-fund --loglevel=error
  } ) &
  npm_pid=$!
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing (apt): ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # the packages start a system redis on 6379 and a prometheus server; geogate runs its
    # own redis processes and the tests only use promtool
    (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
    (service prometheus stop || systemctl stop prometheus || true) >/dev/null 2>&1
  elif ! command -v redis-server >/dev/null 2>&1; then
    log "redis-server is not installed and cannot be installed automatically (need root + apt); install it and retry"
    [ -z "$npm_pid" ] || wait "$npm_pid" || true
    exit 1
  else
    log "missing test tools (${missing[*]}) and cannot install them (need root + apt); the tests that need them fail"
  fi
fi

if [ -n "$npm_pid" ] && ! wait "$npm_pid"; then
  log "installing the npm dependencies failed"
  exit 1
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
