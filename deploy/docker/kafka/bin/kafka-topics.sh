#!/usr/bin/env bash
exec env KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx256m}" \
  KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}" \
  /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.TopicCommand "$@"
