#!/usr/bin/env bash
# check-dpdk-2411.sh: check that this workspace builds against DPDK 24.11 (Debian 13 "trixie").
#
# Creates a Debian trixie chroot if it is missing (debootstrap, minbase + libdpdk-dev, clang,
# libclang-dev, pkg-config, libpcap-dev, gcc), bind-mounts /proc, /dev, the host's Rust
# toolchain (rustup home + cargo home) and the repo (at /src), prints the DPDK version found
# in the chroot and runs `cargo build --release [--locked]` inside it with
# CARGO_TARGET_DIR=/src/target/trixie. Everything it mounts is unmounted on exit (trap).
# Exits non-zero if the build fails. With RUN_TESTS=1 it also installs tshark and tcpdump in
# the chroot and runs the unit tests and the real-DPDK integration tests there (DPDK 24.11
# runtime, net_pcap vdevs; the third-party corpus bind-mounted from REPO_DIR/../shared): every
# unit and integration test.
#
# Usage (as root):  [RUN_TESTS=1] [CHROOT=/path] [MIRROR=http://...] scripts/check-dpdk-2411.sh [REPO_DIR]
#   CHROOT  chroot location (default /var/tmp/mirrorcap-trixie)
#   MIRROR  Debian mirror for debootstrap (default: first Debian URI in /etc/apt/sources.list*)
#   REPO_DIR  workspace to build (default: the repo holding this script)
set -euo pipefail

CHROOT="${CHROOT:-/var/tmp/mirrorcap-trixie}"
SUITE=trixie
PACKAGES=libdpdk-dev,clang,libclang-dev,pkg-config,libpcap-dev,gcc,libc6-dev,ca-certificates
REPO="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)"

