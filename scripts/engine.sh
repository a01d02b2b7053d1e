#!/usr/bin/env bash
# A private Docker engine for the end-to-end tests (no registry needed).
#
#   eval "$(bash scripts/engine.sh start [NAME])"   # install if missing, start, print DOCKER_HOST
#   bash scripts/engine.sh swarm [NAME]             # single-node swarm (idempotent)
#   bash scripts/engine.sh stop [NAME]              # stop by the recorded PID
#   bash scripts/engine.sh status [NAME]            # exit 0 when it answers
#   bash scripts/engine.sh env [NAME]               # print the export line only
#   bash scripts/engine.sh flavor [NAME]            # print the flavor it runs as (or last ran as)
#
# NAME defaults to "a". Each engine lives under ${MQTT_EDGE_RUN:-/tmp/mqtt-edge}/docker-NAME
# (socket, data root, exec root, pidfile, log) and has its own Linux bridge, subnets and swarm
# ports, so several engines ("a" and "b" for multi-host tests) run side by side.
# Only the export line goes to stdout; everything else goes to stderr.
#
# Two flavors, chosen by MQTT_EDGE_ENGINE when an engine starts:
#   debian   (default) Debian's docker.io: dockerd 20.10 (API 1.41), runc 1.1.5, containerd 1.6.
#   current  dockerd, docker-proxy and runc built from the Go module proxy by engine-build.sh
#            (a Docker 29.x engine: API 1.56, minimum 1.40; runc 1.3), with Debian's containerd
#            (started and supervised by dockerd), docker-init (tini) and docker CLI (API 1.41).
#            MQTT_EDGE_MIN_API_VERSION sets its minimum API version (DOCKER_MIN_API_VERSION,
#            1.24 at the lowest) for clients that pin an older one.
# Each flavor has its own data root and exec root in the engine's directory (data, exec for
# debian; data-current, exec-current for current): an engine never opens the other flavor's
# images, containers or swarm state. The socket, pidfile and log are the name's; the flavor an
# engine was started with is in its directory's "flavor" file, and starting a running engine as
# the other flavor is refused (stop it first). stop, status, swarm and env work on either.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd=${1:-start}
name=${2:-a}
run_root=${MQTT_EDGE_RUN:-/tmp/mqtt-edge}
LOG_TAG="engine $name"

