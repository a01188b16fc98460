#!/usr/bin/env bash
# `make traefik`, `make nomad`, `make consul`: put a real component, built
# from its published Go module at a pinned version, at .cache/bin/NAME for
# the end-to-end tests and `whiskers demo`, and print that path. Reused when
# present.
#
#   traefik v3.6.12  ~10 min cold on two cores, ~240 MB
#   nomad   v1.6.1   ~2 min, ~75 MB: the last MPL-2.0 release (1.7.0 and
#                    later are BUSL; never use them)
#   consul  v1.14.8  ~3 min, ~100 MB: MPL-2.0 (1.15+ needs modules this
#                    project must not use)
#
# `go install` refuses these modules (replace directives, nested modules
# missing from the zips), so each is built in a writable copy of its module
# directory, with the few edits its recipe names. The result is kept
# machine-wide in $WHISKERS_CACHE (default /var/cache/whiskers) when that is
# writable, and a fresh clone links to it instead of building again.
set -euo pipefail
tool=${1:?usage: tool.sh traefik|nomad|consul}
root=$(cd "$(dirname "$0")/.." && pwd)
# Neither Nomad nor Consul may call HashiCorp's update service, even for
# `version`.
export CHECKPOINT_DISABLE=1

case $tool in
traefik) module=github.com/traefik/traefik/v3 version=v3.6.12 pkg=./cmd/traefik ;;
nomad) module=github.com/hashicorp/nomad version=v1.6.1 pkg=. ;;
consul) module=github.com/hashicorp/consul version=v1.14.8 pkg=. ;;
*) echo "tool.sh: unknown tool $tool (traefik, nomad or consul)" >&2; exit 2 ;;
esac

# prepare edits the copied module so that it builds from published modules.
prepare() {
  case $tool in
  nomad)
    # The module zip lacks its nested ./api module, and a newer x/exp breaks
    # one slices.Equal call.
    go mod edit \
      -replace github.com/hashicorp/nomad/api=github.com/hashicorp/nomad/api@v0.0.0-20231213195942-64e3dca9274b \
      -replace golang.org/x/exp=golang.org/x/exp@v0.0.0-20230321023759-10a507213a29
    ;;
  consul)
    # The zip lacks the nested api, sdk and proto-public modules: use the
    # published versions go.mod names. Published api v1.18.0 lacks one field
    # that `consul operator raft list-peers` prints.
    go mod edit -dropreplace github.com/hashicorp/consul/api \
      -dropreplace github.com/hashicorp/consul/sdk \
      -dropreplace github.com/hashicorp/consul/proto-public
    sed -i 's/raftServer\.LastIndex/0/' command/operator/raft/listpeers/operator_raft_list.go
    ;;
  esac
}

bin=$root/.cache/bin/$tool
shared=${WHISKERS_CACHE:-/var/cache/whiskers}/$tool-$version/$tool

works() { [[ -x $1 ]] && "$1" version >/dev/null 2>&1; }

if works "$bin"; then
  echo "$bin"
  exit 0
fi
mkdir -p "$(dirname "$bin")"
if ! works "$shared"; then
  echo "tool.sh: building $tool $version (takes minutes the first time)" >&2
  dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir ]] || { echo "tool.sh: go mod download gave no module directory for $module@$version" >&2; exit 1; }
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r "$dir/." "$src/"
  chmod -R u+w "$src"
  (cd "$src" && prepare && GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$bin.tmp" "$pkg") >&2
  if mkdir -p "$(dirname "$shared")" 2>/dev/null && cp "$bin.tmp" "$shared.tmp" 2>/dev/null; then
    mv "$shared.tmp" "$shared"
    rm -f "$bin.tmp"
  else
    echo "tool.sh: $(dirname "$shared") is not writable; keeping the build in .cache only" >&2
    mv "$bin.tmp" "$bin"
  fi
fi
if ! works "$bin"; then
  ln -sfn "$shared" "$bin"
fi
works "$bin" || { echo "tool.sh: $bin does not run" >&2; exit 1; }
echo "$bin"
