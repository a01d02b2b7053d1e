#!/usr/bin/env bash
# The Pulumi toolchain: the CLI, the Node.js language host, cloudflared and Traefik built from the
# Go module proxy (get.pulumi.com and GitHub are not reachable from our machines), and the
# provider plugins at the versions package.json pins.
#
#   eval "$(bash scripts/toolchain.sh)"                      # all parts
#   eval "$(bash scripts/toolchain.sh --only cli,nodejs)"    # a subset
#
# Parts: cli, nodejs, cloudflared, traefik, pebble, plugins.
# Each binary is cached under <cache>/toolchain/<name>-<version>/ (<cache>: $MQTT_EDGE_CACHE, else
# ${XDG_CACHE_HOME:-~/.cache}/mqtt-edge), so a second run is a no-op. The CLI, the language host,
# cloudflared, Traefik and Pebble are linked into <cache>/toolchain/bin; stdout gets exactly one line,
# `export PATH="<bindir>:$PATH"`; every log line goes to stderr.
#
# plugins: the docker, random and cloudflare resource plugins, at exactly the versions package.json
# pins for their SDKs (@pulumi/docker, @pulumi/random, @pulumi/cloudflare). For each, in order:
#   1. installed at exactly that version (`pulumi plugin ls`): nothing to do;
#   2. MQTT_EDGE_PLUGINS names a folder: installed from the file there (air-gapped machines), the
#      release archive pulumi-resource-NAME-vVERSION-<os>-<arch>.tar.gz or a bare binary
#      pulumi-resource-NAME-vVERSION, with `pulumi plugin install resource NAME VERSION --file`;
#      a checksum file beside them (SHA256SUMS, *.sha256 or the release's *checksums.txt) that
#      lists the file must agree, or the file is refused;
#   3. `pulumi plugin install resource NAME VERSION`, the download a user with internet gets,
#      bounded by MQTT_EDGE_PLUGIN_DOWNLOAD_TIMEOUT seconds (default 20), so an offline machine
#      learns quickly that it failed;
#   4. still missing: one line naming the plugin, its version and both ways to get it.
# They go into $PULUMI_HOME (default ~/.pulumi), where the engine looks for the version each SDK
# asks for; nothing named pulumi-resource-* is put on PATH (a plugin on PATH is used whatever
# version is asked for). Exit status 75 when plugins are all that is missing, so callers can
# report the deploy suites as skipped rather than failed.
#
# Only Go modules are downloaded (go mod download / go build). The small wrapper modules
# (go.mod, tools.go, main.go) are generated here, in the cache's work directory.
#
# What the Go module proxy serves for the CLI (checked 2026-12-06): github.com/pulumi/pulumi/pkg/v3
# and sdk/v3 up to v3.277.0 (v3.278.0 and later answer 403 "This module version is not
# available", as does v3.270.0; `go list -m -versions` lists only some of those it serves), and
# no version of github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3; some
# cloudflared pseudo-versions are refused too (module list queries as well). Hence the pins:
#   - CLI v3.277.0, the newest served; npm @pulumi/pulumi is pinned to 3.276.0, the newest npm
#     release not newer than the CLI (npm has no 3.277.0 on 2026-12-06);
#   - the Node.js language host from sdk/v3 v3.68.0, the last release that kept it inside the
#     sdk/v3 module (later releases moved it into the refused module above); the engine still
#     fills the deprecated RunRequest fields and falls back to GetRequiredPlugins for it.
# shellcheck disable=SC2317  # the build_* functions are called through run_part
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_PARTS="cli,nodejs,cloudflared,traefik,pebble,plugins"

