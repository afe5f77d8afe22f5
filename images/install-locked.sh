#!/bin/sh
# Install a hash-locked requirements file (requirements/*.lock) into a new virtualenv:
#
#   install-locked.sh LOCK VENV
#
# The locks hold the hashes of the wheels for linux/amd64 and linux/arm64 (scripts/lock.py).
# A few packages publish no arm64 wheel (C extensions such as hdrhistogram): there pip builds
# the locked sdist, so when the first attempt fails a C toolchain is installed for the build
# and removed after it. Nothing here names an architecture.
set -eu
lock="$1"
venv="$2"
python3 -m venv "$venv"
install() { "$venv/bin/pip" install --no-cache-dir --no-compile --require-hashes --no-deps -r "$lock"; }
install && exit 0
echo "install-locked: a locked package must be compiled on this machine: installing a C toolchain" >&2
tools="gcc libc6-dev"
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || tools="$tools python3-dev"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $tools >/dev/null
install
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --auto-remove $tools >/dev/null
rm -rf /var/lib/apt/lists/*
