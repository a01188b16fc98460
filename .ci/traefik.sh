#!/usr/bin/env bash
# `make traefik`: puts the real Traefik proxy (v3.6.12, built from its Go
# module) at .cache/bin/traefik for the end-to-end tests and `whiskers demo`,
# and prints that path. Reused when present.
#
# A cold build takes about 10 minutes on two cores (go install refuses the
# module because of the replace directives in its go.mod, so it is built in a
# copy of the module directory). The result is kept machine-wide in
# $WHISKERS_CACHE (default /var/cache/whiskers) when that is writable, and a
# fresh clone links to it instead of building again.
set -euo pipefail
version=v3.6.12
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.cache/bin/traefik
shared=${WHISKERS_CACHE:-/var/cache/whiskers}/traefik-$version/traefik

works() { [[ -x $1 ]] && "$1" version >/dev/null 2>&1; }

if works "$bin"; then
  echo "$bin"
  exit 0
fi
mkdir -p "$(dirname "$bin")"
if ! works "$shared"; then
  echo "traefik.sh: building traefik $version (takes several minutes the first time)" >&2
  dir=$(go mod download -json "github.com/traefik/traefik/v3@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir ]] || { echo "traefik.sh: go mod download gave no module directory" >&2; exit 1; }
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r "$dir/." "$src/"
  chmod -R u+w "$src"
  (cd "$src" && go build -trimpath -o "$bin.tmp" ./cmd/traefik) >&2
  if mkdir -p "$(dirname "$shared")" 2>/dev/null && cp "$bin.tmp" "$shared.tmp" 2>/dev/null; then
    mv "$shared.tmp" "$shared"
    rm -f "$bin.tmp"
  else
    echo "traefik.sh: $(dirname "$shared") is not writable; keeping the build in .cache only" >&2
    mv "$bin.tmp" "$bin"
  fi
fi
if ! works "$bin"; then
  ln -sfn "$shared" "$bin"
fi
works "$bin" || { echo "traefik.sh: $bin does not run" >&2; exit 1; }
echo "$bin"