# ---- versions -----------------------------------------------------------------------------
PULUMI_VERSION="${MQTT_EDGE_PULUMI_VERSION:-3.277.0}"        # github.com/pulumi/pulumi/pkg/v3
NODEJS_HOST_SDK_VERSION="${MQTT_EDGE_NODEJS_HOST_SDK_VERSION:-3.68.0}"  # sdk/v3 carrying the host
# cloudflared: release tags (2026.x.y) are not semver, so the proxy only has pseudo-versions.
# This one is `git describe` 2026.7.1-2-g2601f87b, the newest the proxy serves that we found.
CLOUDFLARED_MODVERSION="${MQTT_EDGE_CLOUDFLARED_MODVERSION:-v0.0.0-20260713102814-2601f87b5728}"
CLOUDFLARED_VERSION="${MQTT_EDGE_CLOUDFLARED_VERSION:-2026.7.1-2-g2601f87b}"
# traefik (github.com/traefik/traefik/v3, for the e2e image mqtt-edge-e2e/traefik; linked into
# bin/ like cloudflared, where images.sh takes it from): the newest v3.7 release whose whole
# module graph the proxy serves (checked 2026-12). v3.7.10 to v3.7.13 need module versions it
# refuses with 403 or whose checksums its sum.golang.org mirror lacks (404): the 2026-08
# containous/go-http-auth fork (v3.7.11 and later) and SDKs of lego v5.3/v5.4 DNS providers
# (alidns, esa, edgedns, oraclecloud, ...). v3.7.0, v3.7.7 and v3.7.8 are refused outright.
TRAEFIK_VERSION="${MQTT_EDGE_TRAEFIK_VERSION:-v3.7.9}"
# Pebble, Let's Encrypt's ACME test server, and its DNS stand-in pebble-challtestsrv, for the
# certificate tests (github.com/letsencrypt/pebble/v2, v2.10.3: the newest the proxy serves).
PEBBLE_VERSION="${MQTT_EDGE_PEBBLE_VERSION:-v2.10.3}"
PLUGINS="docker random cloudflare"
PLUGIN_DOWNLOAD_TIMEOUT="${MQTT_EDGE_PLUGIN_DOWNLOAD_TIMEOUT:-20}"
EX_PLUGINS_MISSING=75

# ---- arguments ----------------------------------------------------------------------------
parts="$ALL_PARTS"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) [[ $# -ge 2 ]] || die "--only needs a list, e.g. --only cli,nodejs"; parts="$2"; shift 2 ;;
    --only=*) parts="${1#--only=}"; shift ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $1 (use --only $ALL_PARTS)" ;;
  esac
done
IFS=',' read -r -a selected <<<"$parts"
for p in "${selected[@]}"; do
  case ",$ALL_PARTS," in *",$p,"*) ;; *) die "unknown part '$p' (known: $ALL_PARTS)" ;; esac
done
want() { case ",$parts," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---- environment --------------------------------------------------------------------------
have go || die "go is not installed (need Go >= 1.25)"
have python3 || die "python3 is needed (go.mod and JSON parsing)"
GO_LOCAL="$(go env GOVERSION)"; GO_LOCAL="${GO_LOCAL#go}"; GO_LOCAL="${GO_LOCAL%%[-+ ]*}"
case "$GO_LOCAL" in 1.2[5-9]*|1.[3-9][0-9]*) ;; *) die "Go $GO_LOCAL is too old (need >= 1.25)" ;; esac

TC="$CACHE_ROOT/toolchain"
BIN="$TC/bin"
mkdir -p "$TC/work" "$BIN"

# Never download a Go toolchain (a go.mod asking for a newer Go fails clearly instead);
# -trimpath for reproducible, smaller binaries; GOMODCACHE/GOCACHE stay at their defaults.
export GOTOOLCHAIN=local
export GOFLAGS="-trimpath -buildvcs=false"
export CGO_ENABLED="${CGO_ENABLED:-0}"

# One builder at a time per cache (two checkouts building at once would race).
if have flock; then
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
    if [[ -n $replaces ]]; then
      printf '\nreplace (\n'; printf '%s\n' "$replaces" | sed '/^$/d; s/^/\t/'; printf ')\n'
    fi
  } >"$dir/go.mod"
}

