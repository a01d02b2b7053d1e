#!/usr/bin/env bash
# Today's Docker engine, built from the Go module proxy, for scripts/engine.sh's "current" flavor
# (MQTT_EDGE_ENGINE=current). Debian's docker.io is 20.10 (API 1.41); users run 28/29.
#
#   eval "$(bash scripts/engine-build.sh)"   # build if not cached; stdout: one `export PATH=` line
#   bash scripts/engine-build.sh paths       # the three cached paths (dockerd, docker-proxy, runc)
#
# What it builds, each cached under <cache>/ keyed by version (<cache>: $MQTT_EDGE_CACHE, else
# ${XDG_CACHE_HOME:-~/.cache}/mqtt-edge), so a second run only checks that the files are there:
#   engine-moby-<MOBY>/bin/dockerd, docker-proxy   github.com/moby/moby/v2 (cmd/dockerd,
#                                                  cmd/docker-proxy): a Docker 29.x engine
#   runc-<RUNC>/runc                                github.com/opencontainers/runc, -tags seccomp
#                                                  (needs Debian's libseccomp-dev)
# Debian's containerd 1.6 (`containerd` on PATH, which dockerd starts and supervises) and
# docker-init (Debian's tini) serve as they are, and so does Debian's docker CLI 20.10 (API 1.41,
# which the engine accepts: its minimum is 1.40).
#
# Why these versions (Go module proxy, checked 2026-12): moby/moby/v2 v2.0.0-beta.24 is Docker
# 29.8 (releases/versions.yaml: last 29.8.0), API 1.56, minimum API 1.40; v2.0.0-beta.25 needs a
# swarmkit pseudo-version the proxy refuses. Docker 29's OCI specs need a runc newer than Debian's
# 1.1.5 ("runc create failed: namespace {"time" ""} does not exist"); runc 1.3 runs them. v1.3.3
# cannot be built from the proxy: its go.mod replaces go-selinux with ./internal/third_party/selinux,
# a nested module that the module zip leaves out; v1.3.4 and later use go-selinux v1.13.1, which
# carries the same fix (CVE-2025-52881). v1.3.7 is the newest 1.3 the proxy serves.
# MQTT_EDGE_MOBY_VERSION and MQTT_EDGE_RUNC_VERSION override the pins.
#
# Only Go modules are downloaded: each module's source is copied from the Go module cache into a
# scratch directory under <cache>/ and built there with -mod=mod, niced (`go install pkg@version`
# would refuse a go.mod with replace directives and takes no -o). A build takes a few minutes on
# 2 cores; the Go build cache grows by a few GB (`go clean -cache` frees it).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

moby_version=${MQTT_EDGE_MOBY_VERSION:-v2.0.0-beta.24}
runc_version=${MQTT_EDGE_RUNC_VERSION:-v1.3.7}
engine_dir="$CACHE_ROOT/engine-moby-$moby_version"
runc_dir="$CACHE_ROOT/runc-$runc_version"

# Paths only, for callers that want them without building.
if [[ ${1:-} == paths ]]; then
  printf '%s\n' "$engine_dir/bin/dockerd" "$engine_dir/bin/docker-proxy" "$runc_dir/runc"
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: engine-build.sh [paths]"

have go || die "go is not on PATH (the engine is built from the Go module proxy)"

# Copy module $1@$2 out of the module cache into a fresh writable directory; prints its path.
module_src() {
  local mod=$1 version=$2 src work
  src=$(GOFLAGS=-mod=mod go mod download -json "$mod@$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $src && -d $src ]] || die "go mod download $mod@$version gave no directory"
  work=$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")
  cp -R "$src/." "$work/"
  chmod -R u+w "$work"
  printf '%s\n' "$work"
}

build_engine() {
  if [[ -x $engine_dir/bin/dockerd && -x $engine_dir/bin/docker-proxy ]]; then
    log "dockerd and docker-proxy (moby $moby_version) cached in $engine_dir/bin"
    return 0
  fi
  local work t0=$SECONDS ver=${moby_version#v}
  log "building dockerd and docker-proxy from github.com/moby/moby/v2@$moby_version (a few minutes)"
  work=$(module_src github.com/moby/moby/v2 "$moby_version")
  rm -rf "$engine_dir/bin.tmp"
  mkdir -p "$engine_dir/bin.tmp"
  # Tags as moby's hack/make.sh sets them, less static_build (a dynamic binary) and btrfs (its
  # graphdriver needs btrfs headers; we use overlay2).
  (
    cd "$work"
    GOFLAGS=-mod=mod nice -n 10 go build -trimpath \
      -tags 'netgo osusergo nri_no_wasm exclude_graphdriver_btrfs' \
      -ldflags "-w -X github.com/moby/moby/v2/dockerversion.Version=$ver -X github.com/moby/moby/v2/dockerversion.GitCommit=$moby_version" \
      -o "$engine_dir/bin.tmp/" ./cmd/dockerd ./cmd/docker-proxy
  ) || { rm -rf "$work" "$engine_dir/bin.tmp"; die "building moby $moby_version failed"; }
  rm -rf "$work" "${engine_dir:?}/bin"
  mv "$engine_dir/bin.tmp" "$engine_dir/bin"
  log "built dockerd and docker-proxy in $((SECONDS - t0)) s: $engine_dir/bin"
}

build_runc() {
  if [[ -x $runc_dir/runc ]]; then
    log "runc $runc_version cached in $runc_dir"
    return 0
  fi
  need_debs libseccomp-dev pkg-config
  local work t0=$SECONDS
  log "building runc from github.com/opencontainers/runc@$runc_version (-tags seccomp)"
  work=$(module_src github.com/opencontainers/runc "$runc_version")
  rm -rf "$runc_dir.tmp"
  mkdir -p "$runc_dir.tmp"
  (
    cd "$work"
    GOFLAGS=-mod=mod nice -n 10 go build -trimpath -tags seccomp \
      -ldflags "-X main.gitCommit=$runc_version" -o "$runc_dir.tmp/runc" .
  ) || { rm -rf "$work" "$runc_dir.tmp"; die "building runc $runc_version failed"; }
  rm -rf "$work" "$runc_dir"
  mv "$runc_dir.tmp" "$runc_dir"
  log "built runc in $((SECONDS - t0)) s: $runc_dir/runc"
}

mkdir -p "$CACHE_ROOT"
build_runc
build_engine
# shellcheck disable=SC2016  # $PATH is for the caller's eval
printf 'export PATH="%s:%s:$PATH"\n' "$engine_dir/bin" "$runc_dir"
