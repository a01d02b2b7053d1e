#!/usr/bin/env bash
# Makes Node.js >= 22 available: @pulumi/pulumi 3.250+ declares engines.node >= 22 and the
# build machines ship Node 20. The npm package `node` carries the real binary, so it comes
# from the npm registry like any other dependency and is cached outside the repository, at the
# exact version lib.sh pins (PINNED_NODE_VERSION; MQTT_EDGE_NODE_VERSION overrides it).
# Prints one line for `eval`: export PATH=...   (logs go to stderr)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

want_major=22
version=$PINNED_NODE_VERSION
cache="$CACHE_ROOT/node-$version"

current_major=0
if have node; then
  current_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
fi
if [[ $current_major -ge $want_major ]]; then
  log "using $(command -v node) $(node --version)"
  echo "export PATH=\"$PATH\""
  exit 0
fi

bin="$cache/node_modules/node/bin"
if [[ ! -x $bin/node ]]; then
  log "installing node@$version from the npm registry into $cache"
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --loglevel=error "node@$version" >&2
fi
"$bin/node" --version >&2
# npm's own shims resolve `node` through PATH, so put the new binary first.
echo "export PATH=\"$bin:$PATH\""