# go_build DIR PKG OUT LDFLAGS: build PKG (imported by DIR/tools.go) into OUT.
go_build() {
  local dir="$1" pkg="$2" out="$3" ldflags="$4"
  if [[ ! -f $dir/main.go ]]; then
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

cached() { [[ -f $TC/$1-$2/.complete && -x $TC/$1-$2/$1 ]]; }

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
  if [[ $rc -eq 0 ]]; then
    log "built $part in $(( $(date +%s) - t0 )) s ($(du -h "$TC/$name-$version/$name" | cut -f1))"
    rm -rf "$TC/work/$name-$version"
    link_bin "$name" "$version"
  elif [[ $rc -eq 3 ]]; then
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
  [[ $BIN/$name -ef $src ]] && return 0
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
  [[ $("$w/$name" version) == "$version" ]] || { log "pulumi version says $("$w/$name" version)"; exit 1; }
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

# The resource plugin Pulumi runs for a Node.js dynamic resource (the tunnel's connection cleanup,
# components/tunnelCleanup.ts): a shell script of the SDK that starts @pulumi/pulumi's dynamic
# provider with node. Pulumi's release archives ship it beside the CLI; here it comes from the
# sdk/v3 module the CLI is built from (nodejs/dist/pulumi-resource-pulumi-nodejs).
build_dynamic() {
  local name="$1" version="$2" w="$TC/work/$1-$2" json dir
  json="$(mod_download "github.com/pulumi/pulumi/sdk/v3@$version")" || exit $?
  dir="$(json_field Dir <<<"$json")"
  mkdir -p "$w"
  cp "$dir/nodejs/dist/$name" "$w/$name"
  chmod 0755 "$w/$name"
  grep -q 'cmd/dynamic-provider' "$w/$name" || { log "$name does not start the dynamic provider"; exit 1; }
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

build_traefik() {
  local name="$1" version="$2" w="$TC/work/$1-$2" json gomod dir info ext="" out refused
  local ldflags="-X github.com/traefik/traefik/v3/pkg/version.Version=${2#v}" codename built
  json="$(mod_download "github.com/traefik/traefik/v3@$version")" || exit $?
  gomod="$(json_field GoMod <<<"$json")"; dir="$(json_field Dir <<<"$json")"
  info="$(json_field Info <<<"$json")"
  # v3.7 replaces github.com/traefik/traefik/dynamic/ext with ./pkg/config/dynamic/ext, a nested
  # module the module zip leaves out. Upstream it holds two empty structs (ext.HTTP, ext.Router:
  # extension points for other builds), so the wrapper brings its own as ./ext.
  out="$(replaces_of "$gomod" local)"
  if [[ -n $out ]]; then
    if [[ $(awk '{print $1}' <<<"$out") != github.com/traefik/traefik/dynamic/ext ]]; then
      log "traefik $version replaces modules with local paths no Go module carries: $(tr '\n' ';' <<<"$out")"
      exit 3
    fi
    ext="github.com/traefik/traefik/dynamic/ext => ./ext"
  fi
  write_wrapper "$w" traefik "github.com/traefik/traefik/v3 $version" "$(replaces_of "$gomod")
$ext"
  if [[ -n $ext ]]; then
    mkdir -p "$w/ext"
    printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo %s\n' "$GO_LOCAL" >"$w/ext/go.mod"
    printf 'package ext\n\n// HTTP extends dynamic.HTTPConfiguration.\ntype HTTP struct{}\n\n// Router extends dynamic.Router.\ntype Router struct{}\n' >"$w/ext/ext.go"
  fi
  # Its exclude directives too (one avoids an ambiguous tencentcloud import); they only count
  # in the main module.
  awk '/^exclude[ \t]*\(/ {b = 1; next} b && /^\)/ {b = 0; next}
       b && NF {print "exclude " $1 " " $2; next} /^exclude[ \t]+[^( \t]/ {print}' "$gomod" >>"$w/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' github.com/traefik/traefik/v3/cmd/traefik >"$w/tools.go"
  # Every package first: module versions the proxy refuses make the part unavailable, not failed.
  out="$(cd "$w" && go list -mod=mod -e -deps -f '{{with .Error}}{{.Err}}{{end}}' \
    github.com/traefik/traefik/v3/cmd/traefik 2>&1)" || true
  refused="$(grep -E '403 Forbidden|404 Not Found|not available' <<<"$out" |
    grep -oE '[A-Za-z0-9._~/-]+@v[0-9][^ :]*: (reading|verifying)' | sed 's/: .*//' | sort -u | tr '\n' ' ' || true)"
  if [[ -n $refused ]]; then
    log "traefik $version needs module versions the proxy does not serve: $refused"
    exit 3
  fi
  # As the release binaries print them: version without the v, the release codename, and as the
  # build date the release commit's time (reproducible).
  codename="$(sed -n 's/^ *CODENAME: *\([A-Za-z0-9_-]*\).*/\1/p' "$dir/.github/workflows/release.yaml" 2>/dev/null | head -n1)"
  [[ -z $codename ]] || ldflags="$ldflags -X github.com/traefik/traefik/v3/pkg/version.Codename=$codename"
  built="$(json_field Time <"$info")"
  [[ -z $built ]] || ldflags="$ldflags -X github.com/traefik/traefik/v3/pkg/version.BuildDate=$built"
  go_build "$w" github.com/traefik/traefik/v3/cmd/traefik "$w/$name" "$ldflags"
  out="$("$w/$name" version 2>&1 || true)"
  grep -Eq "^Version: +${version#v}\$" <<<"$out" || { log "traefik version says: $out"; exit 1; }
  finish "$name" "$version" "$w/$name"
}

# ---- plugins ------------------------------------------------------------------------------
# pinned_version NAME: the exact version package.json pins @pulumi/NAME to.
pinned_version() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"].get("@pulumi/"+sys.argv[2],""))' \
    "$REPO_ROOT/package.json" "$1"
}

# plugin_installed CLI NAME VERSION: `pulumi plugin ls` lists resource plugin NAME at VERSION.
plugin_installed() {
  PULUMI_SKIP_UPDATE_CHECK=true "$1" plugin ls --json 2>/dev/null | python3 -c '
import json, sys
have = json.load(sys.stdin) or []
sys.exit(0 if any(p.get("kind") == "resource" and p.get("name") == sys.argv[1]
                  and p.get("version") == sys.argv[2] for p in have) else 1)' "$2" "$3"
}

# platform: this machine as plugin release archives name it (linux-amd64, darwin-arm64, ...).
platform() {
  local arch
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  printf '%s-%s\n' "$(uname -s | tr '[:upper:]' '[:lower:]')" "$arch"
}

# plugin_file DIR NAME VERSION: the file in DIR to install NAME VERSION from, or nothing: the
# release archive for this machine first, then a bare binary (with or without the v).
plugin_file() {
  local dir="$1" name="$2" version="$3" f
  for f in "pulumi-resource-$name-v$version-$(platform).tar.gz" "pulumi-resource-$name-v$version" \
    "pulumi-resource-$name-$version"; do
    if [[ -f $dir/$f ]]; then printf '%s\n' "$dir/$f"; return 0; fi
  done
  return 0
}

# checksum_ok FILE: true unless a checksum file beside FILE lists it with another sha256.
# Lists nothing: true, with a note in the log.
checksum_ok() {
  local file="$1" dir base sums want got
  dir="$(dirname "$file")"; base="$(basename "$file")"
  want=""
  for sums in "$dir"/SHA256SUMS "$dir"/*.sha256 "$dir"/*checksums.txt; do
    [[ -f $sums ]] || continue
    want="$(awk -v f="$base" '{n = $2; sub(/^\*/, "", n)} n == f {print $1; exit}' "$sums")"
    [[ -z $want ]] || break
  done
  if [[ -z $want ]]; then
    log "plugins: no checksum file in $dir lists $base; installing it unchecked"
    return 0
  fi
  got="$(sha256sum "$file" | cut -d' ' -f1)"
  [[ $got == "$want" ]] && return 0
  log "plugins: $file has sha256 $got, but $sums says $want: not installed"
  return 1
}