[[ $name =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "engine name must match [a-z][a-z0-9]{0,7}: '$name'"
flavor=${MQTT_EDGE_ENGINE:-debian}
[[ $flavor == debian || $flavor == current ]] ||
  die "MQTT_EDGE_ENGINE must be debian or current: '$flavor'"

# Per-engine index: a=0, b=1, ... (other names: a stable hash). Everything derived from it is
# distinct between engines: bridge subnet, address pools, swarm ports.
if [[ ${#name} -eq 1 ]]; then
  idx=$(( $(printf '%d' "'$name") - 97 ))
else
  idx=$(( 26 + $(printf '%s' "$name" | cksum | cut -d' ' -f1) % 24 ))
fi
dir="$run_root/docker-$name"
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
logfile="$dir/dockerd.log"
flavor_file="$dir/flavor"
if [[ $flavor == debian ]]; then
  data_root="$dir/data" exec_root="$dir/exec"      # as before flavors existed
else
  data_root="$dir/data-$flavor" exec_root="$dir/exec-$flavor"
fi
bridge="mqe-$name"                                  # Linux bridge of the default network
bridge_cidr="10.$((100 + idx)).0.1/24"              # default bridge network (what --bip sets)
pool="base=10.$((100 + idx)).64.0/18,size=24"       # user-defined networks: 64 x /24
gw_subnet="10.$((100 + idx)).1.0/24"                # swarm docker_gwbridge
swarm_pool="10.$((150 + idx)).0.0/16"               # swarm overlay networks
swarm_ip="127.0.0.$((1 + idx))"                     # a: 127.0.0.1, b: 127.0.0.2, ...
data_path_port=$((4789 + idx))                      # VXLAN UDP port, one per engine
export DOCKER_HOST="unix://$sock"

# iptables: dockerd 20.10 deletes and recreates its shared chains (DOCKER, DOCKER-ISOLATION-*)
# when it starts, so two engines with iptables in one network namespace break each other.
# Engine "a" manages iptables (published ports via DNAT, swarm routing mesh); the others run
# with --iptables=false (published ports still work through docker-proxy).
# Override with MQTT_EDGE_IPTABLES=true|false.
if [[ -n ${MQTT_EDGE_IPTABLES:-} ]]; then
  iptables=$MQTT_EDGE_IPTABLES
elif [[ $name == a ]]; then
  iptables=true
else
  iptables=false
fi

print_env() { printf 'export DOCKER_HOST=%s\n' "$DOCKER_HOST"; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (dockerd needs it)"; }

# By command, not by package: a docker-ce from Docker's own repository serves as well.
install_engine() {
  local missing=()
  have dockerd || missing+=(docker.io)
  have iptables || missing+=(iptables)
  have ip || missing+=(iproute2)
  have docker || missing+=(docker.io)
  have containerd || missing+=(containerd)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  # Debian's package starts no daemon here (no systemd); we start our own below.
  install_debs "${missing[@]}" iptables iproute2 containerd runc tini
}

pid_alive() {
  local pid
  [[ -s $pidfile ]] || return 1
  pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]
}

answers() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

setup_bridge() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add name "$bridge" type bridge
  fi
  if ! ip -4 addr show dev "$bridge" | grep -q "inet ${bridge_cidr}"; then
    ip -4 addr flush dev "$bridge"
    ip addr add "$bridge_cidr" dev "$bridge"
  fi
  ip link set "$bridge" up
}

# Linux bridges this engine made (its own, docker_gwbridge's, user-defined networks' br-*),
# recognised by an address in this engine's 10.(100+idx).0.0/16.
remove_bridges() {
  local br
  for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    [[ $br == "$bridge" || $br == "$bridge-gw" || $br =~ ^br-[0-9a-f]{12}$ ]] || continue
    if [[ $br == "$bridge" || $br == "$bridge-gw" ]] ||
      ip -4 -o addr show dev "$br" | grep -q " inet 10\.$((100 + idx))\."; then
      ip link del "$br" 2>/dev/null || true
    fi
  done
}

# The flavor of the engine running under this name ("debian" for one started before flavors).
running_flavor() { if [[ -s $flavor_file ]]; then cat "$flavor_file"; else echo debian; fi; }

start() {
  need_root
  if pid_alive && [[ $(running_flavor) != "$flavor" ]]; then
    die "engine $name is running as $(running_flavor), not $flavor: bash scripts/engine.sh stop $name first"
  fi
  if pid_alive && answers; then
    log "already running (pid $(cat "$pidfile"), $flavor)"
    print_env
    return 0
  fi
  if pid_alive; then
    log "pid $(cat "$pidfile") is alive but does not answer yet; waiting"
  else
    install_engine
    local flavor_args=()
    if [[ $flavor == current ]]; then
      # Puts the built dockerd, docker-proxy and runc first on PATH (building them if missing):
      # dockerd starts Debian's containerd, whose runc shim runs the runc found on PATH.
      eval "$(bash "$REPO_ROOT/scripts/engine-build.sh")"
      flavor_args=(--userland-proxy-path "$(command -v docker-proxy)" --ip6tables="$iptables")
      if [[ -n ${MQTT_EDGE_MIN_API_VERSION:-} ]]; then
        export DOCKER_MIN_API_VERSION=$MQTT_EDGE_MIN_API_VERSION
      fi
    fi
    mkdir -p "$data_root" "$exec_root"
    rm -f "$sock" "$pidfile"
    printf '%s\n' "$flavor" >"$flavor_file"
    # Forwarding on before dockerd starts: then dockerd leaves the FORWARD policy at ACCEPT
    # (it sets DROP only when it enables forwarding itself), which engines without iptables need.
    sysctl -q -w net.ipv4.ip_forward=1 >&2 || log "could not enable net.ipv4.ip_forward"
    setup_bridge
    log "starting $flavor dockerd $(command -v dockerd) (bridge $bridge $bridge_cidr, pool $pool, iptables=$iptables), log $logfile"
    # setsid: its own session, so it outlives this shell and a Ctrl-C of the caller.
    setsid dockerd \
      --host "$DOCKER_HOST" \
      --data-root "$data_root" \
      --exec-root "$exec_root" \
      --pidfile "$pidfile" \
      --bridge "$bridge" \
      --default-address-pool "$pool" \
      --iptables="$iptables" \
      --ip-masq="$iptables" \
      --exec-opt native.cgroupdriver=cgroupfs \
      --cgroup-parent "/mqtt-edge-$name" \
      --storage-driver overlay2 \
      --log-level warn \
      --mtu "$(cat /sys/class/net/"$(ip route show default | awk '{print $5; exit}')"/mtu 2>/dev/null || echo 1500)" \
      "${flavor_args[@]}" \
      </dev/null >>"$logfile" 2>&1 &
    local launcher=$!
    # dockerd writes the pidfile itself; keep ours in case it died before writing it.
    for _ in $(seq 1 50); do [[ -s $pidfile ]] && break; sleep 0.1; done
    [[ -s $pidfile ]] || echo "$launcher" >"$pidfile"
  fi
  local t0=$SECONDS
  until answers; do
    if ! pid_alive; then
      tail -n 30 "$logfile" >&2 || true
      die "dockerd exited; see $logfile"
    fi
    [[ $((SECONDS - t0)) -gt 120 ]] && { tail -n 30 "$logfile" >&2; die "dockerd did not answer in 120 s"; }
    sleep 0.5
  done
  log "ready in $((SECONDS - t0)) s (pid $(cat "$pidfile"), $flavor, $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}} (min {{.Server.MinAPIVersion}})'), $(docker info --format '{{.Driver}}'))"
  print_env
}

stop() {
  if ! pid_alive; then
    log "not running"
    rm -f "$pidfile"
    return 0
  fi
  local pid; pid=$(cat "$pidfile")
  log "stopping dockerd pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after 60 s: SIGKILL $pid"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  remove_bridges
  log "stopped"
}

swarm() {
  answers || die "engine not running: bash scripts/engine.sh start $name"
  local state
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [[ $state == active ]]; then
    log "already a swarm manager"
    return 0
  fi
  # Each engine needs its own docker_gwbridge Linux bridge (the default name is shared).
  if ! docker network inspect docker_gwbridge >/dev/null 2>&1; then
    docker network create --subnet "$gw_subnet" \
      -o com.docker.network.bridge.name="mqe-$name-gw" \
      -o com.docker.network.bridge.enable_icc=false \
      -o com.docker.network.bridge.enable_ip_masquerade="$iptables" \
      docker_gwbridge >/dev/null
  fi
  log "swarm init (advertise $swarm_ip, data path port $data_path_port, pool $swarm_pool)"
  docker swarm init --advertise-addr "$swarm_ip" --listen-addr "$swarm_ip:2377" \
    --data-path-port "$data_path_port" --default-addr-pool "$swarm_pool" >&2
}

case $cmd in
  start) start ;;
  stop) stop ;;
  swarm) swarm ;;
  status) pid_alive && answers ;;
  env) print_env ;;
  flavor) running_flavor ;;
  *) die "usage: engine.sh start|stop|swarm|status|env|flavor [NAME]" ;;
esac
