#!/usr/bin/env bash
# Makes a Docker engine available for the container test suites and the local cluster.
#
#   ensure-docker.sh          use the engine that answers `docker info`; else (root on Debian,
#                             GEOGATE_DOCKER_INSTALL != 0) install docker.io when missing and
#                             start dockerd in the background, then wait for it (bounded).
#   ensure-docker.sh --stop   stop the dockerd this script started (by its PID file), nothing else.
#
# Idempotent: a running engine is used unchanged, and a second call starts nothing.
# On success the last line of stdout is `engine=existing` or `engine=started pid=<pid>`.
# Exit codes: 0 engine ready, 2 no engine can be had (the message says why).
set -euo pipefail

STATE_DIR="${GEOGATE_DOCKER_STATE_DIR:-/tmp/geogate-docker}"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
WAIT_S_MAX="${GEOGATE_DOCKER_WAIT_S:-30}"

say() { echo "ensure-docker: $*" >&2; }
fail() { say "$*"; exit 2; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

stop_started() {
  if [[ ! -f "$PID_FILE" ]]; then say "no dockerd started by this script"; return 0; fi
  local pid; pid="$(cat "$PID_FILE")"
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == "dockerd" ]]; then
    kill "$pid"
    for _ in $(seq 1 100); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
    say "stopped dockerd pid=$pid"
  fi
  rm -f "$PID_FILE"
}

if [[ "${1:-}" == "--stop" ]]; then stop_started; exit 0; fi

if command -v docker >/dev/null 2>&1 && engine_answers; then
  echo "engine=existing"
  exit 0
fi

[[ "$(id -u)" == "0" ]] || fail "no Docker engine answers 'docker info' and we are not root: start one (or set DOCKER_HOST)."
[[ "${GEOGATE_DOCKER_INSTALL:-1}" != "0" ]] || fail "no Docker engine answers and GEOGATE_DOCKER_INSTALL=0 forbids starting one."

if ! command -v dockerd >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "no dockerd and no apt-get (not Debian): install Docker by hand."
  say "installing docker.io"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io) >&2 \
    || fail "apt-get install docker.io failed."
fi
command -v docker >/dev/null 2>&1 || fail "dockerd is present but the docker client is missing."

mkdir -p "$STATE_DIR"
# A dockerd we started earlier may still be coming up: wait for it rather than start another.
if [[ -f "$PID_FILE" && "$(cat "/proc/$(cat "$PID_FILE")/comm" 2>/dev/null || true)" == "dockerd" ]]; then
  pid="$(cat "$PID_FILE")"
  say "dockerd pid=$pid (started earlier) is not answering yet; waiting"
else
  say "starting dockerd (log: $LOG_FILE)"
  nohup dockerd >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
fi

for _ in $(seq 1 $((WAIT_S_MAX * 10))); do
  if engine_answers; then echo "engine=started pid=$pid"; exit 0; fi
  [[ -d "/proc/$pid" ]] || { rm -f "$PID_FILE"; fail "dockerd exited; see $LOG_FILE: $(tail -n 5 "$LOG_FILE" 2>/dev/null | tr '\n' ' ')"; }
  sleep 0.1
done
fail "dockerd pid=$pid did not answer within ${WAIT_S_MAX}s; see $LOG_FILE"
