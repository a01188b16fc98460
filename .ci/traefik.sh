#!/usr/bin/env bash
# Builds the real Traefik proxy (v3.6.12, from its Go module) for the
# end-to-end tests and prints the binary's path. The build (~10 min on two
# cold cores) is cached in $WHISKERS_CACHE (default /var/cache/whiskers), so
# later runs on the same machine reuse it.
#
#   WHISKERS_TRAEFIK_BIN=$(bash .ci/traefik.sh) go test ./plugin/yaegitest/...
set -euo pipefail
version=v3.6.12
cache=${WHISKERS_CACHE:-/var/cache/whiskers}/traefik-$version
bin=$cache/traefik
if [[ ! -x $bin ]]; then
  echo "traefik.sh: building traefik $version into $cache (takes several minutes)" >&2
  dir=$(go mod download -json "github.com/traefik/traefik/v3@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir ]] || { echo "traefik.sh: go mod download gave no module directory" >&2; exit 1; }
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r "$dir/." "$src/"
  chmod -R u+w "$src"
  mkdir -p "$cache"
  (cd "$src" && go build -trimpath -o "$bin.tmp" ./cmd/traefik) >&2
  mv "$bin.tmp" "$bin"
fi
"$bin" version >/dev/null
echo "$bin"
