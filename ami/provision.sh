#!/usr/bin/env bash
# provision.sh: turn a Debian 13 machine into a mirrorcap appliance (Packer's one provisioner).
#
# Installs DPDK 24.11 from Debian and the build dependencies, builds the release binary from
# the source tree (SRC), installs it, the scripts, the systemd units and the configuration,
# enables the units, and ends with a self-test: `mirrorcap --version` and a `mirrorcap run`
# over a net_pcap vdev fed by `mirrorcap gen` (no NIC needed).
# Hugepages and isolated cores are set at each boot by mirrorcap-tune.service (from the
# instance type's vCPUs and CPU flags), the data ENI bound by mirrorcap-bind.service.
#
# Usage (root):  [SRC=/tmp/mirrorcap-src] ami/provision.sh [--no-instance]
#   --no-instance (or MIRRORCAP_NO_INSTANCE=1): not on an EC2 instance (a chroot in CI): the
#     steps that need a booted instance are skipped, each saying so.
#   SRC             the source tree (default: the repo holding this script)
#   CARGO_TARGET_DIR  where to build (default SRC/target)
#   RUST_TOOLCHAIN  installed with rustup when no cargo >= the crate's rust-version is on PATH
#                   (Debian 13's rustc 1.85 is older than mirrorcap's MSRV)
#   KEEP_TOOLCHAIN=1  keep Rust and the build tree (default: removed, to keep the AMI small)
set -euo pipefail

NO_INSTANCE=${MIRRORCAP_NO_INSTANCE:-0}
for a in "$@"; do
    case $a in
    --no-instance) NO_INSTANCE=1 ;;
    *)
        echo "usage: $0 [--no-instance]" >&2
        exit 2
        ;;
    esac
done
SRC=${SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$SRC/target}
export DEBIAN_FRONTEND=noninteractive

step() { echo "==> provision: $*" >&2; }
skip() { echo "==> provision: SKIPPED (--no-instance): $*" >&2; }
die() {
    echo "provision: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -f $SRC/Cargo.toml ]] || die "no Cargo.toml in SRC=$SRC"
# shellcheck disable=SC1091
. /etc/os-release
[[ ${VERSION_CODENAME:-} == trixie ]] || echo "provision: warning: expected Debian 13 (trixie), found ${PRETTY_NAME:-?}" >&2

# --- Packages -------------------------------------------------------------------------------
step "packages: DPDK from Debian, build dependencies, tools"
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    dpdk libdpdk-dev build-essential pkg-config clang libclang-dev libpcap-dev \
    ca-certificates curl xfsprogs pciutils kmod iproute2 procps >/dev/null
DPDK_VERSION=$(pkg-config --modversion libdpdk)
step "DPDK $DPDK_VERSION"
case $DPDK_VERSION in 24.11*) ;; *) echo "provision: warning: expected DPDK 24.11, got $DPDK_VERSION" >&2 ;; esac
# The aws CLI is only needed to find the data ENI by tag (DATA_ENI_TAG).
apt-get install -y -qq --no-install-recommends awscli >/dev/null 2>&1 \
    || echo "provision: awscli not installable: DATA_ENI_TAG will not work (MAC and device index do)" >&2

if [[ $NO_INSTANCE == 1 ]]; then
    skip "kernel modules check (uio_pci_generic / vfio-pci in the running kernel)"
else
    step "kernel modules for the data ENI"
    if ! modinfo uio_pci_generic >/dev/null 2>&1 && ! modinfo vfio-pci >/dev/null 2>&1; then
        step "the running kernel has neither uio_pci_generic nor vfio-pci: installing linux-image-amd64"
        apt-get install -y -qq linux-image-amd64 >/dev/null
    fi
fi

# --- Rust toolchain -------------------------------------------------------------------------
MSRV=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$SRC/Cargo.toml" | head -1)
rust_ok() {
    command -v cargo >/dev/null 2>&1 || return 1
    local v
    v=$(rustc --version | awk '{print $2}')
    [[ $(printf '%s\n%s\n' "$MSRV" "$v" | sort -V | head -1) == "$MSRV" ]]
}
INSTALLED_RUSTUP=0
if rust_ok; then
    step "Rust: $(rustc --version) (>= $MSRV) already on PATH"
else
    step "Rust: installing ${RUST_TOOLCHAIN:-stable} with rustup (need >= $MSRV)"
    export RUSTUP_HOME=/opt/rustup CARGO_HOME=/opt/cargo
    curl -fsSL https://sh.rustup.rs | sh -s -- -y -q --profile minimal \
        --default-toolchain "${RUST_TOOLCHAIN:-stable}" --no-modify-path
    export PATH=/opt/cargo/bin:$PATH
    INSTALLED_RUSTUP=1
    rust_ok || die "rustc $(rustc --version) is older than $MSRV"
fi

