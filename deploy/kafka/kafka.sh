#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft: broker + controller in one JVM) for development
# and tests. The jars come from Maven Central through pom.xml beside this script.
#
#   deploy/kafka/kafka.sh fetch                          resolve the jars into deploy/kafka/lib/
#   deploy/kafka/kafka.sh start --port P --dir D [--controller-port C] [--timeout S] [--extra-config F]
#                                                        format D (once) and start; waits until P accepts
#                                                        (F: properties appended to the generated
#                                                        server.properties; a later key wins, e.g. a
#                                                        SASL_SSL listener on P, see tests/online/security/test_security_kafka_broker.py)
#   deploy/kafka/kafka.sh stop --dir D [--timeout S]     stop the broker started in D (by its PID file)
#   deploy/kafka/kafka.sh status --dir D                 exit 0 when the broker of D is running
#
# Environment: KAFKA_HEAP_OPTS (default -Xmx512m -Xms128m), KAFKA_JVM_OPTS (default serial GC, C1 JIT),
# JAVA (default: java on PATH).
# Restarting in the same D keeps the data, the ports and the cluster id (used by the
# "broker restarted mid-stream" tests).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIB="$HERE/lib"
JAVA="${JAVA:-java}"
HEAP="${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m}"
# C1 only and serial GC: a quick start and few threads on a small shared machine (override for soak tests)
JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found; install a JDK >= 17 (Debian: apt-get install -y openjdk-17-jre-headless)"
}

jars_present() { compgen -G "$LIB/kafka_2.13-*.jar" >/dev/null 2>&1 && compgen -G "$LIB/log4j-core-*.jar" >/dev/null 2>&1; }

cmd_fetch() {
  if jars_present && [ "$LIB" -nt "$HERE/pom.xml" ]; then
    echo "kafka.sh: jars already in $LIB"
    return 0
  fi
  if ! command -v mvn >/dev/null 2>&1 || ! command -v "$JAVA" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "kafka.sh: installing Maven and a JDK with apt-get"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven openjdk-17-jdk-headless >/dev/null
    fi
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found; install Maven (Debian: apt-get install -y maven)"
  need_java
  rm -rf "$LIB"
  mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies
  jars_present || die "maven finished but no kafka jars in $LIB"
  touch "$LIB"
  echo "kafka.sh: $(ls "$LIB" | wc -l) jars in $LIB"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" >/dev/null 2>&1; }

write_config() {  # dir port controller_port
  local dir="$1" port="$2" cport="$3"
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/server.properties" <<EOF
# written by deploy/kafka/kafka.sh: single-node KRaft broker for development and tests
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
EOF
  cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

java_cp() { echo "$LIB/*"; }

cmd_start() {
  local port="" dir="" cport="" timeout=90 extra=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) port="$2"; shift 2;;
      --dir) dir="$2"; shift 2;;
      --controller-port) cport="$2"; shift 2;;
      --timeout) timeout="$2"; shift 2;;
      --extra-config) extra="$2"; shift 2;;
      *) die "start: unknown argument $1";;
    esac
  done
  [ -n "$port" ] || die "start: --port is required"
  [ -n "$dir" ] || die "start: --dir is required"
  need_java
  jars_present || die "no Kafka jars in $LIB; run: deploy/kafka/kafka.sh fetch (or make kafka-jars)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/kafka.pid" ] && pid_alive "$(cat "$dir/kafka.pid")"; then
    die "a broker is already running from $dir (pid $(cat "$dir/kafka.pid"))"
  fi
  if [ -z "$cport" ] && [ -f "$dir/server.properties" ]; then
    # a restart in the same folder keeps its controller port (the quorum is recorded in the data)
    cport="$(sed -n 's/^controller.quorum.voters=1@127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.properties")"
  fi
  [ -n "$cport" ] || cport="$(free_port)"
  [ "$cport" != "$port" ] || die "start: the controller port must differ from --port"
  port_open "$port" && die "port $port is already in use on 127.0.0.1"
  write_config "$dir" "$port" "$cport"
  if [ -n "$extra" ]; then
    [ -f "$extra" ] || die "start: --extra-config $extra is not a file"
    { echo "# appended from --extra-config"; cat "$extra"; } >>"$dir/server.properties"
  fi

  local log4j="-Dlog4j2.configurationFile=$dir/log4j2.properties -Dkafka.logs.dir=$dir/logs"
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id="-"
    # a base64url id that starts with "-" is read as an option by the storage tool ("usage: ..."),
    # 1 start in 64: draw again, as Kafka's own Uuid.randomUuid() does
    while [ "${cluster_id#-}" != "$cluster_id" ]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    # shellcheck disable=SC2086
    "$JAVA" -Xmx256m $JVM_OPTS $log4j -cp "$(java_cp)" kafka.tools.StorageTool format \
      --config "$dir/server.properties" --cluster-id "$cluster_id" --ignore-formatted \
      >"$dir/logs/format.log" 2>&1 || { cat "$dir/logs/format.log" >&2; die "storage format failed"; }
  fi

  # shellcheck disable=SC2086
  nohup "$JAVA" $HEAP $JVM_OPTS -Djava.awt.headless=true $log4j \
    -cp "$(java_cp)" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/kafka.pid"

  local deadline=$((SECONDS + timeout))
  until port_open "$port"; do
    if ! pid_alive "$pid"; then
      tail -n 40 "$dir/logs/stdout.log" "$dir/logs/server.log" >&2 2>/dev/null || true
      rm -f "$dir/kafka.pid"
      die "the broker exited during start-up (logs in $dir/logs)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      kill "$pid" 2>/dev/null || true
      rm -f "$dir/kafka.pid"
      die "the broker did not accept connections on 127.0.0.1:$port within ${timeout}s (logs in $dir/logs)"
    fi
    sleep 0.2
  done
  echo "kafka.sh: broker pid $pid listening on 127.0.0.1:$port (controller $cport, data $dir/data)"
}

cmd_stop() {
  local dir="" timeout=60
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir="$2"; shift 2;;
      --timeout) timeout="$2"; shift 2;;
      *) die "stop: unknown argument $1";;
    esac
  done
  [ -n "$dir" ] || die "stop: --dir is required"
  local pidfile="$dir/kafka.pid"
  if [ ! -f "$pidfile" ]; then
    echo "kafka.sh: no broker pid file in $dir (not running)"
    return 0
  fi
  local pid; pid="$(cat "$pidfile")"
  if pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while pid_alive "$pid"; do
      if [ $SECONDS -ge $deadline ]; then
        echo "kafka.sh: broker pid $pid did not stop within ${timeout}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
  fi
  rm -f "$pidfile"
  echo "kafka.sh: broker pid $pid stopped"
}

cmd_status() {
  local dir=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir="$2"; shift 2;;
      *) die "status: unknown argument $1";;
    esac
  done
  [ -n "$dir" ] || die "status: --dir is required"
  [ -f "$dir/kafka.pid" ] && pid_alive "$(cat "$dir/kafka.pid")"
}

case "${1:-}" in
  fetch) shift; cmd_fetch "$@";;
  start) shift; cmd_start "$@";;
  stop) shift; cmd_stop "$@";;
  status) shift; cmd_status "$@";;
  *) echo "usage: $0 fetch | start --port P --dir D | stop --dir D | status --dir D" >&2; exit 2;;
esac
