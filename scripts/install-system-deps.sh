#!/usr/bin/env bash
# Installs the system packages the test suite needs; idempotent, run first by .ci/run (docs/ci.md).
#   - QEMU 10.0.2 (qemu-system-arm from bookworm-backports): the differential oracle of
#     test/oracle (its allow-list of QEMU deviations is for exactly that version);
#   - chromium (Debian) for browser tests, gcc for benches/tests that compile C;
#   - Linux UAPI headers (linux-libc-dev from trixie-backports and bookworm-backports), fetched with
#     a private apt state and unpacked under .cache/ without changing the system.
# The Debian mirror is read from the apt configuration already present: no host is named here.
# Environment: VSMMU_SKIP_SYSTEM_DEPS=1 skips everything (for machines without root/apt);
# VSMMU_CACHE_DIR overrides the .cache/ folder (used to prove the private-apt part from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."

QEMU_WANT='10.0.2'
CACHE="${VSMMU_CACHE_DIR:-$PWD/.cache}"
SOURCES_FILE='/etc/apt/sources.list.d/debian.sources'
BACKPORTS_FILE='/etc/apt/sources.list.d/vsmmu-bookworm-backports.sources'
KEYRING='/usr/share/keyrings/debian-archive-keyring.gpg'
T0=$SECONDS

log() { printf 'install-system-deps: %s\n' "$*"; }
step_time() { log "$1 done in $((SECONDS - $2)) s"; }

if [[ "${VSMMU_SKIP_SYSTEM_DEPS:-}" == 1 ]]; then
  log 'VSMMU_SKIP_SYSTEM_DEPS=1: skipping'
  exit 0
fi

SUDO=''
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO='sudo'; else
    log 'not root and no sudo: cannot install system packages (the QEMU oracle suite will skip)'
    exit 0
  fi
fi

# The codename of this Debian (bookworm on the project's machines).
CODENAME=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
[[ -n "$CODENAME" ]] || { log 'cannot read VERSION_CODENAME from /etc/os-release'; exit 1; }

# Prints the mirror URI of the stanza (deb822) or line (one-line format) that carries the plain
# `$CODENAME` suite, i.e. the main Debian archive already configured on this machine.
mirror_uri() {
  local uri=''
  if [[ -r "$SOURCES_FILE" ]]; then
    uri=$(awk -v want="$CODENAME" '
      function flush() { if (found && uri != "" && out == "") out = uri; uri = ""; found = 0 }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == want) found = 1 }
      END { flush(); print out }' "$SOURCES_FILE")
  fi
  if [[ -z "$uri" && -r /etc/apt/sources.list ]]; then
    uri=$(awk -v want="$CODENAME" '$1 == "deb" {
      i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i + 1) == want) { print $i; exit } }' /etc/apt/sources.list)
  fi
  printf '%s' "$uri"
}

MIRROR=$(mirror_uri)
[[ -n "$MIRROR" ]] || { log "no apt source for suite '$CODENAME' found in $SOURCES_FILE"; exit 1; }