# --- Build ----------------------------------------------------------------------------------
step "cargo build --release --locked (target $CARGO_TARGET_DIR)"
start=$SECONDS
(cd "$SRC" && cargo build --release --locked --bin mirrorcap)
step "built in $((SECONDS - start))s"

# --- Install --------------------------------------------------------------------------------
step "install: binary, scripts, units, configuration"
install -D -m 0755 "$CARGO_TARGET_DIR/release/mirrorcap" /usr/bin/mirrorcap
for s in mirrorcap-bind.sh mirrorcap-tune.sh mirrorcap-storage.sh mirrorcap-archive.sh; do
    install -D -m 0755 "$SRC/ami/$s" "/usr/lib/mirrorcap/$s"
done
echo "$DPDK_VERSION" >/usr/lib/mirrorcap/dpdk-version
for u in mirrorcap.service mirrorcap-bind.service mirrorcap-tune.service; do
    install -D -m 0644 "$SRC/ami/systemd/$u" "/usr/lib/systemd/system/$u"
done
install -d -m 0755 /etc/mirrorcap /var/lib/mirrorcap/ring /var/lib/mirrorcap/store
# Members of mirrorcap-readers read the ring (ring_group in mirrorcap.toml: directories 0750,
# files 0640 in that group) without root: usermod -aG mirrorcap-readers ANALYST.
getent group mirrorcap-readers >/dev/null || groupadd --system mirrorcap-readers
for c in mirrorcap.toml bind.conf; do
    # An operator's edited file (a re-provisioned instance) is kept.
    [[ -e /etc/mirrorcap/$c ]] || install -m 0644 "$SRC/ami/$c" "/etc/mirrorcap/$c"
done
install -D -m 0644 "$SRC/docs/aws.md" /usr/share/doc/mirrorcap/aws.md
install -d -m 0755 /usr/share/mirrorcap
cp -r "$SRC/ami/monitoring" /usr/share/mirrorcap/
mirrorcap check-config /etc/mirrorcap/mirrorcap.toml >/dev/null \
    || die "/etc/mirrorcap/mirrorcap.toml does not pass mirrorcap check-config"
step "/etc/mirrorcap/mirrorcap.toml passes check-config"

if command -v systemctl >/dev/null 2>&1; then
    # Works offline too (it only writes the wants/ symlinks).
    systemctl enable mirrorcap-tune.service mirrorcap-bind.service mirrorcap.service
    # Debian's dpdk.service binds what /etc/dpdk/interfaces lists; mirrorcap-bind does that here.
    systemctl disable dpdk.service 2>/dev/null || true
else
    skip "systemctl enable (no systemd in this root)"
fi

if [[ $NO_INSTANCE == 1 ]]; then
    skip "mirrorcap-tune.sh apply (grub + reboot: runs at each boot of the instance); it would set: $(/usr/lib/mirrorcap/mirrorcap-tune.sh print)"
    skip "mirrorcap-bind.sh (IMDSv2 and the data ENI: runs at boot of the instance)"
else
    # The image is booted on other instance types; mirrorcap-tune sets the command line there.
    step "kernel arguments for this build instance: $(/usr/lib/mirrorcap/mirrorcap-tune.sh print)"
fi

# --- Self-test: the installed binary against Debian's DPDK, no NIC --------------------------
step "self-test: mirrorcap --version"
mirrorcap --version
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step "self-test: mirrorcap run on a net_pcap vdev"
mirrorcap gen -w "$tmp/mirror.pcap" --count 2000 --vni 100 --vni 200
mirrorcap run --config /etc/mirrorcap/mirrorcap.toml --vdev "net_pcap0,rx_pcap=$tmp/mirror.pcap" \
    --workers 1 --ring-dir "$tmp/ring" --segment-size 8MiB --segments 2 \
    --metrics-addr 127.0.0.1:0 --exit-when-idle 2s 2>&1 | tee "$tmp/run.log"
grep -q "captured 2000 " "$tmp/run.log" \
    || die "self-test: expected 2000 captured packets (log above)"
step "self-test: 2000 mirrored packets captured through DPDK $DPDK_VERSION"
[[ $(stat -c '%G %a' "$tmp/ring/worker-00/seg-000.pcap") == "mirrorcap-readers 640" ]] \
    || die "self-test: the ring's files are not mode 0640 in group mirrorcap-readers"
step "self-test: the ring belongs to group mirrorcap-readers"

# --- Slim the image -------------------------------------------------------------------------
if [[ ${KEEP_TOOLCHAIN:-0} == 1 || $NO_INSTANCE == 1 ]]; then
    step "keeping the Rust toolchain and the build tree"
else
    step "removing the build tree and the Rust toolchain"
    rm -rf "$CARGO_TARGET_DIR"
    [[ $INSTALLED_RUSTUP == 0 ]] || rm -rf /opt/rustup /opt/cargo
    apt-get clean
fi
step "done: mirrorcap $(mirrorcap --version | awk '{print $2}') with DPDK $DPDK_VERSION"
