#!/usr/bin/env bash
# mirrorcap-tune.sh: the kernel command line for this instance type, computed at boot.
#
#   mirrorcap-tune.sh print   the arguments this instance should boot with
#   mirrorcap-tune.sh apply   write them to /etc/default/grub.d/50-mirrorcap.cfg, update-grub,
#                             and reboot once if the running kernel lacks them (an AMI launched
#                             on another instance type re-tunes itself on first boot)
#
# Hugepages: 1 GiB pages when the CPU has pdpe1gb, else 2 MiB pages; 1 GiB per worker plus
# 1 GiB, at most half of RAM. Cores: core 0 stays with the system (IRQs, the management ENI,
# mirrorcap's control lcore); cores 1..N-1 are isolated for the workers
# (isolcpus, nohz_full, rcu_nocbs, irqaffinity=0). One vCPU: nothing to isolate.
# Until the reboot, 2 MiB pages are reserved at run time so mirrorcap can start anyway.
#
# Overrides (tests): MIRRORCAP_PROC (/proc), MIRRORCAP_SYSFS (/sys), MIRRORCAP_NPROC (nproc),
#   MIRRORCAP_GRUB_D (/etc/default/grub.d), MIRRORCAP_STATE (/var/lib/mirrorcap),
#   MIRRORCAP_UPDATE_GRUB (update-grub), MIRRORCAP_REBOOT (systemctl reboot)
set -euo pipefail

PROC=${MIRRORCAP_PROC:-/proc}
SYSFS=${MIRRORCAP_SYSFS:-/sys}
GRUB_D=${MIRRORCAP_GRUB_D:-/etc/default/grub.d}
STATE=${MIRRORCAP_STATE:-/var/lib/mirrorcap}
UPDATE_GRUB=${MIRRORCAP_UPDATE_GRUB:-update-grub}
REBOOT=${MIRRORCAP_REBOOT:-systemctl reboot}

log() { echo "mirrorcap-tune: $*" >&2; }

desired_args() {
    local n mem_kib gib workers pages args
    n=${MIRRORCAP_NPROC:-$(nproc --all)}
    mem_kib=$(awk '/^MemTotal:/ {print $2}' "$PROC/meminfo")
    workers=$((n > 1 ? n - 1 : 1))
    ((workers <= 8)) || workers=8
    gib=$((workers + 1))
    local half=$((mem_kib / 1024 / 1024 / 2))
    ((gib <= half)) || gib=$half
    ((gib >= 1)) || gib=1
    if grep -qw pdpe1gb "$PROC/cpuinfo" && ((half >= 1)); then
        args="default_hugepagesz=1G hugepagesz=1G hugepages=$gib"
    else
        pages=$((gib * 512))
        args="default_hugepagesz=2M hugepagesz=2M hugepages=$pages"
    fi
    if ((n > 1)); then
        local cpus="1-$((n - 1))"
        ((n == 2)) && cpus=1
        args+=" isolcpus=$cpus nohz_full=$cpus rcu_nocbs=$cpus irqaffinity=0"
    fi
    echo "$args"
}

apply() {
    local args missing=() a cmdline
    args=$(desired_args)
    cmdline=$(<"$PROC/cmdline")
    for a in $args; do
        [[ " $cmdline " == *" $a "* ]] || missing+=("$a")
    done
    mkdir -p "$GRUB_D" "$STATE"
    local cfg="$GRUB_D/50-mirrorcap.cfg"
    local want="GRUB_CMDLINE_LINUX=\"\$GRUB_CMDLINE_LINUX $args\""
    if [[ ! -f $cfg ]] || [[ $(grep -v '^#' "$cfg") != "$want" ]]; then
        printf '# Written by mirrorcap-tune.sh at boot for %s vCPUs; do not edit.\n%s\n' \
            "${MIRRORCAP_NPROC:-$(nproc --all)}" "$want" >"$cfg"
        $UPDATE_GRUB
        log "kernel arguments set: $args"
    fi
    if ((${#missing[@]} == 0)); then
        log "running kernel has: $args"
        return 0
    fi
    # Run-time fallback until the reboot: 2 MiB pages.
    local nr=$SYSFS/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
    if [[ -w $nr ]] && (($(<"$nr") == 0)); then
        echo 1024 >"$nr" || true
        log "reserved $(<"$nr") x 2 MiB hugepages at run time until the reboot"
    fi
    if [[ -f $STATE/tune-rebooted-for && $(<"$STATE/tune-rebooted-for") == "$args" ]]; then
        log "WARNING: rebooted once for '$args' but the kernel still lacks: ${missing[*]} (bootloader not grub?); not rebooting again"
        return 0
    fi
    echo "$args" >"$STATE/tune-rebooted-for"
    log "rebooting once to apply: ${missing[*]}"
    $REBOOT
}

case ${1:-print} in
print) desired_args ;;
apply) apply ;;
*)
    echo "usage: $0 [print|apply]" >&2
    exit 2
    ;;
esac
