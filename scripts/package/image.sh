#!/bin/sh
# One container image archive: the file system from image-root.sh, deploy/Dockerfile built by podman (as root,
# with the runtime settings that work in a VM without systemd), saved as a docker-archive that `podman load` and
# `docker load` both read. Not an OCI layout: the OCI image config has no HEALTHCHECK, so it would be lost.
#   scripts/package/image.sh amd64|arm64 plain|shell VERSION OUT.tar
set -eu
arch=$1 flavour=$2 version=$3 out=$4
here=$(cd "$(dirname "$0")/../.." && pwd)
podman="${PODMAN:-podman --runtime runc --cgroup-manager cgroupfs --storage-driver vfs}"
case "$arch" in amd64) build=x64 busybox=/bin/busybox ;; arm64) build=arm64 busybox="$here/.tmp/busybox-arm64/bin/busybox" ;; *) echo "image.sh: no image for $arch" >&2; exit 1 ;; esac
tag=$version
if [ "$flavour" = shell ]; then tag=$version-shell; fi
context="$here/.tmp/image/$arch-$flavour"
mkdir -p "$context"
BUSYBOX="$busybox" "$here/scripts/package/image-root.sh" "$arch" "$flavour" \
  "$here/dist/release/payhook-linux-$build" "$here/deploy/payhook.docker.yaml" "$context/root.tar"
created=$(date -u -d "@${SOURCE_DATE_EPOCH:-0}" +%Y-%m-%dT%H:%M:%SZ)
revision=$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# One step, no intermediate images: with the vfs storage driver every layer is a full copy.
$podman build --quiet --layers=false --format docker --platform "linux/$arch" --timestamp "${SOURCE_DATE_EPOCH:-0}" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
  --build-arg FLAVOUR="$flavour" -f "$here/deploy/Dockerfile" -t "localhost/payhook:$tag" "$context" >/dev/null
rm -f "$out"
$podman save --quiet --format docker-archive -o "$out" "localhost/payhook:$tag"
$podman rmi --force "localhost/payhook:$tag" >/dev/null
rm -rf "$context"
