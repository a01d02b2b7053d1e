#!/usr/bin/env bash
# Lints .github/workflows with actionlint, built from the Go module proxy (no release download)
# and cached in ${MQTT_EDGE_CACHE:-~/.cache/mqtt-edge}/actionlint-<version>/. Scripts in `run:`
# steps go through shellcheck when it is installed; as root on Debian/Ubuntu it is installed
# from apt, elsewhere the shellcheck pass is skipped with a note. Exits non-zero on findings.
#
#   bash scripts/actionlint.sh [extra actionlint args...]
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT_VERSION=v1.7.12
cache="${MQTT_EDGE_CACHE:-$HOME/.cache/mqtt-edge}/actionlint-${ACTIONLINT_VERSION}"
bin="$cache/actionlint"

if [ ! -x "$bin" ]; then
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
    echo "actionlint.sh: Go is required to build actionlint (apt-get install golang-go)" >&2
    exit 2
  }
  go=$(command -v go || echo /usr/local/go/bin/go)
  echo "actionlint.sh: building actionlint ${ACTIONLINT_VERSION} into $cache" >&2
  mkdir -p "$cache"
  start=$(date +%s)
  # A private GOBIN: the binary lands in the cache and nowhere else.
  GOBIN="$cache" "$go" install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
  echo "actionlint.sh: built in $(( $(date +%s) - start ))s" >&2
fi

shellcheck_arg=()
if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && apt-cache show shellcheck >/dev/null 2>&1; then
    echo "actionlint.sh: installing Debian's shellcheck" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null ||
      echo "actionlint.sh: apt-get install shellcheck failed" >&2
  fi
fi
if command -v shellcheck >/dev/null 2>&1; then
  echo "actionlint.sh: $(shellcheck --version | sed -n 's/^version: /shellcheck /p')" >&2
else
  echo "actionlint.sh: shellcheck not found; run: scripts are not checked" >&2
  shellcheck_arg=(-shellcheck=)
fi

echo "actionlint.sh: actionlint $("$bin" -version | head -n1)" >&2
# Without file arguments actionlint checks every workflow in .github/workflows.
exec "$bin" "${shellcheck_arg[@]}" "$@"
