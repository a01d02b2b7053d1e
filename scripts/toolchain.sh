#!/usr/bin/env bash
# Build the Pulumi toolchain (CLI, Node.js language host, resource providers, cloudflared)
# from the Go module proxy: get.pulumi.com and GitHub are not reachable from our machines.
#
#   eval "$(bash scripts/toolchain.sh)"                      # all parts
#   eval "$(bash scripts/toolchain.sh --only cli,nodejs)"    # a subset
#
# Parts: cli, nodejs, docker, random, cloudflare, cloudflared.
# Each binary is cached under ${MQTT_EDGE_CACHE:-$HOME/.cache/mqtt-edge}/toolchain/<name>-<version>/,
# so a second run is a no-op. All binaries are linked into ${cache}/toolchain/bin; stdout gets
# exactly one line, `export PATH="<bindir>:$PATH"`; every log line goes to stderr.
#
# Only Go modules are downloaded (go mod download / go build). The small wrapper modules
# (go.mod, tools.go, main.go) are generated here, in the cache's work directory.
#
# What the Go module proxy serves (checked 2026-11): it answers 403 "This module version is not
# available" for github.com/pulumi/pulumi/pkg/v3 >= v3.260.0 (v3.259.0 is the newest whose zip is
# served), for every version of github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3,
# for the provider modules github.com/pulumi/pulumi-{docker,random,cloudflare}/provider/vN, and for
# some cloudflared pseudo-versions (module list queries are refused too). Hence the pins below:
#   - CLI v3.259.0 (npm @pulumi/pulumi is 3.270.x; the SDK talks to the CLI over gRPC, and a
#     TypeScript program with @pulumi/pulumi 3.270.0 was deployed with this CLI);
#   - the Node.js language host from sdk/v3 v3.68.0, the last release that kept it inside the
#     sdk/v3 module (later releases moved it into the refused module above); the v3.259 engine
#     still fills the deprecated RunRequest fields and falls back to GetRequiredPlugins for it;
#   - providers: the script resolves the commit of the npm release tag and asks the proxy for
#     the provider module at that commit; while the proxy refuses it, the part is reported as
#     unavailable (fatal only when named in --only). pulumi-docker and pulumi-cloudflare also
#     `replace` their Terraform upstream with ../upstream (a patched git submodule) that no Go
#     module carries, so they cannot be built from the proxy even when it serves them.
# shellcheck disable=SC2317  # the build_* functions are called through run_part
set -euo pipefail

log() { printf 'toolchain: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

ALL_PARTS="cli,nodejs,docker,random,cloudflare,cloudflared"

# ---- versions -----------------------------------------------------------------------------
PULUMI_VERSION="${MQTT_EDGE_PULUMI_VERSION:-3.259.0}"        # github.com/pulumi/pulumi/pkg/v3
NODEJS_HOST_SDK_VERSION="${MQTT_EDGE_NODEJS_HOST_SDK_VERSION:-3.68.0}"  # sdk/v3 carrying the host
# cloudflared: release tags (2026.x.y) are not semver, so the proxy only has pseudo-versions.
# This one is `git describe` 2026.7.1-2-g2601f87b, the newest the proxy serves that we found.
CLOUDFLARED_MODVERSION="${MQTT_EDGE_CLOUDFLARED_MODVERSION:-v0.0.0-20260713102814-2601f87b5728}"
CLOUDFLARED_VERSION="${MQTT_EDGE_CLOUDFLARED_VERSION:-2026.7.1-2-g2601f87b}"
# providers: name -> npm package version (the plugin version must match it)
declare -A PROVIDER_VERSION=(
  [docker]="${MQTT_EDGE_DOCKER_VERSION:-5.2.0}"
  [random]="${MQTT_EDGE_RANDOM_VERSION:-4.21.2}"
  [cloudflare]="${MQTT_EDGE_CLOUDFLARE_VERSION:-6.22.1}"
)

# ---- arguments ----------------------------------------------------------------------------
parts="$ALL_PARTS"
explicit=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -ge 2 ] || die "--only needs a list, e.g. --only cli,nodejs"; parts="$2"; explicit=1; shift 2 ;;
    --only=*) parts="${1#--only=}"; explicit=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $1 (use --only $ALL_PARTS)" ;;
  esac
done
IFS=',' read -r -a selected <<<"$parts"
for p in "${selected[@]}"; do
  case ",$ALL_PARTS," in *",$p,"*) ;; *) die "unknown part '$p' (known: $ALL_PARTS)" ;; esac
done
want() { case ",$parts," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---- environment --------------------------------------------------------------------------
command -v go >/dev/null 2>&1 || die "go is not installed (need Go >= 1.25)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed (go.mod and JSON parsing)"
GO_LOCAL="$(go env GOVERSION)"; GO_LOCAL="${GO_LOCAL#go}"; GO_LOCAL="${GO_LOCAL%%[-+ ]*}"
case "$GO_LOCAL" in 1.2[5-9]*|1.[3-9][0-9]*) ;; *) die "Go $GO_LOCAL is too old (need >= 1.25)" ;; esac

