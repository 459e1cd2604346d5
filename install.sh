#!/bin/sh
# Installs payhook: downloads the binary for this machine and the release's SHA256SUMS, checks the checksum,
# and moves the binary into place in one step. No root needed; nothing else on the system is touched.
#
#   curl -fsSL https://github.com/payhook/payhook/releases/latest/download/install.sh | sh
#
# PAYHOOK_DOWNLOAD_URL  the folder that holds the release files (default: the latest GitHub release;
#                       .../releases/download/v0.2.0 for a given version)
# PAYHOOK_INSTALL       where payhook goes (default: ~/.local/bin)
#
# On any failure (unsupported platform, failed download, checksum mismatch) it prints one line, exits 1 and
# leaves the install folder as it was. Everything runs from `main` on the last line, so a download cut short
# runs nothing.
set -eu

DEFAULT_DOWNLOAD_URL=https://github.com/payhook/payhook/releases/latest/download

fail() {
  echo "payhook install: $*" >&2
  exit 1
}

# The release file's suffix for this machine: linux-x64, linux-arm64-musl, darwin-arm64, ...
detect_target() {
  os=$(uname -s)
  arch=$(uname -m)
  case $os in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) fail "unsupported operating system $os: payhook ships for Linux and macOS" ;;
  esac
  case $arch in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) fail "unsupported architecture $arch: payhook ships for x86_64 and arm64" ;;
  esac
  # A shell under Rosetta 2 sees x86_64 on an Apple silicon Mac: take the native build.
  if [ "$os" = darwin ] && [ "$arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    arch=arm64
  fi
  libc=
  if [ "$os" = linux ] && is_musl; then libc=-musl; fi
  echo "$os-$arch$libc"
}

# musl's ldd names itself (Alpine); glibc's says GLIBC. Without ldd, musl's loader alone decides.
is_musl() {
  if command -v ldd >/dev/null 2>&1; then
    ldd --version 2>&1 | grep -qi musl
  else
    ls /lib/ld-musl-* >/dev/null 2>&1
  fi
}

# download URL FILE: quietly, failing on an HTTP error; a redirect may not leave https.
download() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsL --proto-redir =https -o "$2" "$1" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1" 2>/dev/null
  else
    fail "neither curl nor wget is installed"
  fi
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    fail "neither sha256sum nor shasum is installed, so the download cannot be checked"
  fi
}

main() {
  base=${PAYHOOK_DOWNLOAD_URL:-$DEFAULT_DOWNLOAD_URL}
  base=${base%/}
  dir=${PAYHOOK_INSTALL:-${HOME:?HOME is not set; set PAYHOOK_INSTALL}/.local/bin}
  # mv onto a folder would move the binary into it and report success; a symlink to a folder likewise.
  [ ! -d "$dir/payhook" ] || fail "$dir/payhook is a directory, not a payhook binary: move it away, or set PAYHOOK_INSTALL to another folder"
  target=$(detect_target)
  name=payhook-$target

  tmp=$(mktemp -d)
  part=
  trap 'rm -rf "$tmp"; if [ -n "$part" ]; then rm -f "$part"; fi' EXIT
  trap 'exit 1' HUP INT TERM

  download "$base/SHA256SUMS" "$tmp/SHA256SUMS" || fail "cannot download $base/SHA256SUMS"
  expected=$(awk -v f="$name" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")
  [ -n "$expected" ] || fail "this release has no build for $target (see $base/SHA256SUMS)"
  download "$base/$name" "$tmp/$name" || fail "cannot download $base/$name"
  actual=$(sha256 "$tmp/$name")
  [ "$actual" = "$expected" ] || fail "checksum mismatch for $name (expected $expected, got $actual): nothing installed"

  mkdir -p "$dir" || fail "cannot create $dir"
  # Copied beside the target first, then renamed over it: a running payhook keeps its file, and no one ever
  # sees a half-written binary.
  part="$dir/.payhook.install.$$"
  cp "$tmp/$name" "$part" || fail "cannot write to $dir"
  chmod 0755 "$part" || fail "cannot make $part executable"
  previous=
  if [ -x "$dir/payhook" ]; then previous=$("$dir/payhook" version 2>/dev/null || true); fi
  mv -f "$part" "$dir/payhook" || fail "cannot write $dir/payhook"
  part=

  if now=$("$dir/payhook" version 2>/dev/null); then
    echo "installed $now as $dir/payhook"
  else
    echo "installed $name as $dir/payhook (it does not start here; on Alpine it needs: apk add libstdc++)"
  fi
  if [ -n "$previous" ]; then echo "replaced $previous; restart payhook to run the new one"; fi
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *) echo "$dir is not on your PATH; add it with: export PATH=\"$dir:\$PATH\"" ;;
  esac
}

main "$@"