# install_plugins: the resource plugins for the SDK versions package.json pins (see the header).
# Returns EX_PLUGINS_MISSING when any is still missing, after one line per missing plugin.
install_plugins() {
  local cli="$BIN/pulumi" p version file missing=() out
  [[ -x $cli ]] || cli="$(command -v pulumi || true)"
  for p in $PLUGINS; do
    version="$(pinned_version "$p")"
    [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { log "plugins: package.json must pin @pulumi/$p to an exact version (has '$version')"; return 1; }
    if [[ -z $cli ]]; then missing+=("$p $version"); continue; fi
    if plugin_installed "$cli" "$p" "$version"; then
      log "plugin $p $version: installed"
      continue
    fi
    if [[ -n ${MQTT_EDGE_PLUGINS:-} ]]; then
      file="$(plugin_file "$MQTT_EDGE_PLUGINS" "$p" "$version")"
      if [[ -z $file ]]; then
        log "plugins: MQTT_EDGE_PLUGINS=$MQTT_EDGE_PLUGINS has no pulumi-resource-$p-v$version-$(platform).tar.gz nor pulumi-resource-$p-v${version}"
      elif checksum_ok "$file"; then
        if PULUMI_SKIP_UPDATE_CHECK=true "$cli" plugin install resource "$p" "$version" --file "$file" --reinstall >&2; then
          log "plugin $p $version: installed from $file"
          continue
        fi
        log "plugins: installing $p $version from $file failed (above)"
      fi
    fi
    log "plugin $p $version: downloading (at most ${PLUGIN_DOWNLOAD_TIMEOUT} s)"
    if out="$(PULUMI_SKIP_UPDATE_CHECK=true timeout "$PLUGIN_DOWNLOAD_TIMEOUT" \
        "$cli" plugin install resource "$p" "$version" 2>&1)" && plugin_installed "$cli" "$p" "$version"; then
      log "plugin $p $version: downloaded and installed"
      continue
    fi
    log "plugin $p $version: the download failed: $(tail -n 1 <<<"${out:-timed out after ${PLUGIN_DOWNLOAD_TIMEOUT} s}")"
    missing+=("$p $version")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ -n $cli ]] || log "plugins: no pulumi CLI in $BIN or on PATH (build the cli part first)"
  for p in "${missing[@]}"; do
    read -r p version <<<"$p"
    log "MISSING provider plugin $p $version: with internet, \`pulumi plugin install resource $p $version\`; air-gapped, put pulumi-resource-$p-v$version-$(platform).tar.gz (or the binary pulumi-resource-$p-v$version) in a folder and set MQTT_EDGE_PLUGINS=<folder>, or run \`pulumi plugin install resource $p $version --file <file>\`"
  done
  return "$EX_PLUGINS_MISSING"
}

