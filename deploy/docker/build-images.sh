#!/usr/bin/env bash
# `make images`: the Fulcrum images, built with BuildKit from the repository root.
#
#   fulcrum-serve:TAG   Dockerfile.serve (default target): the gRPC server, no torch, no offline/
#   fulcrum-ingest:TAG  Dockerfile.serve --target ingest: the Kafka consumer (same layers)
#   fulcrum-train:TAG   Dockerfile.train: data, training, export, features apply, retrain
#   and, only where apache/kafka or redis cannot be pulled, fulcrum-kafka:4.1.1 and fulcrum-redis:7
#   (Dockerfile.kafka, Dockerfile.redis; compose.local.yaml uses them).
#
# Environment: DOCKER (default docker; needs BuildKit: Docker >= 23, or DOCKER_BUILDKIT=1 on 20.10),
# IMAGE_TAG (default latest), PYTHON_IMAGE (default python:3.11-slim; when it cannot be pulled,
# deploy/docker/base-image.sh builds fulcrum-base:bookworm with debootstrap and that is used),
# BUILD_CA (a CA bundle for a TLS-intercepting proxy, default /etc/ssl/certs/ca-certificates.crt
# of this machine, which holds the CAs of /usr/local/share/ca-certificates after
# update-ca-certificates): passed to pip as a build secret, never written into a layer.
# Prints each image's build time and size.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DOCKER="${DOCKER:-docker}"
TAG="${IMAGE_TAG:-latest}"
PYTHON_IMAGE="${PYTHON_IMAGE:-python:3.11-slim}"
BUILD_CA="${BUILD_CA-/etc/ssl/certs/ca-certificates.crt}"
export DOCKER_BUILDKIT=1
die() { echo "build-images: $*" >&2; exit 1; }
say() { echo "build-images: $*"; }
"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers ($DOCKER info); start dockerd (Debian: apt-get install docker.io)"
# BuildKit (cache and secret mounts) is built into the 20.10 CLI; from 23 on the CLI needs its buildx
# plugin. Say so before the first build rather than after it.
client="$("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null || echo unknown)"
if [ "${client%%.*}" -ge 23 ] 2>/dev/null && ! "$DOCKER" buildx version >/dev/null 2>&1; then
  die "the docker CLI $(command -v "$DOCKER") $client needs its buildx plugin for BuildKit: install it, or set DOCKER to a 20.10 CLI with BuildKit built in (Debian 12 docker.io: DOCKER=/usr/bin/docker make images)"
fi

have_or_pull() { "$DOCKER" image inspect "$1" >/dev/null 2>&1 || "$DOCKER" pull -q "$1" >/dev/null 2>&1; }

base="$PYTHON_IMAGE"
if ! have_or_pull "$PYTHON_IMAGE"; then
  base="fulcrum-base:bookworm"
  say "$PYTHON_IMAGE cannot be pulled: using $base (Debian bookworm + Python 3.11, built locally)"
  "$DOCKER" image inspect "$base" >/dev/null 2>&1 || DOCKER="$DOCKER" deploy/docker/base-image.sh "$base"
fi
secret=()
if [ -n "$BUILD_CA" ] && [ -s "$BUILD_CA" ]; then secret=(--secret "id=build_ca,src=$BUILD_CA"); fi

summary=()
build() {  # tag, then docker build arguments
  local tag="$1"; shift
  local start; start=$(date +%s)
  say "building $tag"
  "$DOCKER" build --progress=plain "$@" -t "$tag" . >"${BUILD_LOG_DIR:-/tmp}/fulcrum-build-${tag%%:*}.log" 2>&1 \
    || { tail -30 "${BUILD_LOG_DIR:-/tmp}/fulcrum-build-${tag%%:*}.log" >&2; die "$tag failed (log: ${BUILD_LOG_DIR:-/tmp}/fulcrum-build-${tag%%:*}.log)"; }
  local size; size=$("$DOCKER" image inspect --format '{{.Size}}' "$tag")
  summary+=("$(printf '%-24s %6d s  %7s MB' "$tag" $(( $(date +%s) - start )) "$(awk -v s="$size" 'BEGIN { printf "%.0f", s / 1e6 }')")")
}

build "fulcrum-serve:$TAG" -f deploy/docker/Dockerfile.serve --target serve --build-arg "PYTHON_IMAGE=$base" "${secret[@]}"
build "fulcrum-ingest:$TAG" -f deploy/docker/Dockerfile.serve --target ingest --build-arg "PYTHON_IMAGE=$base" "${secret[@]}"
build "fulcrum-train:$TAG" -f deploy/docker/Dockerfile.train --build-arg "PYTHON_IMAGE=$base" "${secret[@]}"

if ! have_or_pull apache/kafka:4.1.1 || ! have_or_pull redis:7.4-alpine; then
  say "apache/kafka or redis cannot be pulled: building local stand-ins (compose.local.yaml)"
  command -v mvn >/dev/null || die "mvn not found: the Kafka image's jars come from Maven Central (apt-get install maven)"
  mvn -q -B -Dstyle.color=never -f deploy/docker/kafka/pom.xml dependency:copy-dependencies
  build "fulcrum-kafka:4.1.1" -f deploy/docker/Dockerfile.kafka --build-arg "BASE_IMAGE=$base"
  build "fulcrum-redis:7" -f deploy/docker/Dockerfile.redis --build-arg "BASE_IMAGE=$base"
fi
say "image                    build     size"
printf 'build-images: %s\n' "${summary[@]}"
