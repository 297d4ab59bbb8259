#!/usr/bin/env bash
# mirrorcap-bind.sh: give the data ENI to DPDK, leave the primary ENI (SSH, metrics) alone.
#
#   mirrorcap-bind.sh [bind]      find the data ENI, take it from the kernel, bind it to the
#                                 chosen driver, write $RUN_DIR/data-eni.env for mirrorcap.service
#   mirrorcap-bind.sh decide      print the decision (ENI, PCI address, driver, WC) and change nothing
#   mirrorcap-bind.sh check-wc    after mirrorcap has started: is the ENA LLQ BAR mapped
#                                 write-combining? Warns (exit 0) if not: LLQ then runs slowly.
#
# Which ENI (from /etc/mirrorcap/bind.conf, KEY=VALUE lines, or the environment):
#   DATA_ENI_MAC=0a:..            this MAC, else
#   DATA_ENI_TAG=Key=Value        the ENI attached to this instance carrying that tag (aws CLI,
#                                 needs ec2:DescribeNetworkInterfaces), else
#   DATA_ENI_DEVICE_INDEX=1       the ENI at this device index (default 1).
# The ENI is found through IMDSv2 (token PUT, then GETs). Device index 0 or the instance's
# primary MAC is refused: that is the management ENI.
#
# Which driver: DRIVER=auto (default) | uio_pci_generic | vfio-pci.
#   auto: uio_pci_generic when DPDK >= 24.03 and the module exists: uio_pci_generic has no
#   MSI-X, and 24.03 gave the ENA PMD a control-path polling mode (devarg
#   control_path_poll_interval, which mirrorcap passes) that services the admin queue and the
#   keep-alives without interrupts; DPDK's EAL maps the LLQ BAR write-combining through sysfs
#   resourceN_wc with uio_pci_generic (in 22.11 too). Else vfio-pci, with interrupts, in
#   no-IOMMU mode when the instance has no IOMMU (write-combining then needs AWS's patched
#   vfio-pci: amzn-drivers).
#
# Every outside dependency can be pointed elsewhere (the tests use a fake tree):
#   MIRRORCAP_SYSFS (/sys)  MIRRORCAP_IMDS (http://169.254.169.254)  MIRRORCAP_RUN_DIR (/run/mirrorcap)
#   MIRRORCAP_CONF (/etc/mirrorcap/bind.conf)  MIRRORCAP_DPDK_VERSION (else pkg-config or
#   /usr/lib/mirrorcap/dpdk-version)  MIRRORCAP_NPROC (else nproc)  MIRRORCAP_MAX_QUEUES (8)
#   MIRRORCAP_MODPROBE (modprobe)  MIRRORCAP_MODINFO (modinfo)  MIRRORCAP_IP (ip)  MIRRORCAP_AWS (aws)
#   MIRRORCAP_VERIFY_BIND=0       do not re-read the driver link after binding (a fake sysfs
#                                 has no kernel to move it)
set -euo pipefail