CACHE="${MQTT_EDGE_CACHE:-$HOME/.cache/mqtt-edge}"
TC="$CACHE/toolchain"
BIN="$TC/bin"
mkdir -p "$TC/work" "$BIN"

# Never download a Go toolchain (a go.mod asking for a newer Go fails clearly instead);
# -trimpath for reproducible, smaller binaries; GOMODCACHE/GOCACHE stay at their defaults.
export GOTOOLCHAIN=local
export GOFLAGS="-trimpath -buildvcs=false"
export CGO_ENABLED="${CGO_ENABLED:-0}"

# One builder at a time per cache (two checkouts building at once would race).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TC/.lock"
  flock 9
fi

failed=()       # parts that failed
unavailable=()  # parts the proxy does not serve

# ---- helpers ------------------------------------------------------------------------------
# json_field FIELD: first "FIELD": "value" of a `go ... -json` document on stdin.
json_field() { python3 -c 'import json,sys
dec=json.JSONDecoder(); s=sys.stdin.read().strip(); v=None
while s:
    o,i=dec.raw_decode(s); s=s[i:].strip(); v=o.get(sys.argv[1]) if v is None else v
print(v or "")' "$1"; }

# replaces_of GOMOD [local]: the replace directives of a go.mod, one "old [oldver] => new
# [newver]" a line: module->module ones by default, those whose target is a local path with
# `local`.
replaces_of() { python3 - "$1" "${2:-modules}" <<'PY'
import re, sys
text = re.sub(r'//[^\n]*', '', open(sys.argv[1]).read())
want_local = sys.argv[2] == 'local'
lines = []
for m in re.finditer(r'^replace\s*\((.*?)^\)', text, re.S | re.M):
    lines += m.group(1).splitlines()
lines += [l[len('replace'):] for l in text.splitlines() if re.match(r'^replace\s+[^(\s]', l)]
for l in lines:
    l = l.strip()
    if '=>' not in l:
        continue
    rhs = l.split('=>', 1)[1].split()
    is_local = bool(rhs) and rhs[0].startswith(('.', '/'))
    if want_local and is_local:
        print(l)
    elif not want_local and len(rhs) == 2 and not is_local:
        print(l)
PY
}

# write_wrapper DIR NAME REQUIRES REPLACES: a wrapper module requiring REQUIRES ("mod ver" lines).
write_wrapper() {
  local dir="$1" name="$2" requires="$3" replaces="$4"
  rm -rf "$dir"; mkdir -p "$dir"
  {
    printf 'module mqtt-edge.local/toolchain/%s\n\ngo %s\n\nrequire (\n' "$name" "$GO_LOCAL"
    printf '%s\n' "$requires" | sed '/^$/d; s/^/\t/'
    printf ')\n'
    if [ -n "$replaces" ]; then
      printf '\nreplace (\n'; printf '%s\n' "$replaces" | sed '/^$/d; s/^/\t/'; printf ')\n'
    fi
  } >"$dir/go.mod"
}

# go_build DIR PKG OUT LDFLAGS: build PKG (imported by DIR/tools.go) into OUT.
go_build() {
  local dir="$1" pkg="$2" out="$3" ldflags="$4"
  if [ ! -f "$dir/main.go" ]; then
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$dir/tools.go"
  fi
  # -mod=mod lets go fill go.sum (checked against sum.golang.org) for exactly what PKG needs.
  (cd "$dir" && go build -mod=mod -ldflags "-s -w $ldflags" -o "$out" "$pkg") >&2
}

# finish NAME VERSION FILE: move a built binary into its cache dir and mark it complete.
finish() {
  local name="$1" version="$2" file="$3" dest="$TC/$1-$2"
  rm -rf "$dest"; mkdir -p "$dest"
  mv "$file" "$dest/$name"
  printf '%s %s\n' "$name" "$version" >"$dest/.complete"
}

# mod_download MOD@VER: `go mod download -json` output; exits 3 (unavailable) on failure.
mod_download() {
  local out
  if ! out="$(cd "$TC/work" && go mod download -json "$1" 2>&1)"; then
    log "the Go module proxy does not serve $1: $(json_field Error <<<"$out" 2>/dev/null || printf '%s' "$out")"
    exit 3
  fi
  printf '%s\n' "$out"
}

cached() { [ -f "$TC/$1-$2/.complete" ] && [ -x "$TC/$1-$2/$1" ]; }

# run_part PART BINARY VERSION FUNC: cache check, timing, error capture.
run_part() {
  local part="$1" name="$2" version="$3" fn="$4" t0 rc=0
  if cached "$name" "$version"; then
    log "$part cached ($name $version)"
    link_bin "$name" "$version"
    return 0
  fi
  log "building $part ($name $version) ..."
  t0=$(date +%s)
  # errexit is ignored on the left of `||`, so run the part with -e in a plain subshell.
  set +e
  ( set -euo pipefail; "$fn" "$name" "$version" )
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    log "built $part in $(( $(date +%s) - t0 )) s ($(du -h "$TC/$name-$version/$name" | cut -f1))"
    rm -rf "$TC/work/$name-$version"
    link_bin "$name" "$version"
  elif [ "$rc" -eq 3 ]; then
    unavailable+=("$part"); log "$part unavailable after $(( $(date +%s) - t0 )) s (see above)"
  else
    failed+=("$part"); log "FAILED $part after $(( $(date +%s) - t0 )) s (work dir: $TC/work/$name-$version)"
  fi
}

# Hard links, not symlinks: pulumi looks for plugins next to its own (symlink-resolved) path
# first and prints "using pulumi-language-nodejs from $PATH" on every resource for anything it
# had to find on PATH; a hard link makes bin/ the directory pulumi runs from.
link_bin() {
  local name="$1" src="$TC/$1-$2/$1"
  [ "$BIN/$name" -ef "$src" ] && return 0
  rm -f "$BIN/$name.tmp"
  ln "$src" "$BIN/$name.tmp" 2>/dev/null || cp "$src" "$BIN/$name.tmp"
  mv -f "$BIN/$name.tmp" "$BIN/$name"
}

# ---- parts --------------------------------------------------------------------------------
build_cli() {
  local name="$1" version="$2" w="$TC/work/$1-$2" json gomod
  json="$(mod_download "github.com/pulumi/pulumi/pkg/v3@$version")" || exit $?
  gomod="$(json_field GoMod <<<"$json")"
  write_wrapper "$w" cli "github.com/pulumi/pulumi/pkg/v3 $version
github.com/pulumi/pulumi/sdk/v3 $version" "$(replaces_of "$gomod")"
  go_build "$w" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$w/$name" \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
  [ "$("$w/$name" version)" = "$version" ] || { log "pulumi version says $("$w/$name" version)"; exit 1; }
  finish "$name" "$version" "$w/$name"
}

build_nodejs() {
  local name="$1" version="$2" w="$TC/work/$1-$2" json gomod out
  json="$(mod_download "github.com/pulumi/pulumi/sdk/v3@$version")" || exit $?
  gomod="$(json_field GoMod <<<"$json")"
  write_wrapper "$w" nodejs "github.com/pulumi/pulumi/sdk/v3 $version" "$(replaces_of "$gomod")"
  go_build "$w" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs "$w/$name" \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
  # (no grep -q in a pipe: with pipefail its early exit makes the writer die of SIGPIPE)
  out="$("$w/$name" -help 2>&1 || true)"
  grep -q -- '-tracing' <<<"$out" || { log "$name does not start: $out"; exit 1; }
  finish "$name" "$version" "$w/$name"
}

build_cloudflared() {
  local name="$1" version="$2" w="$TC/work/$1-$2" json gomod ts out
  json="$(mod_download "github.com/cloudflare/cloudflared@$CLOUDFLARED_MODVERSION")" || exit $?
  gomod="$(json_field GoMod <<<"$json")"
  write_wrapper "$w" cloudflared "github.com/cloudflare/cloudflared $CLOUDFLARED_MODVERSION" "$(replaces_of "$gomod")"
  # BuildTime: the commit time carried by the pseudo-version (vX.Y.Z-yyyymmddhhmmss-hash).
  ts="$(sed -E 's/.*-([0-9]{14})-[0-9a-f]{12}$/\1/' <<<"$CLOUDFLARED_MODVERSION")"
  ts="${ts:0:4}-${ts:4:2}-${ts:6:2}-${ts:8:4} UTC"
  go_build "$w" github.com/cloudflare/cloudflared/cmd/cloudflared "$w/$name" \
    "-X main.Version=$version -X 'main.BuildTime=$ts'"
  out="$("$w/$name" --version)"
  grep -q -- "$version" <<<"$out" || { log "cloudflared --version says: $out"; exit 1; }
  finish "$name" "$version" "$w/$name"
}

# build_provider NAME VERSION: pulumi-resource-<p> at the commit of npm release tag v<VERSION>.
build_provider() {
  local name="$1" vversion="$2" p="${1#pulumi-resource-}" w="$TC/work/$1-$2"
  local version="${2#v}"
  local major="${version%%.*}" hash modpath modver json dir gomod cmddir localrep
  local wd="$TC/work"
  # 1. The release tag's commit: the repository root has no go.mod, so the proxy serves it as
  #    vX.Y.Z+incompatible, with the tag's commit in .Origin.Hash.
  if ! hash="$(cd "$wd" && go list -m -f '{{with .Origin}}{{.Hash}}{{end}}' \
        "github.com/pulumi/pulumi-$p@v$version+incompatible" 2>"$wd/$p.err")" || [ -z "$hash" ]; then
    log "$p: the proxy does not serve github.com/pulumi/pulumi-$p@v$version+incompatible, so the" \
        "commit of tag v$version is unknown: $(tr '\n' ' ' <"$wd/$p.err" | cut -c1-300)"
    exit 3
  fi
  # 2. The provider module (untagged subdirectory) at that commit -> pseudo-version.
  modpath="github.com/pulumi/pulumi-$p/provider/v$major"
  if ! modver="$(cd "$wd" && go list -m -f '{{.Version}}' "$modpath@$hash" 2>"$wd/$p.err")" || [ -z "$modver" ]; then
    log "$p: tag v$version is commit $hash, but the proxy refuses $modpath@$hash:" \
        "$(tr '\n' ' ' <"$wd/$p.err" | cut -c1-300)"
    exit 3
  fi
  log "$p: $modpath@$modver"
  json="$(mod_download "$modpath@$modver")" || exit $?
  dir="$(json_field Dir <<<"$json")"; gomod="$(json_field GoMod <<<"$json")"
  localrep="$(replaces_of "$gomod" local | grep -v "pulumi-$p/sdk" || true)"
  if [ -n "$localrep" ]; then
    log "$p: $modpath replaces modules with local paths no Go module carries: $(tr '\n' ';' <<<"$localrep")"
    exit 3
  fi
  # 3. Wrapper: the provider's own cmd/pulumi-resource-<p> package files, its committed schema
  #    with the version set (embedded as schema-embed.json), and the version ldflag.
  cmddir="$dir/cmd/pulumi-resource-$p"
  if [ ! -f "$cmddir/main.go" ] || [ ! -f "$cmddir/schema.json" ]; then
    log "$p: no cmd/pulumi-resource-$p/{main.go,schema.json} in $modpath"; exit 1
  fi
  write_wrapper "$w" "$p" "$modpath $modver" "$(replaces_of "$gomod")"
  find "$cmddir" -maxdepth 1 -name '*.go' ! -name '*_test.go' ! -name 'generate.go' -exec cp {} "$w/" \;
  find "$cmddir" -maxdepth 1 -name '*.json' ! -name 'schema.json' -exec cp {} "$w/" \;
  chmod u+w "$w"/*
  python3 - "$cmddir/schema.json" "$w/schema-embed.json" "$version" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["version"] = sys.argv[3]
json.dump(s, open(sys.argv[2], "w"), separators=(",", ":"))
PY
  (cd "$w" && go build -mod=mod -ldflags "-s -w -X $modpath/pkg/version.Version=$version" -o "$w/$name" .) >&2
  verify_provider "$p" "$version" "$w/$name"
  finish "$name" "$vversion" "$w/$name"
}

# verify_provider P VERSION BIN: install BIN with the CLI into a throwaway PULUMI_HOME.
verify_provider() {
  local p="$1" version="$2" bin="$3" cli="$BIN/pulumi" home
  [ -x "$cli" ] || { log "$p: no pulumi CLI in $BIN to verify with; skipping plugin check"; return 0; }
  home="$(mktemp -d)"
  PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$cli" plugin install resource "$p" "$version" --file "$bin" >&2
  PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$cli" plugin ls 2>&1 | grep -E "^$p +resource +$version" >&2 \
    || { rm -rf "$home"; log "$p: plugin does not list after install"; return 1; }
  rm -rf "$home"
}

# ---- main ---------------------------------------------------------------------------------
t_all=$(date +%s)
want cli         && run_part cli         pulumi                 "v$PULUMI_VERSION"          build_cli
want nodejs      && run_part nodejs      pulumi-language-nodejs "v$NODEJS_HOST_SDK_VERSION" build_nodejs
for p in docker random cloudflare; do
  want "$p"      && run_part "$p"        "pulumi-resource-$p"   "v${PROVIDER_VERSION[$p]}"  build_provider
done
want cloudflared && run_part cloudflared cloudflared            "$CLOUDFLARED_VERSION"      build_cloudflared
log "done in $(( $(date +%s) - t_all )) s; binaries in $BIN"

status=0
if [ ${#unavailable[@]} -gt 0 ]; then
  log "not obtainable from the Go module proxy: ${unavailable[*]}"
  # Fatal only for parts the caller named with --only.
  [ "$explicit" -eq 1 ] && status=1
fi
if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]}"
  status=1
fi
# shellcheck disable=SC2016  # $PATH is for the caller's eval to expand
printf 'export PATH="%s:$PATH"\n' "$BIN"
exit "$status"
