#!/usr/bin/env bash
# Entrypoint of deploy/docker/Dockerfile.kafka: KAFKA_* environment -> server.properties, format
# the storage with CLUSTER_ID once, run the broker in the foreground (logs on stdout).
set -euo pipefail
CONFIG=/opt/kafka/config
die() { echo "run.sh: $*" >&2; exit 1; }
[ -n "${CLUSTER_ID:-}" ] || die "CLUSTER_ID is required (a 22-character base64url KRaft cluster id)"
[ -n "${KAFKA_NODE_ID:-}" ] || die "KAFKA_NODE_ID is required"

# Not broker properties: the JVM's settings.
skip=" KAFKA_HEAP_OPTS KAFKA_JVM_OPTS KAFKA_OPTS KAFKA_LOG4J_OPTS "
: >"$CONFIG/server.properties"
while IFS='=' read -r name value; do
  case "$skip" in *" $name "*) continue;; esac
  key="${name#KAFKA_}"
  key="$(printf '%s' "$key" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')"
  printf '%s=%s\n' "$key" "$value" >>"$CONFIG/server.properties"
done < <(env | grep -E '^KAFKA_[A-Z0-9_]+=' | sort)
grep -q '^log.dirs=' "$CONFIG/server.properties" || echo "log.dirs=/var/lib/kafka/data" >>"$CONFIG/server.properties"

cat >"$CONFIG/log4j2.properties" <<'PROPS'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = WARN
PROPS
export KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$CONFIG/log4j2.properties"

data="$(sed -n 's/^log.dirs=//p' "$CONFIG/server.properties" | cut -d, -f1)"
if [ ! -f "$data/meta.properties" ]; then
  kafka-run-class.sh kafka.tools.StorageTool format --config "$CONFIG/server.properties" \
    --cluster-id "$CLUSTER_ID" --ignore-formatted
fi
exec kafka-run-class.sh kafka.Kafka "$CONFIG/server.properties"