SYSFS=${MIRRORCAP_SYSFS:-/sys}
IMDS=${MIRRORCAP_IMDS:-http://169.254.169.254}
RUN_DIR=${MIRRORCAP_RUN_DIR:-/run/mirrorcap}
CONF=${MIRRORCAP_CONF:-/etc/mirrorcap/bind.conf}
MODPROBE=${MIRRORCAP_MODPROBE:-modprobe}
MODINFO=${MIRRORCAP_MODINFO:-modinfo}
IP=${MIRRORCAP_IP:-ip}
AWS=${MIRRORCAP_AWS:-aws}
MAX_QUEUES=${MIRRORCAP_MAX_QUEUES:-8}

log() { echo "mirrorcap-bind: $*" >&2; }
warn() { echo "mirrorcap-bind: WARNING: $*" >&2; }
die() {
    echo "mirrorcap-bind: $*" >&2
    exit 1
}

if [[ -r $CONF ]]; then
    # KEY=VALUE lines only; the environment wins over the file.
    while IFS='=' read -r key value; do
        [[ $key =~ ^(DATA_ENI_MAC|DATA_ENI_TAG|DATA_ENI_DEVICE_INDEX|DRIVER)$ ]] || continue
        [[ -n ${!key:-} ]] || printf -v "$key" '%s' "$value"
    done < <(grep -E '^[A-Z_]+=' "$CONF")
fi
DATA_ENI_DEVICE_INDEX=${DATA_ENI_DEVICE_INDEX:-1}
DRIVER=${DRIVER:-auto}

# --- IMDSv2 -------------------------------------------------------------------------------
TOKEN=""
imds_token() { # once, in the main shell: imds runs in $(...) subshells that cannot set it
    TOKEN=$(curl -fsS -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
        "$IMDS/latest/api/token") || die "IMDSv2: no token from $IMDS (is the metadata service enabled?)"
}
imds() { # imds PATH -> body
    curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $TOKEN" "$IMDS/latest/meta-data/$1"
}

# --- Which ENI ----------------------------------------------------------------------------
choose_mac() {
    local primary macs mac idx
    imds_token
    primary=$(imds mac) || die "IMDS: cannot read the primary MAC"
    macs=$(imds network/interfaces/macs/) || die "IMDS: cannot list the ENIs"
    if [[ -n ${DATA_ENI_MAC:-} ]]; then
        mac=${DATA_ENI_MAC,,}
        grep -qx "$mac/\?" <<<"$macs" || die "DATA_ENI_MAC=$mac is not attached to this instance (IMDS lists: $(tr '\n' ' ' <<<"$macs"))"
        WHY="DATA_ENI_MAC"
    elif [[ -n ${DATA_ENI_TAG:-} ]]; then
        local key=${DATA_ENI_TAG%%=*} value=${DATA_ENI_TAG#*=} instance region
        instance=$(imds instance-id) || die "IMDS: no instance-id"
        region=$(imds placement/region) || die "IMDS: no region"
        mac=$("$AWS" ec2 describe-network-interfaces --region "$region" \
            --filters "Name=attachment.instance-id,Values=$instance" "Name=tag:$key,Values=$value" \
            --query 'NetworkInterfaces[].MacAddress' --output text) \
            || die "aws ec2 describe-network-interfaces failed (does the instance role allow ec2:DescribeNetworkInterfaces?)"
        mac=${mac,,}
        [[ $mac =~ ^[0-9a-f:]{17}$ ]] || die "DATA_ENI_TAG=$DATA_ENI_TAG: expected one attached ENI with that tag, got '${mac}'"
        WHY="DATA_ENI_TAG=$DATA_ENI_TAG"
    else
        mac=""
        for m in $macs; do
            m=${m%/}
            idx=$(imds "network/interfaces/macs/$m/device-number") || continue
            if [[ $idx == "$DATA_ENI_DEVICE_INDEX" ]]; then
                mac=$m
                break
            fi
        done
        [[ -n $mac ]] || die "no ENI at device index $DATA_ENI_DEVICE_INDEX (attach the data ENI, or set DATA_ENI_MAC in $CONF)"
        WHY="device index $DATA_ENI_DEVICE_INDEX"
    fi
    [[ $mac != "${primary,,}" ]] || die "refusing: $mac is the primary (management) ENI"
    idx=$(imds "network/interfaces/macs/$mac/device-number") || idx="?"
    [[ $idx != 0 ]] || die "refusing: $mac is at device index 0 (the management ENI)"
    ENI_ID=$(imds "network/interfaces/macs/$mac/interface-id" || echo unknown)
    MAC=$mac
    DEVICE_INDEX=$idx
}

# --- Where it is on the PCI bus -----------------------------------------------------------
# Prints "BDF IFACE DRIVER" for the MAC: from the kernel's netdev when it still has one, else
# from the state a previous run left (the ENI is already bound, e.g. a service restart).
locate() {
    local n dev
    for n in "$SYSFS"/class/net/*; do
        [[ -r $n/address && -e $n/device ]] || continue
        if [[ $(<"$n/address") == "$MAC" ]]; then
            dev=$(readlink -f "$n/device")
            echo "${dev##*/} ${n##*/} $(current_driver "${dev##*/}")"
            return 0
        fi
    done
    if [[ -r $RUN_DIR/data-eni.env ]] && grep -q "^MIRRORCAP_DATA_MAC=$MAC$" "$RUN_DIR/data-eni.env"; then
        local bdf
        bdf=$(sed -n 's/^MIRRORCAP_DATA_PCI=//p' "$RUN_DIR/data-eni.env")
        [[ -e $SYSFS/bus/pci/devices/$bdf ]] && { echo "$bdf - $(current_driver "$bdf")"; return 0; }
    fi
    return 1
}

current_driver() {
    local l=$SYSFS/bus/pci/devices/$1/driver
    if [[ -e $l ]]; then basename "$(readlink -f "$l")"; else echo none; fi
}

# --- Which driver -------------------------------------------------------------------------
dpdk_version() {
    if [[ -n ${MIRRORCAP_DPDK_VERSION:-} ]]; then
        echo "$MIRRORCAP_DPDK_VERSION"
    elif [[ -r /usr/lib/mirrorcap/dpdk-version ]]; then
        cat /usr/lib/mirrorcap/dpdk-version
    else
        pkg-config --modversion libdpdk 2>/dev/null || echo 0
    fi
}

version_ge() { # version_ge A B: A >= B (dotted)
    [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1) == "$2" ]]
}