die() { echo "check-dpdk-2411: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot, mount)"
[[ -f $REPO/Cargo.toml ]] || die "no Cargo.toml in $REPO"

# --- Host Rust toolchain -----------------------------------------------------------------
HOST_CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
if command -v rustup >/dev/null 2>&1; then
    HOST_RUSTUP_HOME="$(rustup show home 2>/dev/null || true)"
fi
HOST_RUSTUP_HOME="${HOST_RUSTUP_HOME:-${RUSTUP_HOME:-$HOME/.rustup}}"
[[ -x $HOST_CARGO_HOME/bin/cargo ]] || die "no cargo in $HOST_CARGO_HOME/bin (set CARGO_HOME)"
[[ -d $HOST_RUSTUP_HOME/toolchains ]] || die "no rustup toolchains in $HOST_RUSTUP_HOME (set RUSTUP_HOME)"

# --- Debian mirror from this machine's apt sources ---------------------------------------
find_mirror() {
    local f uri
    # One-line format: "deb [opts] URI suite comp..."; deb822: "URIs: URI ...".
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        while read -r uri; do
            if [[ $uri =~ ^https?://[^[:space:]]+/debian/?$ ]]; then
                echo "${uri%/}"
                return 0
            fi
        done < <(sed -nE -e 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' \
                         -e 's/^[[:space:]]*URIs:[[:space:]]*//p' "$f" | tr ' ' '\n')
    done
    echo http://deb.debian.org/debian
}
MIRROR="${MIRROR:-$(find_mirror)}"

# --- Create the chroot if missing ---------------------------------------------------------
if [[ ! -e $CHROOT/usr/lib/x86_64-linux-gnu/pkgconfig/libdpdk.pc && ! -e $CHROOT/etc/os-release ]]; then
    if [[ -d $CHROOT ]] && [[ -n $(ls -A "$CHROOT") ]]; then
        die "$CHROOT exists, is not empty and is not a finished chroot; remove it and rerun"
    fi
    command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
    log "creating $SUITE chroot at $CHROOT from $MIRROR (a few minutes)"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$CHROOT" "$MIRROR"
fi
[[ -e $CHROOT/debootstrap ]] && die "$CHROOT is a half-finished debootstrap; remove it and rerun"
chroot "$CHROOT" pkg-config --exists libdpdk \
    || die "libdpdk.pc not found in $CHROOT; run: chroot $CHROOT apt-get install -y ${PACKAGES//,/ }"

# So cargo can reach crates.io from inside the chroot: the host's DNS config, and the host's
# CA bundle (it may hold local CAs, e.g. a TLS-inspecting proxy's, that the chroot lacks).
cp --remove-destination -L /etc/resolv.conf "$CHROOT/etc/resolv.conf"
HOST_CA_BUNDLE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
CHROOT_CA=""
if [[ -r $HOST_CA_BUNDLE ]]; then
    cp -L "$HOST_CA_BUNDLE" "$CHROOT/etc/ssl/certs/host-ca-bundle.crt"
    CHROOT_CA=/etc/ssl/certs/host-ca-bundle.crt
fi

# --- Mounts, always undone on exit --------------------------------------------------------
MOUNTED=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local i m
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        m="${MOUNTED[i]}"
        umount "$m" 2>/dev/null || umount -l "$m" || echo "check-dpdk-2411: could not unmount $m" >&2
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

bind() { # bind SRC DEST-inside-chroot
    local dest="$CHROOT$2"
    mkdir -p "$dest"
    if mountpoint -q "$dest"; then
        die "$dest is already a mount point (another run, or a stale mount: umount it first)"
    fi
    mount --bind "$1" "$dest"
    MOUNTED+=("$dest")
}
bind /proc /proc
bind /sys /sys
bind /dev /dev
bind "$HOST_RUSTUP_HOME" /opt/rustup
bind "$HOST_CARGO_HOME" /opt/cargo
bind "$REPO" /src
if [[ ${RUN_TESTS:-0} == 1 && -d $REPO/../shared ]]; then
    bind "$(cd "$REPO/../shared" && pwd)" /shared
fi

# --- Build ------------------------------------------------------------------------------
DPDK_VERSION="$(chroot "$CHROOT" pkg-config --modversion libdpdk)"
echo "DPDK version in $CHROOT: $DPDK_VERSION"
case $DPDK_VERSION in 24.11*) ;; *) echo "warning: expected DPDK 24.11.x" >&2 ;; esac

LOCKED=""
[[ -f $REPO/Cargo.lock ]] && LOCKED="--locked"

CHROOT_ENV=(
    HOME=/root
    PATH=/opt/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    RUSTUP_HOME=/opt/rustup
    CARGO_HOME=/opt/cargo
    CARGO_TARGET_DIR=/src/target/trixie
    TERM="${TERM:-dumb}"
)
[[ -n ${RUSTUP_TOOLCHAIN:-} ]] && CHROOT_ENV+=(RUSTUP_TOOLCHAIN="$RUSTUP_TOOLCHAIN")
[[ -n $CHROOT_CA ]] && CHROOT_ENV+=(CARGO_HTTP_CAINFO="$CHROOT_CA" SSL_CERT_FILE="$CHROOT_CA")

log "cargo build --release $LOCKED in $CHROOT (repo $REPO at /src)"
start=$SECONDS
rc=0
chroot "$CHROOT" /usr/bin/env -i "${CHROOT_ENV[@]}" \
    /bin/bash -c 'cd /src && rustc --version && cargo --version && exec cargo build --release '"$LOCKED" \
    || rc=$?
elapsed=$((SECONDS - start))

if [[ $rc -eq 0 && ${RUN_TESTS:-0} == 1 ]]; then
    log "installing the reference readers in $CHROOT and running the tests against DPDK $DPDK_VERSION"
    chroot "$CHROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive /bin/bash -c \
        'command -v tshark >/dev/null && command -v tcpdump >/dev/null && [ -x /usr/bin/kill ] || { apt-get update -qq && apt-get install -y -qq tshark tcpdump procps >/dev/null; }'
    chroot "$CHROOT" /usr/bin/env -i "${CHROOT_ENV[@]}" \
        /bin/bash -c 'cd /src && exec cargo test --release --no-fail-fast '"$LOCKED"' --lib --tests' \
        || rc=$?
    elapsed=$((SECONDS - start))
fi

if [[ $rc -eq 0 ]]; then
    echo "OK: built against DPDK $DPDK_VERSION in ${elapsed}s (artifacts in $REPO/target/trixie/release)"
else
    echo "FAILED (exit $rc) against DPDK $DPDK_VERSION after ${elapsed}s" >&2
fi
exit "$rc"