# apt's progress output goes to a log that is printed only when a step fails.
APT_LOG=$(mktemp)
trap 'rm -f "$APT_LOG"' EXIT
quiet() {
  if ! "$@" >>"$APT_LOG" 2>&1; then
    log "FAILED: $*"
    tail -n 40 "$APT_LOG" >&2
    exit 1
  fi
}
APT_UPDATED=0
apt_update_once() {
  if [[ $APT_UPDATED -eq 0 ]]; then
    quiet $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
}
apt_install() {
  quiet env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

qemu_version() {
  command -v qemu-system-aarch64 >/dev/null || return 0
  qemu-system-aarch64 --version 2>/dev/null | sed -n '1s/^QEMU emulator version \([0-9.]*\).*/\1/p'
}

# ---- QEMU 10.0.2 from <codename>-backports -------------------------------------------------
t=$SECONDS
if [[ "$(qemu_version)" == "$QEMU_WANT" ]]; then
  log "qemu-system-aarch64 $QEMU_WANT already installed"
else
  want_src=$(printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: %s\n' \
    "$MIRROR" "$CODENAME" "$KEYRING")
  if [[ ! -f "$BACKPORTS_FILE" || "$(cat "$BACKPORTS_FILE")" != "$want_src" ]]; then
    printf '%s\n' "$want_src" | $SUDO tee "$BACKPORTS_FILE" >/dev/null
    log "wrote $BACKPORTS_FILE ($CODENAME-backports on the configured mirror)"
  fi
  apt_update_once
  # Prefer the exact 10.0.2 build; take the suite's candidate if the archive has moved on.
  pin=$(apt-cache madison qemu-system-arm | awk -v w="$QEMU_WANT" -v s="$CODENAME-backports" \
    '$3 ~ ("^1:" w "[+]") && index($0, s) { print $3; exit }')
  if [[ -n "$pin" ]]; then
    apt_install -t "$CODENAME-backports" "qemu-system-arm=$pin"
  else
    apt_install -t "$CODENAME-backports" qemu-system-arm
  fi
  got=$(qemu_version)
  if [[ "$got" != "$QEMU_WANT" ]]; then
    log "WARNING: qemu-system-aarch64 reports '${got:-nothing}', not $QEMU_WANT: the oracle suite will skip"
  fi
  step_time 'qemu-system-arm install' "$t"
fi
qemu-system-aarch64 --version | head -1 | sed 's/^/install-system-deps: /'

# ---- chromium and gcc -----------------------------------------------------------------------
t=$SECONDS
need=()
command -v chromium >/dev/null || need+=(chromium fonts-liberation)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
if [[ ${#need[@]} -gt 0 ]]; then
  apt_update_once
  apt_install "${need[@]}"
  step_time "install ${need[*]}" "$t"
else
  log 'chromium and gcc already installed'
fi

# ---- Linux UAPI headers (private apt state, no system change) ----------------------------------
# fetch_headers SUITE: downloads linux-libc-dev from SUITE into $CACHE/apt-SUITE and unpacks it into
# $CACHE/linux-headers-SUITE (usr/include/linux/iommufd.h is what the layout check reads).
fetch_headers() {
  local suite=$1 t=$SECONDS
  local state="$CACHE/apt-$suite" dest="$CACHE/linux-headers-$suite"
  if [[ -f "$dest/.version" && -f "$dest/usr/include/linux/iommufd.h" ]]; then
    log "linux-libc-dev $(cat "$dest/.version") ($suite) already in $dest"
    return 0
  fi
  mkdir -p "$state/etc/preferences.d" "$state/lists/partial" "$state/cache/archives/partial" \
    "$state/debs"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    "$MIRROR" "$suite" "$KEYRING" >"$state/etc/vsmmu.sources"
  local opts=(
    -o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$state/etc"
    -o "Dir::Etc::preferencesparts=$state/etc/preferences.d"
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
    -o "Debug::NoLocking=1" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root"
  )
  quiet apt-get "${opts[@]}" -qq update
  (cd "$state/debs" && rm -f linux-libc-dev_*.deb)
  (cd "$state/debs" && quiet apt-get "${opts[@]}" -qq download "linux-libc-dev/$suite")
  local deb
  deb=$(ls "$state/debs"/linux-libc-dev_*.deb)
  rm -rf "$dest"
  mkdir -p "$dest"
  dpkg-deb -x "$deb" "$dest"
  dpkg-deb -f "$deb" Version >"$dest/.version"
  log "linux-libc-dev $(cat "$dest/.version") ($suite) unpacked in $dest"
  step_time "headers $suite" "$t"
}
fetch_headers trixie-backports
fetch_headers "$CODENAME-backports"
for s in trixie-backports "$CODENAME-backports"; do
  log "UAPI headers ($s): $CACHE/linux-headers-$s/usr/include"
done

log "all done in $((SECONDS - T0)) s"
