#!/usr/bin/env bash
# Deploys the dev stack to the local Docker engine with state in a local file backend: no Pulumi
# Cloud account and no Cloudflare account needed (dev uses a TryCloudflare quick tunnel).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/node.sh)"
[ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund --loglevel=error
mkdir -p .pulumi-state
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-state}"
# The dev stack holds only generated secrets for a local broker; set your own passphrase to keep
# them from anyone who can read .pulumi-state.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
export PULUMI_SKIP_UPDATE_CHECK=true
pulumi stack select dev 2>/dev/null || pulumi stack init dev
pulumi up --yes --stack dev "$@"
pulumi stack output --stack dev
echo
echo "MQTT credentials: pulumi stack output --stack dev --show-secrets mqttCredentials"
echo "Quick tunnel URL: docker logs mqtt-edge-dev-local-cloudflared-1 2>&1 | grep -o 'https://[a-z0-9-]*\.trycloudflare\.com'"
