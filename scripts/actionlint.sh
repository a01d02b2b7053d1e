#!/usr/bin/env bash
# Lints .github/workflows with actionlint, built from the Go module proxy (no release download)
# and cached in $MQTT_EDGE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/mqtt-edge)/actionlint-<version>/.
# Scripts in `run:` steps go through shellcheck when it is installed; as root on Debian/Ubuntu it
# is installed from apt, elsewhere the shellcheck pass is skipped with a note. Exits non-zero on
# findings.
#
#   bash scripts/actionlint.sh [extra actionlint args...]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ACTIONLINT_VERSION=v1.7.12
cache="$CACHE_ROOT/actionlint-${ACTIONLINT_VERSION}"
bin="$cache/actionlint"

if [[ ! -x $bin ]]; then
  have go || [[ -x /usr/local/go/bin/go ]] ||
    die_with 2 "Go is required to build actionlint (apt-get install golang-go)"
  go=$(command -v go || echo /usr/local/go/bin/go)
  log "building actionlint ${ACTIONLINT_VERSION} into $cache"
  mkdir -p "$cache"
  start=$(date +%s)
  # A private GOBIN: the binary lands in the cache and nowhere else.
  GOBIN="$cache" "$go" install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
  log "built in $(( $(date +%s) - start ))s"
fi

shellcheck_arg=()
if ! have shellcheck; then
  if [[ $(id -u) -eq 0 ]] && have apt-get && apt-cache show shellcheck >/dev/null 2>&1; then
    install_debs shellcheck || log "apt-get install shellcheck failed"
  fi
fi
if have shellcheck; then
  log "$(shellcheck --version | sed -n 's/^version: /shellcheck /p')"
else
  log "shellcheck not found; run: scripts are not checked"
  shellcheck_arg=(-shellcheck=)
fi

log "actionlint $("$bin" -version | head -n1)"
# Without file arguments actionlint checks every workflow in .github/workflows.
exec "$bin" "${shellcheck_arg[@]}" "$@"
