#!/usr/bin/env bash
# checkov in a virtualenv of its own (default /opt/salvo-checkov): its pins (boto3 1.35, packaging<24,
# networkx<2.7) must not reach the project's venv. Idempotent: a no-op when that version is there.
set -euo pipefail
PREFIX="${1:-/opt/salvo-checkov}"
VERSION=3.3.30
if [ -x "$PREFIX/bin/checkov" ] && "$PREFIX/bin/pip" show checkov 2>/dev/null | grep -qx "Version: $VERSION"; then
  exit 0
fi
python3 -m venv "$PREFIX"
"$PREFIX/bin/pip" install --quiet --upgrade pip
"$PREFIX/bin/pip" install --quiet "checkov==$VERSION"
echo "checkov $VERSION installed in $PREFIX"