has_iommu() { [[ -n $(ls -A "$SYSFS/kernel/iommu_groups" 2>/dev/null) ]]; }

choose_driver() { # choose_driver BDF -> sets DRV, DRV_WHY, WC_EXPECTED
    local bdf=$1 ver
    ver=$(dpdk_version)
    local wc_file=no
    [[ -e $SYSFS/bus/pci/devices/$bdf/resource2_wc ]] && wc_file=yes
    case $DRIVER in
    uio_pci_generic | vfio-pci) DRV=$DRIVER DRV_WHY="DRIVER=$DRIVER in $CONF" ;;
    auto)
        if version_ge "$ver" 24.03 && "$MODINFO" uio_pci_generic >/dev/null 2>&1; then
            DRV=uio_pci_generic DRV_WHY="DPDK $ver >= 24.03 polls the ENA control path without interrupts; the LLQ BAR is mapped write-combining through resource2_wc"
        elif "$MODINFO" vfio-pci >/dev/null 2>&1; then
            DRV=vfio-pci DRV_WHY="DPDK $ver < 24.03 or no uio_pci_generic"
        else
            die "neither uio_pci_generic nor vfio-pci is available (linux-modules-extra?)"
        fi
        ;;
    *) die "DRIVER=$DRIVER: expected auto, uio_pci_generic or vfio-pci" ;;
    esac
    NOIOMMU=0
    if [[ $DRV == vfio-pci ]] && ! has_iommu; then NOIOMMU=1; fi
    if [[ $DRV == uio_pci_generic ]]; then
        if ! version_ge "$ver" 24.03; then
            warn "uio_pci_generic with DPDK $ver < 24.03: its ENA PMD has no control-path polling and uio_pci_generic no MSI-X, so the admin queue and keep-alives fail: mirrorcap refuses this device; use DRIVER=vfio-pci"
            WC_EXPECTED=no
        elif [[ $wc_file == no ]]; then
            warn "$bdf has no resource2_wc: the kernel cannot map BAR 2 write-combining; expect low throughput"
            WC_EXPECTED=no
        else
            WC_EXPECTED=yes
        fi
    else
        # Stock vfio-pci maps BARs uncached; AWS's patched module (amzn-drivers enav2-vfio-patch)
        # maps the LLQ BAR write-combining. Only check-wc, once mirrorcap runs, can tell.
        WC_EXPECTED=unknown
    fi
}

workers_and_lcores() { # sets WORKERS, LCORES: core 0 for the system, one worker per other vCPU
    local n=${MIRRORCAP_NPROC:-$(nproc --all)} i
    WORKERS=$((n - 1))
    ((WORKERS >= 1)) || WORKERS=1
    ((WORKERS <= MAX_QUEUES)) || WORKERS=$MAX_QUEUES
    LCORES="0@0"
    for ((i = 1; i <= WORKERS; i++)); do LCORES+=",$i@$(((i) % n))"; done
}

decide() {
    choose_mac
    local where
    where=$(locate) || die "no PCI device for $MAC (ENI $ENI_ID): is it attached, and is the ena module loaded?"
    read -r BDF IFACE CUR <<<"$where"
    choose_driver "$BDF"
    workers_and_lcores
    echo "data ENI $ENI_ID mac $MAC (by $WHY, device index $DEVICE_INDEX) at PCI $BDF, interface $IFACE, driver now $CUR"
    echo "driver $DRV ($DRV_WHY)$([[ $NOIOMMU == 1 ]] && echo ', no-IOMMU mode: the instance has no IOMMU')"
    echo "write-combining expected: $WC_EXPECTED"
    echo "workers $WORKERS, lcores $LCORES"
}

