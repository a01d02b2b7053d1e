#!/usr/bin/env bash
# Every test of the project, on a fresh Debian machine, installing what the tests need:
#
#   bash scripts/test.sh
#
# 1. Debian packages (mosquitto for the broker tests, docker.io for the engines, haproxy for the
#    socket-proxy image, ...), Node.js 22 from the npm registry, the npm dependencies;
# 2. typecheck, lint, unit tests under Pulumi mocks, tests against a real Mosquitto, the policy
#    pack's own tests (`npm test`), and actionlint over the workflows;
# 3. the Pulumi CLI, its Node.js language host, cloudflared and Traefik built from the Go module
#    proxy, and the provider plugins at the versions package.json pins (scripts/toolchain.sh:
#    installed already, from MQTT_EDGE_PLUGINS, or downloaded by `pulumi`);
# 4. two private Docker engines (a: a single-node swarm, b: a second host) and the local images
#    (scripts/engine.sh, scripts/images.sh);
# 5. the end-to-end suites (`npm run test:e2e`): `pulumi up` of the program with the real
#    providers against those engines and a local fake of the Cloudflare API, first on Debian's
#    engines (Docker 20.10), then on today's (MQTT_EDGE_ENGINE=current, scripts/engine-build.sh:
#    Docker 29). Without the provider plugins each suite that deploys is skipped, with the
#    missing plugins as its reason, and the second pass is left out.
#
# Output: each suite's TAP stream, then a line per engine naming each e2e suite and its result
# (`suites on debian 20.10.24 (API 1.41): ...`), a line naming the suites skipped for want of provider
# plugins, then one line `tests: N passed, N failed, N skipped`.
# Exit status: 0 when everything that ran passed. Must run as root (dockerd, apt-get).
# Heavy builds are cached under $MQTT_EDGE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/mqtt-edge),
# keyed by version.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
start=$(date +%s)
# step TITLE: the header of each step, like .ci/run's.
step() { printf '\n== %s (+%ss)\n' "$*" "$(($(date +%s) - start))" >&2; }

[[ $(id -u) -eq 0 ]] || die_with 2 "scripts/test.sh must run as root (it starts dockerd and installs Debian packages)"

step "Debian packages"
debs=(mosquitto mosquitto-clients docker.io busybox-static ca-certificates iptables iproute2
  shellcheck haproxy xz-utils docker-compose)
# Any npm will do (Node.js from elsewhere brings its own; Debian's would conflict with it).
have npm || debs+=(npm)
need_debs "${debs[@]}"
# The broker tests start their own mosquitto; the package's service is not wanted.
if have systemctl; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi

step "Node.js 22+ and npm dependencies"
eval "$(bash scripts/node.sh)"
node --version >&2
npm ci --no-audit --no-fund --loglevel=error >&2
npm ci --prefix policy --no-audit --no-fund --loglevel=error >&2

# TAP files of every suite; MQTT_EDGE_TEST_RESULTS names a directory whose *.tap files (e.g. of
# a run before this one) are counted in the summary too.
results=${MQTT_EDGE_TEST_RESULTS:-$(mktemp -d)}
mkdir -p "$results"
engines_started=""
# shellcheck disable=SC2317  # called by the EXIT trap
finish() {
  local rc=$? pass=0 fail=0 skip=0 f
  for f in "$results"/*.tap; do
    [[ -e $f ]] || continue
    pass=$((pass + $(awk '/^# pass /{s+=$3} END{print s+0}' "$f")))
    # A test cancelled (its suite's `before` failed, or its parent timed out) did not pass:
    # node's TAP counts it apart from the failures, and so it is added to them here.
    fail=$((fail + $(awk '/^# (fail|cancelled) /{s+=$3} END{print s+0}' "$f")))
    skip=$((skip + $(awk '/^# skipped /{s+=$3} END{print s+0}' "$f")))
  done
  for e in $engines_started; do bash scripts/engine.sh stop "$e" >/dev/null 2>&1 || true; done
  echo
  # The e2e suites by engine: "suites on debian 20.10.24 (API 1.41): managed mode ... ok, ...".
  for f in "$results"/e2e-*.tap; do
    [[ -e $f ]] || continue
    printf 'suites on %s: %s\n' "$(cat "${f%.tap}.engine" 2>/dev/null || basename "$f" .tap)" \
      "$(sed -n 's/^\(not ok\|ok\) [0-9]* - \(.*\)/\2: \1/p' "$f" | sed 's/ # SKIP.*: ok$/: skipped/' |
        paste -sd';' - | sed 's/;/; /g')"
  done
  # Suites that skipped themselves for want of plugins (deploySuite, .ci/run's quick start).
  cat "$results"/*.tap 2>/dev/null | sed -n 's/^ *ok [0-9]* - \(.*\) # SKIP provider plugins missing: \([^(]*\).*/\2|\1/p' |
    awk -F'|' '{gsub(/ +$/, "", $1); why = $1; s = s (n++ ? "; " : "") $2}
      END {if (n) print "skipped for want of provider plugins " why " (" n "): " s;
           else print "skipped for want of provider plugins: none"}'
  echo "tests: $pass passed, $fail failed, $skip skipped"
  [[ $rc -ne 0 || $fail -eq 0 ]] || rc=1
  exit "$rc"
}
trap finish EXIT

