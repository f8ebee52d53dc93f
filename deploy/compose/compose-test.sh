#!/usr/bin/env bash
# `make compose-test`: the whole stack in containers, checked from outside, then torn down.
#
#   deploy/compose/compose-test.sh          (after `make images`; needs a bundles root, see below)
#
# 1. setup profile: the bundles root of the host (FULCRUM_SEED_BUNDLES, default artifacts/bundles,
#    what `make demo` writes) copied into the bundles volume, the vendored data prepared, batch
#    features applied and materialised into Redis;
# 2. up: KRaft Kafka (+ topics), Redis, the gRPC server and the ingest consumer; waits (with a
#    deadline) until the server's container health check says healthy;
# 3. events produced: `fulcrum replay` in a container publishes the first REPLAY_LIMIT events of
#    the test period to Kafka;
# 4. deploy/compose/smoke_client.py in a container, over TLS with a `recommend` token made by
#    `fulcrum security dev-setup` for this run (removed at the end): health SERVING, the consumer received and
#    applied the events, Recommend answered for the replayed user with the most events; no
#    long-running service restarted (a restart is a crash);
# 5. down -v, always (volumes included), also on failure or Ctrl-C.
# Prints the time to healthy and the Recommend answer. Where apache/kafka and redis cannot be
# pulled it adds compose.local.yaml (images built by `make images`). A private project name and
# free host ports: it never touches a running `docker compose up` of the same files.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
die() { echo "compose-test: $*" >&2; exit 1; }
say() { echo "compose-test: $*"; }

if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then COMPOSE=(docker-compose)
else die "neither 'docker compose' nor docker-compose found (Debian: apt-get install docker-compose)"; fi
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info); start dockerd"

SEED="${FULCRUM_SEED_BUNDLES:-$ROOT/artifacts/bundles}"
[ -e "$SEED/LATEST/manifest.json" ] || die "no bundle at $SEED/LATEST (run make demo, or set FULCRUM_SEED_BUNDLES to a bundles root)"
export FULCRUM_SEED_BUNDLES="$(cd "$SEED" && pwd -P)"
REPLAY_FROM="${REPLAY_FROM:-2011-11-09}"
REPLAY_LIMIT="${REPLAY_LIMIT:-2000}"
TIMEOUT="${COMPOSE_TEST_TIMEOUT:-300}"

files=(-f "$HERE/compose.yaml")
for image in apache/kafka:4.1.1 redis:7.4-alpine; do
  if ! docker image inspect "$image" >/dev/null 2>&1 && ! docker pull -q "$image" >/dev/null 2>&1; then
    say "$image cannot be pulled: using the local images of compose.local.yaml"
    files+=(-f "$HERE/compose.local.yaml")
    break
  fi
done
for image in fulcrum-serve fulcrum-ingest fulcrum-train; do
  docker image inspect "$image:${FULCRUM_TAG:-latest}" >/dev/null 2>&1 || die "image $image:${FULCRUM_TAG:-latest} missing: run make images"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export FULCRUM_GRPC_HOST_PORT="$(free_port)" FULCRUM_METRICS_HOST_PORT="$(free_port)" FULCRUM_KAFKA_HOST_PORT="$(free_port)"
project="fulcrum-test-$$"
dc() { "${COMPOSE[@]}" -p "$project" "${files[@]}" "$@"; }
# Development credentials for this run only (the server serves TLS with tokens, docs/security.md):
# made in the serving image as its user (uid 10001), so the server can read its 0600 key.
secrets="$(mktemp -d)"
chmod 0777 "$secrets"
export FULCRUM_SECRETS="$secrets"
in_secrets() { docker run --rm -v "$secrets:/out" --entrypoint "$1" "fulcrum-serve:${FULCRUM_TAG:-latest}" "${@:2}"; }
teardown() {
  say "down -v"
  dc --profile setup --profile jobs down -v --remove-orphans >/dev/null 2>&1 || true
  in_secrets sh -c 'rm -rf /out/* /out/.[!.]*' >/dev/null 2>&1 || true
  rmdir "$secrets" 2>/dev/null || true
}
trap teardown EXIT
in_secrets fulcrum security dev-setup --out /out --host server >/dev/null \
  || die "fulcrum security dev-setup failed in the serving image"

t0=$(date +%s)
say "setup (seed bundles from $FULCRUM_SEED_BUNDLES, prepare data, features apply into Redis)"
dc --profile setup run --rm features-apply >"${COMPOSE_TEST_LOG:-/dev/null}" 2>&1 \
  || { dc --profile setup logs --tail 40 >&2 || true; die "setup failed"; }
t_setup=$(( $(date +%s) - t0 ))
say "setup done in ${t_setup} s"

t1=$(date +%s)
dc up -d kafka kafka-topics redis server ingest >/dev/null 2>&1 || { dc logs --tail 40 >&2; die "up failed"; }
server="$(dc ps -q server)"
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
  status="$(docker inspect --format '{{.State.Health.Status}}' "$server" 2>/dev/null || echo gone)"
  [ "$status" = healthy ] && break
  [ "$(date +%s)" -lt "$deadline" ] || { dc logs --tail 60 server >&2; die "server not healthy within ${TIMEOUT} s (last: $status)"; }
  sleep 2
done
t_healthy=$(( $(date +%s) - t1 ))
say "server healthy ${t_healthy} s after up (Kafka, Redis, server, ingest started together)"

say "replay: the first $REPLAY_LIMIT events from $REPLAY_FROM into Kafka"
dc run --rm --no-deps -v "${project}_prepared-data:/artifacts/data:ro" --entrypoint fulcrum ingest \
  replay --data /artifacts/data --from "$REPLAY_FROM" --limit "$REPLAY_LIMIT" --no-announce-items \
  --bootstrap kafka:9092 --topic events >/dev/null 2>&1 || { dc logs --tail 40 kafka >&2; die "replay failed"; }

say "client: health, ingest counters, Recommend"
answer="$(dc run --rm --no-deps -v "${project}_prepared-data:/artifacts/data:ro" \
  -v "$HERE/smoke_client.py:/app/smoke_client.py:ro" \
  -v "$secrets/ca.crt:/etc/fulcrum-secrets/client/ca.crt:ro" \
  -v "$secrets/tokens/recommend.token:/etc/fulcrum-secrets/client/recommend.token:ro" \
  -e FULCRUM_CLIENT_CA_FILE=/etc/fulcrum-secrets/client/ca.crt \
  -e FULCRUM_CLIENT_TOKEN_FILE=/etc/fulcrum-secrets/client/recommend.token \
  --entrypoint python server /app/smoke_client.py \
  --server server:50051 --metrics http://ingest:9464/metrics --data /artifacts/data \
  --from "$REPLAY_FROM" --limit "$REPLAY_LIMIT" --timeout "$TIMEOUT" 2>&1)" \
  || { echo "$answer" >&2; dc logs --tail 40 ingest server >&2; die "client checks failed"; }
echo "$answer" | tail -1
# a long-running service that restarted crashed at least once, even if it answers now
for svc in server ingest kafka redis; do
  restarts="$(docker inspect --format '{{.RestartCount}}' "$(dc ps -q "$svc")")"
  [ "$restarts" = 0 ] || { dc logs --tail 60 "$svc" >&2; die "$svc restarted $restarts time(s)"; }
done
say "passed: setup ${t_setup} s, healthy ${t_healthy} s after up, total $(( $(date +%s) - t0 )) s"