build_pebble() {
  local name="$1" version="$2" w="$TC/work/$1-$2"
  mod_download "github.com/letsencrypt/pebble/v2@$version" >/dev/null || exit $?
  write_wrapper "$w" "$name" "github.com/letsencrypt/pebble/v2 $version" ""
  go_build "$w" "github.com/letsencrypt/pebble/v2/cmd/$name" "$w/$name" ""
  "$w/$name" -h 2>&1 | grep -q -- '-dnsserver' || { log "$name does not start"; exit 1; }
  finish "$name" "$version" "$w/$name"
}

# ---- main ---------------------------------------------------------------------------------
t_all=$(date +%s)
want cli         && run_part cli         pulumi                 "v$PULUMI_VERSION"          build_cli
want nodejs      && run_part nodejs      pulumi-language-nodejs "v$NODEJS_HOST_SDK_VERSION" build_nodejs
want nodejs      && run_part nodejs      pulumi-resource-pulumi-nodejs "v$PULUMI_VERSION"   build_dynamic
want cloudflared && run_part cloudflared cloudflared            "$CLOUDFLARED_VERSION"      build_cloudflared
want traefik     && run_part traefik     traefik                "$TRAEFIK_VERSION"          build_traefik
want pebble      && run_part pebble      pebble                 "$PEBBLE_VERSION"           build_pebble
want pebble      && run_part pebble      pebble-challtestsrv    "$PEBBLE_VERSION"           build_pebble
plugins_missing=0
if want plugins; then
  # Plugins from earlier versions of this script sat on PATH; a plugin on PATH wins over the
  # installed one whatever version is asked for, so none may stay there (but the dynamic
  # provider's script of the nodejs part, which is not a provider plugin of a package).
  for f in "$BIN"/pulumi-resource-*; do
    [[ $f == "$BIN/pulumi-resource-pulumi-nodejs" ]] || rm -f "$f"
  done
  set +e; install_plugins; rc=$?; set -e
  if [[ $rc -eq $EX_PLUGINS_MISSING ]]; then plugins_missing=1
  elif [[ $rc -ne 0 ]]; then failed+=(plugins); fi
fi
log "done in $(( $(date +%s) - t_all )) s; binaries in $BIN"

status=0
if [[ ${#unavailable[@]} -gt 0 ]]; then
  log "not obtainable from the Go module proxy: ${unavailable[*]}"
  status=1
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  log "failed: ${failed[*]}"
  status=1
fi
[[ $status -ne 0 || $plugins_missing -eq 0 ]] || status=$EX_PLUGINS_MISSING
# shellcheck disable=SC2016  # $PATH is for the caller's eval to expand
printf 'export PATH="%s:$PATH"\n' "$BIN"
exit "$status"
