#!/bin/sh
# Prints the build's stamp as JSON, for `bun build --define PAYHOOK_BUILD=…` (src/ops/build-stamp.ts):
#   scripts/build-stamp.sh [TARGET]      VERSION=… overrides package.json's version.
# The date is the commit's, in UTC, never the clock's, so two builds of one commit carry the same stamp.
# Outside a git checkout of this folder (a source tarball, even one unpacked inside another repository),
# commit and date are "unknown".
set -eu
cd "$(dirname "$0")/.."
version=${VERSION:-$(sed -n 's/^  "version": "\([^"]*\)",*$/\1/p' package.json)}
case $version in
  '' | *[!0-9A-Za-z.+-]*) echo "build-stamp: VERSION must be letters, digits and . + - (got \"$version\")" >&2; exit 2 ;;
esac
commit=unknown
date=unknown
top=$(git rev-parse --show-toplevel 2>/dev/null || true)
if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(pwd -P)" ]; then
  commit=$(git rev-parse --short=12 HEAD)
  # Uncommitted changes (tracked or new files) mean the commit alone does not name the source.
  if [ -n "$(git status --porcelain)" ]; then commit="$commit-dirty"; fi
  date=$(TZ=UTC git show -s --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD)
fi
target=${1:+,\"target\":\"$1\"}
printf '{"version":"%s","commit":"%s","commit_date":"%s"%s}\n' "$version" "$commit" "$date" "$target"
