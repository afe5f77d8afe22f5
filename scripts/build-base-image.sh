#!/usr/bin/env bash
# Build a stand-in for python:3.12-slim from Debian packages, for hosts that cannot
# reach a container registry. Idempotent: does nothing if the image already exists.
#
#   scripts/build-base-image.sh [IMAGE_NAME]     (default: salvo-base:bookworm)
#
# Outbound TLS may pass a proxy whose CA is only in this host's bundle: the bundle is
# copied into the image and pip/requests/openssl are pointed at it.
set -euo pipefail
image="${1:-salvo-base:bookworm}"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image already present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is required (apt-get install debootstrap)" >&2; exit 1; }
root="$(mktemp -d /tmp/salvo-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,passwd bookworm "$root" \
  >/tmp/salvo-base-debootstrap.log 2>&1 || { tail -20 /tmp/salvo-base-debootstrap.log >&2; exit 1; }
bundle=/usr/local/share/ca-certificates/host-bundle.crt
cp /etc/ssl/certs/ca-certificates.crt "$root$bundle"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
tar -C "$root" -c . | docker import \
  --change "ENV PIP_CERT=$bundle SSL_CERT_FILE=$bundle REQUESTS_CA_BUNDLE=$bundle LANG=C.UTF-8" \
  --change 'CMD ["python3"]' \
  - "$image" >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
