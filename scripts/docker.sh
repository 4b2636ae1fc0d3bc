#!/usr/bin/env bash
# Make a Docker engine available for the docker plugin's tests (plugins/fdd-docker/tests).
# Installs Debian's docker.io and debootstrap (the base image is built from Debian's packages)
# if missing, and starts dockerd when no engine answers. Prints a line to eval that says
# how to stop the engine it started (nothing to stop when one was already running).
# Needs root. Usage: eval "$(scripts/docker.sh)"; ...; fdd_docker_stop
set -euo pipefail
LOG=${FDD_DOCKERD_LOG:-/tmp/fdd-dockerd.log}
if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io debootstrap) >&2
fi
if docker info >/dev/null 2>&1; then
    echo "fdd_docker_stop() { :; }"  # an engine someone else started: leave it running
    exit 0
fi
dockerd >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$PID" 2>/dev/null || { echo "dockerd exited; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
    sleep 1
done
docker info >/dev/null 2>&1 || { echo "dockerd did not answer within 60 s; see $LOG" >&2; exit 1; }
echo "docker engine $(docker info --format '{{.ServerVersion}}') started (pid $PID, log $LOG)" >&2
echo "fdd_docker_stop() { kill $PID 2>/dev/null && for _ in \$(seq 1 30); do kill -0 $PID 2>/dev/null || break; sleep 1; done; }"
