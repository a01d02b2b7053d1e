#!/usr/bin/env bash
# Deploys the dev stack (Pulumi.dev.yaml) to a local Docker engine with state in a local file
# backend (./.pulumi-state): no Pulumi Cloud account and no Cloudflare account needed (dev runs
# a TryCloudflare quick tunnel).
#
#   bash scripts/dev-up.sh [pulumi up flags...]
#
# It brings what it needs, each step only when it is missing:
# - Node.js 22 (scripts/node.sh) and the npm dependencies;
# - the Pulumi CLI and language host, built from the Go module proxy, when no `pulumi` is on PATH;
# - the provider plugins at the versions package.json pins (scripts/toolchain.sh: installed
#   already, from the folder MQTT_EDGE_PLUGINS names, or downloaded by `pulumi`). When one is
#   still missing it stops here, before touching any Docker engine, naming each missing plugin
#   and how to get it, with exit status 75;
# - a Docker engine: DOCKER_HOST or /var/run/docker.sock when one answers, otherwise a private
#   one (scripts/engine.sh start dev; stop it with `bash scripts/engine.sh stop dev`);
# - the images the dev stack names: pulled when a registry answers, otherwise built here from
#   Debian packages and the Go module proxy (scripts/images.sh) and tagged with those names.
#
# Environment: PULUMI_CONFIG_PASSPHRASE (default empty: the state holds generated passwords of a
# local broker; choose one to keep them from anyone who can read .pulumi-state),
# PULUMI_BACKEND_URL (default file://$PWD/.pulumi-state).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

if ! have npm; then
  log "no npm: installing Debian's (to fetch Node.js 22 from the npm registry)"
  install_debs npm
fi
eval "$(bash scripts/node.sh)"
[[ -d node_modules/@pulumi/pulumi ]] || npm ci --no-audit --no-fund --loglevel=error >&2

# ---- Pulumi CLI and plugins ------------------------------------------------------------------
parts=(plugins)
have pulumi || parts=(cli nodejs plugins)
log "toolchain: ${parts[*]}"
rc=0
toolchain_env="$(IFS=,; bash scripts/toolchain.sh --only "${parts[*]}")" || rc=$?
eval "$toolchain_env"
case $rc in
  0) ;;
  75) log "stopped before touching any Docker engine: the provider plugins above are missing (README, \"Provider plugins\")"
      exit 75 ;;
  *) die "scripts/toolchain.sh failed (exit $rc, above)" ;;
esac

# ---- Docker engine ---------------------------------------------------------------------------
if [[ -z ${DOCKER_HOST:-} && -S /var/run/docker.sock ]]; then export DOCKER_HOST=unix:///var/run/docker.sock; fi
if ! docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; then
  log "no Docker engine answers at ${DOCKER_HOST:-the default socket}; starting a private one"
  eval "$(bash scripts/engine.sh start dev)"
fi
log "Docker engine at ${DOCKER_HOST:-the default socket}: $(docker info --format 'server {{.ServerVersion}}')"

# ---- the images the dev stack names ----------------------------------------------------------
image_of() { # KEY: mqtt-edge:<KEY>.image from Pulumi.dev.yaml
  node -e 'const y=require("yaml");const c=y.parse(require("fs").readFileSync("Pulumi.dev.yaml","utf8")).config;
    process.stdout.write((c["mqtt-edge:"+process.argv[1]]||{}).image||"")' "$1"
}
ensure_image() { # NAME LOCAL_PART: the image NAME, pulled or built locally and tagged NAME
  local name=$1 part=$2 built
  [[ -n $name ]] || return 0
  docker image inspect "$name" >/dev/null 2>&1 && return 0
  if docker pull -q "$name" >/dev/null 2>&1; then log "pulled $name"; return 0; fi
  log "cannot pull $name (no registry reachable): building a local $part image and tagging it $name"
  if [[ $part == cloudflared && ! -x $CACHE_ROOT/toolchain/bin/cloudflared ]]; then
    bash scripts/toolchain.sh --only cloudflared >/dev/null
  fi
  built=$(bash scripts/images.sh --only "$part" | tail -n 1 | cut -d' ' -f1)
  [[ -n $built ]] || die "scripts/images.sh built no $part image"
  docker tag "$built" "$name"
  log "WARNING: $name is a local build of $built, not the upstream image"
}
ensure_image "$(image_of broker)" mosquitto
ensure_image "$(image_of tunnel)" cloudflared

# ---- pulumi up -------------------------------------------------------------------------------
mkdir -p .pulumi-state
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-state}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
export PULUMI_SKIP_UPDATE_CHECK=true
pulumi stack select dev 2>/dev/null || pulumi stack init dev
pulumi up --yes --stack dev "$@"
pulumi stack output --stack dev
cat >&2 <<EOF

MQTT credentials:  pulumi stack output --stack dev --show-secrets mqttCredentials
Quick tunnel URL:  docker logs mqtt-edge-dev-local-cloudflared-1 2>&1 | grep -o 'https://[a-z0-9-]*\.trycloudflare\.com'
Docker engine:     export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
Remove it all:     PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL pulumi destroy --yes --stack dev
EOF
