#!/usr/bin/env bash
# java with the Kafka jars: kafka-run-class.sh MAIN_CLASS [ARGS...]
# KAFKA_HEAP_OPTS (default -Xmx512m -Xms128m), KAFKA_JVM_OPTS, KAFKA_LOG4J_OPTS (default: warnings
# only, on stderr, as the official tools do).
set -euo pipefail
tools_log4j="/opt/kafka/config/tools-log4j2.properties"
if [ -z "${KAFKA_LOG4J_OPTS:-}" ]; then
  [ -f "$tools_log4j" ] || cat >"$tools_log4j" 2>/dev/null <<'PROPS' || tools_log4j=""
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
PROPS
  KAFKA_LOG4J_OPTS="${tools_log4j:+-Dlog4j2.configurationFile=$tools_log4j}"
fi
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m} ${KAFKA_JVM_OPTS:--XX:+UseSerialGC} \
  -Djava.awt.headless=true $KAFKA_LOG4J_OPTS -cp "/opt/kafka/libs/*" "$@"
