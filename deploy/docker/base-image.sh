#!/usr/bin/env bash
# Build the Python base image locally when no image registry is reachable.
#
#   deploy/docker/base-image.sh [TAG]        (default TAG: fulcrum-base:bookworm; needs root)
#
# Debian bookworm (minbase) from the Debian mirror with debootstrap, Python 3.11 from Debian's
# packages, imported with `docker import`. It stands in for python:3.11-slim: `python` and `pip`
# are on PATH (a virtual environment in /usr/local/python, so pip installs never touch Debian's
# own Python packages), ca-certificates are installed, and /etc/ssl/certs is Debian's public
# bundle only (no machine-local CA is baked in: builds get those as a secret, see Makefile).
# Pass it to the Dockerfiles with --build-arg PYTHON_IMAGE=<TAG> (what `make images` does when
# `docker pull python:3.11-slim` fails). DEBIAN_MIRROR overrides the mirror.
set -euo pipefail
TAG="${1:-fulcrum-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
die() { echo "base-image.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot); run it with sudo"
command -v debootstrap >/dev/null || die "debootstrap not found; install it (Debian: apt-get install -y debootstrap)"
DOCKER="${DOCKER:-docker}"
command -v "$DOCKER" >/dev/null || die "docker not found; install a Docker engine (Debian: apt-get install -y docker.io)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
echo "base-image.sh: debootstrap bookworm (minbase) from $MIRROR"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
  bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
chroot "$root" /usr/bin/python3 -m venv /usr/local/python
# apt lists, caches and docs are not needed at run time; keep the image small
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/tmp/*
# the build host's resolver is not the container's
: >"$root/etc/resolv.conf"; : >"$root/etc/hostname"
echo "base-image.sh: docker import as $TAG"
tar -C "$root" -c . | "$DOCKER" import \
  --change 'ENV PATH=/usr/local/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$TAG" >/dev/null
"$DOCKER" image ls "$TAG"
