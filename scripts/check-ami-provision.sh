#!/usr/bin/env bash
# check-ami-provision.sh: run ami/provision.sh for real in a fresh Debian 13 chroot.
#
# debootstrap --variant=minbase trixie into CHROOT (removed first: every run starts from
# nothing), bind-mounts /proc, /sys, /dev, the host's Rust toolchain and the repo (read-only,
# at /src), and runs `ami/provision.sh --no-instance` inside: Debian's DPDK 24.11, the release
# build, the install, check-config of the shipped configuration and the self-test
# (`mirrorcap --version`, `mirrorcap run` over a net_pcap vdev). Then checks from outside that
# everything the units reference is installed and that each skipped step said so.
# Prints the time of each phase. Mounts are undone on exit; KEEP=1 keeps the chroot.
#
# Usage (root): [CHROOT=/var/tmp/mirrorcap-ami-chroot] [MIRROR=http://...] scripts/check-ami-provision.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROOT=${CHROOT:-/var/tmp/mirrorcap-ami-chroot}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

die() { echo "check-ami-provision: $*" >&2; exit 1; }
log() { echo "==> check-ami-provision: $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || die "debootstrap not installed (scripts/setup.sh installs it)"
HOST_CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
HOST_RUSTUP_HOME=$(rustup show home 2>/dev/null || echo "${RUSTUP_HOME:-$HOME/.rustup}")
[[ -x $HOST_CARGO_HOME/bin/cargo ]] || die "no cargo in $HOST_CARGO_HOME/bin"

MOUNTED=()
cleanup() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" || true
    done
    if [[ ${KEEP:-0} != 1 && ${#MOUNTED[@]} -gt 0 ]]; then rm -rf --one-file-system "$CHROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
bind() { # bind SRC DEST [ro]
    local dest=$CHROOT$2
    mkdir -p "$dest"
    mountpoint -q "$dest" && die "$dest is already mounted (another run?)"
    mount --bind "$1" "$dest"
    MOUNTED+=("$dest")
    if [[ ${3:-} == ro ]]; then mount -o remount,bind,ro "$dest"; fi
}

t0=$SECONDS
awk -v c="$CHROOT" '$2 ~ "^"c {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
rm -rf --one-file-system "$CHROOT"
log "debootstrap --variant=minbase trixie $CHROOT ($MIRROR)"
debootstrap --variant=minbase trixie "$CHROOT" "$MIRROR" >"$CHROOT.debootstrap.log" 2>&1 \
    || { tail -20 "$CHROOT.debootstrap.log" >&2; die "debootstrap failed"; }
t_boot=$((SECONDS - t0))

cp --remove-destination -L /etc/resolv.conf "$CHROOT/etc/resolv.conf"
CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$CHROOT/etc/ssl/certs"
cp -L "$CA" "$CHROOT/etc/ssl/certs/host-ca-bundle.crt"
printf '#!/bin/sh\nexit 101\n' >"$CHROOT/usr/sbin/policy-rc.d" # no daemons start in the chroot
chmod +x "$CHROOT/usr/sbin/policy-rc.d"
bind /proc /proc
bind /sys /sys
bind /dev /dev
bind "$HOST_RUSTUP_HOME" /opt/rustup
bind "$HOST_CARGO_HOME" /opt/cargo
bind "$REPO" /src ro

t1=$SECONDS
log "ami/provision.sh --no-instance inside the chroot"
chroot "$CHROOT" /usr/bin/env -i HOME=/root TERM=dumb \
    PATH=/opt/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUSTUP_HOME=/opt/rustup CARGO_HOME=/opt/cargo ${RUSTUP_TOOLCHAIN:+RUSTUP_TOOLCHAIN=$RUSTUP_TOOLCHAIN} \
    CARGO_HTTP_CAINFO=/etc/ssl/certs/host-ca-bundle.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca-bundle.crt \
    SRC=/src CARGO_TARGET_DIR=/build CARGO_TERM_COLOR=never \
    /bin/bash /src/ami/provision.sh --no-instance 2>&1 | tee "$CHROOT.provision.log"
t_prov=$((SECONDS - t1))

log "checking the result from outside"
for f in /usr/bin/mirrorcap /usr/lib/mirrorcap/mirrorcap-bind.sh /usr/lib/mirrorcap/mirrorcap-tune.sh \
    /usr/lib/mirrorcap/mirrorcap-storage.sh /usr/lib/systemd/system/mirrorcap.service \
    /usr/lib/systemd/system/mirrorcap-bind.service /usr/lib/systemd/system/mirrorcap-tune.service \
    /etc/mirrorcap/mirrorcap.toml /etc/mirrorcap/bind.conf /usr/share/doc/mirrorcap/aws.md; do
    [[ -e $CHROOT$f ]] || die "not installed: $f"
done
chroot "$CHROOT" mirrorcap --version
chroot "$CHROOT" mirrorcap check-config /etc/mirrorcap/mirrorcap.toml >/dev/null
if chroot "$CHROOT" sh -c 'command -v systemd-analyze' >/dev/null; then
    # The installed units, against Debian 13's systemd and the installed files.
    chroot "$CHROOT" /usr/bin/env SYSTEMD_LOG_LEVEL=notice systemd-analyze verify \
        mirrorcap.service mirrorcap-bind.service mirrorcap-tune.service 2>&1 | tee "$CHROOT.verify.log"
    [[ ! -s $CHROOT.verify.log ]] || die "systemd-analyze verify reported problems in the chroot"
    echo "systemd-analyze verify (Debian 13's systemd): the installed units are clean"
fi
grep -q "SKIPPED (--no-instance): mirrorcap-bind.sh" "$CHROOT.provision.log" || die "the skipped bind step was not announced"
grep -q "self-test: 2000 mirrored packets captured through DPDK 24.11" "$CHROOT.provision.log" \
    || die "no successful self-test against DPDK 24.11 in the log"
echo "OK: provisioned in a fresh Debian 13 chroot: debootstrap ${t_boot}s, provision.sh ${t_prov}s, total $((SECONDS - t0))s"
