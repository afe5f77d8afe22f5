#!/usr/bin/env bash
# Assemble Apache JMeter 5.6.3 from Maven Central into DEST as a JMETER_HOME, with Salvo's start gate:
#
#   scripts/install-jmeter.sh DEST          (needs Java 17, Maven and python3; used by the executor-jmeter
#                                            image build and by .ci/run for the host's integration tests)
#
#   DEST/bin/ApacheJMeter.jar   launcher (org.apache.jmeter:ApacheJMeter)
#   DEST/bin/*                  jmeter.properties, log4j2.xml, ... (ApacheJMeter_config) and a `jmeter` script
#   DEST/lib/*.jar              third-party dependencies
#   DEST/lib/ext/*.jar          the ApacheJMeter_* components and salvo-jmeter-gate.jar
#   DEST/bin/salvo-gate.groovy  the gate's start-up script (JMeter property jsr223.init.file)
#
# Every downloaded file must match jmeter/assembly/artifacts.sha256. Idempotent: nothing is done when DEST
# already holds this JMeter and gate (DEST/.salvo-jmeter records what was installed).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$1"
assembly="$repo/jmeter/assembly"
gate="$repo/jmeter/salvo-gate"
mvn_quiet() {  # Maven's output only when it fails
  local log
  log="$(mktemp)"
  if ! mvn -B --strict-checksums "$@" >"$log" 2>&1; then
    tail -60 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# What decides the install: the pinned artifacts, the gate's sources and this script.
inputs_sha="$(cd "$repo" && find scripts/install-jmeter.sh jmeter/assembly/pom.xml jmeter/assembly/artifacts.sha256 \
  jmeter/salvo-gate/pom.xml jmeter/salvo-gate/salvo-gate.groovy jmeter/salvo-gate/src/main -type f \
  -print0 | sort -z | xargs -0 sha256sum | sed "s|$repo/||" | sha256sum | cut -d' ' -f1)"
stamp="$dest/.salvo-jmeter"
if [ -f "$stamp" ] && grep -qx "inputs $inputs_sha" "$stamp" \
   && [ -x "$dest/bin/jmeter" ] && [ -f "$dest/lib/ext/salvo-jmeter-gate.jar" ] \
   && grep -qx "gate-jar $(sha256sum "$dest/lib/ext/salvo-jmeter-gate.jar" | cut -d' ' -f1)" "$stamp"; then
  echo "JMeter with Salvo's gate already installed in $dest"
  exit 0
fi

if [ -e "$dest" ] && [ ! -f "$stamp" ] && [ -n "$(ls -A "$dest")" ]; then
  echo "install-jmeter: $dest exists and is not a JMeter this script installed: choose another DEST" >&2
  exit 1
fi

work="$(mktemp -d /tmp/salvo-jmeter.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "install-jmeter: building the start gate (jmeter/salvo-gate)"
mvn_quiet -f "$gate/pom.xml" clean package

echo "install-jmeter: fetching JMeter from Maven Central"
mvn_quiet -f "$assembly/pom.xml" dependency:copy-dependencies -DoutputDirectory="$work/stage"
expected="$(grep -v '^#' "$assembly/artifacts.sha256" | awk '{print $2}' | sort)"
if [ "$(cd "$work/stage" && ls | sort)" != "$expected" ]; then
  echo "install-jmeter: the resolved files differ from jmeter/assembly/artifacts.sha256:" >&2
  diff <(echo "$expected") <(cd "$work/stage" && ls | sort) >&2 || true
  exit 1
fi
(cd "$work/stage" && grep -v '^#' "$assembly/artifacts.sha256" | sha256sum --check --strict --quiet) || {
  echo "install-jmeter: checksum mismatch against jmeter/assembly/artifacts.sha256" >&2
  exit 1
}
version="$(sed -n 's|.*<jmeter.version>\(.*\)</jmeter.version>.*|\1|p' "$assembly/pom.xml")"

home="$work/home"
mkdir -p "$home/bin" "$home/lib/ext" "$home/lib/junit"  # NewDriver expects lib/junit (JUnit sampler tests)
python3 - "$work/stage/ApacheJMeter_config-$version.jar" "$home" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as jar:
    jar.extractall(sys.argv[2], [name for name in jar.namelist() if name.startswith("bin/")])
EOF
mv "$work/stage/ApacheJMeter-$version.jar" "$home/bin/ApacheJMeter.jar"
rm "$work/stage/ApacheJMeter_config-$version.jar"
for jar in "$work/stage"/ApacheJMeter_*.jar; do
  name="$(basename "$jar")"
  mv "$jar" "$home/lib/ext/${name%-"$version".jar}.jar"  # named as in JMeter's own distribution
done
mv "$work/stage"/*.jar "$home/lib/"
cp "$gate/target/salvo-jmeter-gate.jar" "$home/lib/ext/"
cp "$gate/salvo-gate.groovy" "$home/bin/salvo-gate.groovy"

if [ ! -e "$home/bin/jmeter" ]; then
  # Maven Central has no launcher script; bzt runs bin/jmeter and passes JVM options in $JVM_ARGS.
  cat > "$home/bin/jmeter" <<'EOF'
#!/bin/sh
# Apache JMeter launcher (written by Salvo's scripts/install-jmeter.sh). Environment:
#   JAVA_HOME       the Java to run (else `java` on PATH)
#   JMETER_HEAP     memory options (default: 75 % of the container's or machine's memory)
#   JMETER_GC_ALGO  garbage collector options
#   JVM_ARGS        more JVM options (bzt sets these), JMETER_OPTS likewise
bin="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
: "${JMETER_HEAP:=-XX:MaxRAMPercentage=75.0 -XX:MaxMetaspaceSize=256m}"
: "${JMETER_GC_ALGO:=-XX:+UseG1GC -XX:MaxGCPauseMillis=100 -XX:G1ReservePercent=20}"
: "${JMETER_LANGUAGE:=-Duser.language=en -Duser.region=EN}"
# shellcheck disable=SC2086  # option lists are split on purpose
exec "$java" -server $JMETER_HEAP $JMETER_GC_ALGO -Djava.security.egd=file:/dev/urandom $JMETER_LANGUAGE \
  $JVM_ARGS $JMETER_OPTS -jar "$bin/ApacheJMeter.jar" "$@"
EOF
fi
chmod 0755 "$home/bin/jmeter"

gate_sha="$(sha256sum "$home/lib/ext/salvo-jmeter-gate.jar" | cut -d' ' -f1)"
printf 'jmeter %s\ninputs %s\ngate-jar %s\n' "$version" "$inputs_sha" "$gate_sha" > "$home/.salvo-jmeter"

# Replace DEST whole: a half-written JMETER_HOME must never look installed.
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.salvo-old"
if [ -e "$dest" ]; then mv "$dest" "$dest.salvo-old"; fi
cp -a "$home" "$dest"
rm -rf "$dest.salvo-old"
echo "install-jmeter: JMeter $version with Salvo's gate (sha256 $gate_sha) in $dest"
