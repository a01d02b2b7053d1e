# shellcheck shell=bash
# What the scripts in scripts/ share. Sourced, never run, right after `set -euo pipefail`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Nothing here writes to stdout: callers `eval` the stdout of node.sh, toolchain.sh and
# engine.sh, and parse the one line per image of images.sh.
#
#   log MESSAGE...          one line "<LOG_TAG>: MESSAGE" on stderr. LOG_TAG is the script's name
#                           without .sh (toolchain, images, ...); a script may set its own after
#                           sourcing this file (engine.sh: "engine NAME").
#   die MESSAGE...          log "error: MESSAGE" and exit 1
#   die_with STATUS MESSAGE...   the same, exiting with STATUS
#   have COMMAND            true when COMMAND is on PATH
#   need_debs PKG...        installs those of the Debian packages PKG... that dpkg does not list
#                           as installed
#   install_debs PKG...     installs the Debian packages PKG... (apt-get install; as root, after
#                           one apt-get update per process); returns non-zero when apt-get fails
#
#   CACHE_ROOT              where downloads and builds are cached, keyed by version:
#                           $MQTT_EDGE_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/mqtt-edge
#   REPO_ROOT               the checkout this file belongs to
#   PINNED_NODE_VERSION     the Node.js that node.sh installs and the test images carry: an exact
#                           version of the npm package `node` ($MQTT_EDGE_NODE_VERSION overrides)
#
# Style of the scripts: `set -euo pipefail`; every test is `[[ ... ]]`, arithmetic is `$(( ))`;
# logs through log/die only, to stderr.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  printf 'lib.sh: source it from a script (source scripts/lib.sh), do not run it\n' >&2
  exit 2
fi

LOG_TAG=$(basename "$0" .sh)
log() { printf '%s: %s\n' "$LOG_TAG" "$*" >&2; }
die() { die_with 1 "$@"; }
die_with() {
  local status=$1
  shift
  log "error: $*"
  exit "$status"
}
have() { command -v "$1" >/dev/null 2>&1; }

# shellcheck disable=SC2034  # used by the scripts that source this file
CACHE_ROOT=${MQTT_EDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mqtt-edge}
# shellcheck disable=SC2034
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." >/dev/null && pwd)
# shellcheck disable=SC2034
PINNED_NODE_VERSION=${MQTT_EDGE_NODE_VERSION:-22.23.3}

_apt_updated=false
install_debs() {
  [[ $# -gt 0 ]] || return 0
  [[ $(id -u) -eq 0 ]] || die "missing Debian packages (need root to install): $*"
  log "apt-get install $*"
  if ! $_apt_updated; then
    apt-get update -qq >/dev/null || return
    _apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need_debs() {
  local missing=() p
  for p in "$@"; do
    # shellcheck disable=SC2016  # ${Status} is dpkg-query's field, not a shell variable
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *" ok installed" ]] || missing+=("$p")
  done
  install_debs "${missing[@]}"
}