write_state() {
    mkdir -p "$RUN_DIR"
    cat >"$RUN_DIR/data-eni.env.tmp" <<EOF
MIRRORCAP_DATA_ENI=$ENI_ID
MIRRORCAP_DATA_MAC=$MAC
MIRRORCAP_DATA_PCI=$BDF
MIRRORCAP_DATA_DRIVER=$DRV
MIRRORCAP_WC_EXPECTED=$WC_EXPECTED
MIRRORCAP_WORKERS=$WORKERS
MIRRORCAP_LCORES=$LCORES
EOF
    mv "$RUN_DIR/data-eni.env.tmp" "$RUN_DIR/data-eni.env"
}

do_bind() {
    decide
    local dev=$SYSFS/bus/pci/devices/$BDF
    if [[ $CUR == "$DRV" ]]; then
        log "$BDF already bound to $DRV"
    else
        [[ $CUR == none || $CUR == ena ]] || die "$BDF is bound to $CUR, not ena: refusing to take it"
        if [[ $IFACE != - ]]; then "$IP" link set dev "$IFACE" down || warn "could not set $IFACE down"; fi
        case $DRV in
        vfio-pci)
            if [[ $NOIOMMU == 1 ]]; then
                "$MODPROBE" vfio enable_unsafe_noiommu_mode=1 || die "modprobe vfio failed"
                [[ ! -w $SYSFS/module/vfio/parameters/enable_unsafe_noiommu_mode ]] \
                    || echo 1 >"$SYSFS/module/vfio/parameters/enable_unsafe_noiommu_mode"
            fi
            "$MODPROBE" vfio-pci || die "modprobe vfio-pci failed"
            ;;
        uio_pci_generic) "$MODPROBE" uio_pci_generic || die "modprobe uio_pci_generic failed" ;;
        esac
        echo "$DRV" >"$dev/driver_override"
        if [[ -e $dev/driver ]]; then echo "$BDF" >"$dev/driver/unbind"; fi
        echo "$BDF" >"$SYSFS/bus/pci/drivers/$DRV/bind"
        if [[ ${MIRRORCAP_VERIFY_BIND:-1} != 0 ]]; then
            [[ $(current_driver "$BDF") == "$DRV" ]] || die "binding $BDF to $DRV failed (driver is now $(current_driver "$BDF"); see dmesg)"
        fi
        log "bound $BDF ($IFACE, ENI $ENI_ID) to $DRV"
    fi
    write_state
    log "wrote $RUN_DIR/data-eni.env"
}

check_wc() {
    [[ -r $RUN_DIR/data-eni.env ]] || die "no $RUN_DIR/data-eni.env: run mirrorcap-bind first"
    local bdf start pat
    bdf=$(sed -n 's/^MIRRORCAP_DATA_PCI=//p' "$RUN_DIR/data-eni.env")
    # The third line of `resource` is BAR 2, ENA's LLQ memory BAR: "start end flags".
    start=$(sed -n 3p "$SYSFS/bus/pci/devices/$bdf/resource" | awk '{print $1}')
    [[ -n $start && $((start)) -ne 0 ]] || { warn "$bdf has no BAR 2: LLQ unavailable, the ENA PMD falls back to host-memory queues"; return 0; }
    pat=$SYSFS/kernel/debug/x86/pat_memtype_list
    if [[ ! -r $pat ]]; then
        warn "cannot read $pat (debugfs not mounted?): write-combining not verified"
        return 0
    fi
    start=$(printf '0x%016x' "$((start))")
    # Linux >= 5.6: "PAT: [mem 0x...-0x...] write-combining"; older: "write-combining @ 0x...-0x...".
    local line a found=0
    while read -r line; do
        [[ $line == *write-combining* && $line =~ (0x[0-9a-fA-F]+)- ]] || continue
        a=${BASH_REMATCH[1]}
        if (( a == start )); then found=1; fi
    done <"$pat"
    if (( found )); then
        echo "write-combining active on $bdf BAR 2 ($start)"
    else
        warn "write-combining NOT active on $bdf BAR 2 ($start): ENA LLQ runs uncached and slowly; use uio_pci_generic with DPDK >= 24.03 or AWS's patched vfio-pci (docs/aws.md)"
    fi
}

case ${1:-bind} in
bind) do_bind ;;
decide) decide ;;
check-wc) check_wc ;;
*) die "usage: $0 [bind|decide|check-wc]" ;;
esac
