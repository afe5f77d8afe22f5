#!/usr/bin/env bash
# Print the base image the Salvo images build FROM (their BASE_IMAGE build argument):
#   $BASE_IMAGE when set; else python:3.12-slim when present or pullable; else the stand-in
#   salvo-base:bookworm, built from Debian packages by scripts/build-base-image.sh when missing
#   (for hosts that reach no container registry). Progress goes to stderr, the name to stdout:
#
#   BASE_IMAGE="$(scripts/base-image.sh)" docker compose build
#
# Used by `make images`/`make rehearsal` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
official=python:3.12-slim
stand_in=salvo-base:bookworm

if [ -n "${BASE_IMAGE:-}" ]; then
  echo "$BASE_IMAGE"
elif docker image inspect "$official" >/dev/null 2>&1 \
    || timeout "${SALVO_PULL_TIMEOUT:-60}" docker pull -q "$official" >/dev/null 2>&1; then
  echo "$official"
else
  echo "base-image: $official cannot be pulled; using the stand-in $stand_in" >&2
  scripts/build-base-image.sh "$stand_in" >&2
  echo "$stand_in"
fi