failed=0
step "npm test (typecheck, lint, unit, broker and policy tests)"
TEST_REPORTER=tap npm test 2>&1 | tee "$results/unit.tap" || failed=1

step "actionlint (workflows)"
bash scripts/actionlint.sh || failed=1

step "toolchain: Pulumi CLI, language host, cloudflared, Traefik, provider plugins"
# 75: only provider plugins are missing; the suites that deploy then skip themselves, naming them.
tc_rc=0
toolchain_env="$(bash scripts/toolchain.sh)" || tc_rc=$?
eval "$toolchain_env"
case $tc_rc in
  0) ;;
  75) log "provider plugins missing (above): the suites that deploy will be skipped" ;;
  *) log "scripts/toolchain.sh failed (exit $tc_rc, above)"; failed=1 ;;
esac
pulumi version >&2
pulumi plugin ls >&2

# min_api_is NAME WANT: engine NAME's minimum API version is WANT (empty: anything; "default":
# not lowered, i.e. above 1.37).
min_api_is() {
  local have
  [[ -n $2 ]] || return 0
  have=$(eval "$(bash scripts/engine.sh env "$1")"; docker version --format '{{.Server.MinAPIVersion}}' 2>/dev/null) || return 1
  if [[ $2 == default ]]; then (( ${have#1.} > 37 )); else [[ $have == "$2" ]]; fi
}

# e2e_on FLAVOR: engines a (a single-node swarm) and b (a second host) of that flavor
# (scripts/engine.sh; each flavor keeps its own data root), the local images built into them,
# whatever an earlier run left on them removed, then every e2e suite, its TAP stream kept as
# e2e-FLAVOR.tap and the engine it ran on as e2e-FLAVOR.engine (for the summary).
e2e_on() {
  local flavor=$1 e
  step "Docker engines ($flavor; a: single-node swarm, b: a second host) and local images"
  # Docker Flow's swarm listener speaks API 1.37, below Docker 29's minimum: on current engines,
  # a (the swarm) is started with its minimum lowered to 1.37, as the README tells users of
  # swarm.proxy dockerflow to do, and b keeps the engine's own, where the swarm suite checks
  # that such a stack is refused before anything is made.
  local min_a="" min_b=""
  if [[ $flavor == current ]]; then min_a=1.37; min_b=default; fi
  # Engines running as the other flavor, or with another minimum, are stopped first (engine.sh
  # refuses to switch a running engine).
  for e in b a; do
    if bash scripts/engine.sh status "$e" >/dev/null 2>&1 &&
      { [[ $(bash scripts/engine.sh flavor "$e") != "$flavor" ]] ||
        ! min_api_is "$e" "$([[ $e == a ]] && echo "$min_a" || echo "$min_b")"; }; then
      bash scripts/engine.sh stop "$e" >&2
    fi
  done
  engines_started="a b"
  eval "$(MQTT_EDGE_ENGINE=$flavor bash scripts/engine.sh start b)"
  bash scripts/images.sh --only mosquitto --only cloudflared --only mqtt-client >&2
  eval "$(MQTT_EDGE_ENGINE=$flavor MQTT_EDGE_MIN_API_VERSION=$min_a bash scripts/engine.sh start a)"
  bash scripts/engine.sh swarm a
  bash scripts/images.sh >&2
  # These engines are the tests' own: whatever an interrupted earlier run left on them (services
  # holding the proxy's ports, containers with fixed names) goes before the suites start.
  for e in a b; do
    (
      eval "$(bash scripts/engine.sh env "$e")"
      f=label=dev.mqtt-edge.stack
      if [[ $(docker info --format '{{.Swarm.LocalNodeState}}') == active ]]; then
        docker service ls -q --filter "$f" | xargs -r docker service rm >/dev/null
      fi
      docker ps -aq --filter "$f" | xargs -r docker rm -f >/dev/null
      # A removed service's tasks go in the background; secrets in use cannot be removed before.
      for _ in $(seq 1 60); do [[ -z $(docker ps -aq --filter "$f") ]] && break; sleep 1; done
      if [[ $(docker info --format '{{.Swarm.LocalNodeState}}') == active ]]; then
        docker secret ls -q --filter "$f" | xargs -r docker secret rm >/dev/null 2>&1 || true
        docker config ls -q --filter "$f" | xargs -r docker config rm >/dev/null 2>&1 || true
      fi
      docker network ls -q --filter "$f" | xargs -r docker network rm >/dev/null 2>&1 || true
      docker volume ls -q --filter "$f" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
    )
  done
  # e.g. "debian 20.10.24 (API 1.41)", "current 2.0.0-beta.24 (API 1.56)"
  printf '%s %s\n' "$flavor" "$(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')" \
    >"$results/e2e-$flavor.engine"

  step "npm run test:e2e on the $flavor engines (pulumi up with the real providers)"
  TEST_REPORTER=tap npm run test:e2e 2>&1 | tee "$results/e2e-$flavor.tap" || failed=1
}

# Every suite on Debian's engine (Docker 20.10, API 1.41), then on today's (scripts/engine-build.sh:
# Docker 29, API 1.56). Without the provider plugins the suites skip themselves: once is enough.
e2e_on debian
if [[ $tc_rc -eq 0 ]]; then
  step "today's Docker engine (scripts/engine-build.sh, cached)"
  eval "$(bash scripts/engine-build.sh)"
  e2e_on current
fi

step "done"
exit "$failed"
