#!/bin/sh
# The container image's file system, as a tar file that deploy/Dockerfile ADDs (ADD keeps the tar's owners and
# modes, which COPY would not): the release binary, the glibc libraries it names (ldd on amd64, the same names
# from libc6-arm64-cross on arm64), CA certificates, time zones, a payhook user (65532) and its state folder;
# the shell flavour adds Debian's busybox-static as /bin/sh and its applets. Everything comes from this machine.
#   scripts/package/image-root.sh amd64|arm64 plain|shell BINARY CONFIG OUT.tar
set -eu
arch=$1 flavour=$2 binary=$3 config=$4 out=$5
case "$arch" in
  amd64) libs=/lib/x86_64-linux-gnu; multiarch=x86_64-linux-gnu; loader=/lib64/ld-linux-x86-64.so.2 ;;
  arm64) libs=/usr/aarch64-linux-gnu/lib; multiarch=aarch64-linux-gnu; loader=/lib/ld-linux-aarch64.so.1 ;;
  *) echo "image-root.sh: no image for $arch" >&2; exit 1 ;;
esac
root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/lib/$multiarch" "$root$(dirname "$loader")" "$root/etc/payhook" \
  "$root/etc/ssl/certs" "$root/usr/share" "$root/var/lib/payhook" "$root/tmp"
install -m 0755 "$binary" "$root/usr/local/bin/payhook"
# The NEEDED entries of the binary (readelf works for either architecture); glibc 2.34+ has the DNS and files
# name services inside libc.so.6, so names resolve without more libraries.
for lib in $(readelf -d "$binary" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
  cp -L "$libs/$lib" "$root/lib/$multiarch/$lib"
done
cp -L "$libs/$(basename "$loader")" "$root$loader"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp -a /usr/share/zoneinfo "$root/usr/share/zoneinfo"
install -m 0644 "$config" "$root/etc/payhook/payhook.yaml"
printf 'root:x:0:0:root:/root:/sbin/nologin\npayhook:x:65532:65532:payhook:/var/lib/payhook:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\npayhook:x:65532:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
if [ "$flavour" = shell ]; then
  mkdir -p "$root/bin"
  # BUSYBOX: Debian's busybox-static for the image's architecture; this machine's (same version) lists the applets.
  install -m 0755 "${BUSYBOX:-/bin/busybox}" "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"; done
fi
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/var/lib/payhook" && chmod 0700 "$root/var/lib/payhook"
# Same inputs, same bytes: fixed order, times and owners by number.
tar --sort=name --mtime="@${SOURCE_DATE_EPOCH:-0}" --numeric-owner -C "$root" -cf "$out" .
