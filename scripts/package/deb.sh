#!/bin/sh
# payhook_VERSION_ARCH.deb with dpkg-deb, from the release binary and deploy/: /usr/bin/payhook, the systemd
# unit, /etc/payhook/payhook.yaml (the starter config with its store in /var/lib/payhook) and payhook.env as
# conffiles, and the maintainer scripts in deploy/deb/. Owners are root in the archive; postinst gives the
# payhook user what is its own.
#   scripts/package/deb.sh VERSION amd64|arm64 BINARY OUT.deb
set -eu
version=$1 arch=$2 binary=$3 out=$4
here=$(cd "$(dirname "$0")/../.." && pwd)
# The x64 build (this machine's) writes the starter config and the manual page for both architectures.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
umask 022
install -D -m 0755 "$binary" "$stage/usr/bin/payhook"
# The unit as in deploy/, with the package's path of the binary.
mkdir -p "$stage/lib/systemd/system"
sed 's|/usr/local/bin/payhook|/usr/bin/payhook|g' "$here/deploy/payhook.service" >"$stage/lib/systemd/system/payhook.service"
chmod 0644 "$stage/lib/systemd/system/payhook.service"
# The starter config that `payhook init` writes into /etc: its store is under /var/lib/payhook.
mkdir -p "$stage/etc/payhook"
"$here/dist/release/payhook-linux-x64" init - | sed 's|^store: \./payhook\.db .*$|store: /var/lib/payhook/payhook.db   # the service may write only here (StateDirectory); one server per store|' >"$stage/etc/payhook/payhook.yaml"
grep -q '^store: /var/lib/payhook/payhook.db ' "$stage/etc/payhook/payhook.yaml" || { echo "deb.sh: starter config has no store line" >&2; exit 1; }
install -m 0640 "$here/deploy/deb/payhook.env" "$stage/etc/payhook/payhook.env"
chmod 0644 "$stage/etc/payhook/payhook.yaml"
doc="$stage/usr/share/doc/payhook"
install -D -m 0644 "$here/deploy/deb/copyright" "$doc/copyright"
date=$(date -u -R -d "@${SOURCE_DATE_EPOCH:-0}")
printf 'payhook (%s) unstable; urgency=medium\n\n  * payhook %s; see https://github.com/payhook/payhook/releases\n\n -- payhook authors <payhook@users.noreply.github.com>  %s\n' \
  "$version" "$version" "$date" | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
# The manual page is the command's own --help.
mkdir -p "$stage/usr/share/man/man1"
{ printf '.TH PAYHOOK 1 "" "payhook %s" "User Commands"\n.SH NAME\npayhook \\- Stripe webhook receiver\n.SH SYNOPSIS\n.nf\n' "$version"
  "$here/dist/release/payhook-linux-x64" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
  printf '.fi\n.SH SEE ALSO\nhttps://github.com/payhook/payhook/tree/main/docs\n'; } | gzip -9n >"$stage/usr/share/man/man1/payhook.1.gz"
chmod 0644 "$stage/usr/share/man/man1/payhook.1.gz"
install -D -m 0644 "$here/deploy/deb/payhook.lintian-overrides" "$stage/usr/share/lintian/overrides/payhook"
mkdir -p "$stage/DEBIAN"
for script in postinst prerm postrm; do install -m 0755 "$here/deploy/deb/$script" "$stage/DEBIAN/$script"; done
printf '/etc/payhook/payhook.yaml\n/etc/payhook/payhook.env\n' >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: payhook
Version: $version
Architecture: $arch
Maintainer: payhook authors <payhook@users.noreply.github.com>
Installed-Size: $size
Depends: libc6 (>= 2.17), adduser, init-system-helpers (>= 1.54~)
Section: net
Priority: optional
Homepage: https://github.com/payhook/payhook
Description: Stripe webhook receiver that stores before it answers
 payhook verifies Stripe's webhook signatures, stores each event durably
 before it answers 200, then runs the configured actions (log, exec,
 forward, file) with retries. One executable; SQLite or PostgreSQL store.
 .
 The service is enabled but not started on install: set
 STRIPE_WEBHOOK_SECRET in /etc/payhook/payhook.env first.
CONTROL
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | sort | grep -v '^etc/' | xargs md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"
find "$stage" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +
dpkg-deb --root-owner-group -Zgzip -z6 --build "$stage" "$out" >/dev/null
