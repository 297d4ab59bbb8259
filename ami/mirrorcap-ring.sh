#!/usr/bin/env bash
# mirrorcap-ring.sh: prepare the ring directory before mirrorcap starts.
# The first instance-store NVMe volume ("Amazon EC2 NVMe Instance Storage") is formatted XFS
# if blank and mounted at the ring directory; without one, the ring is a directory on the EBS
# root volume. Instance store is wiped when the instance stops: the ring is a rolling buffer,
# export what you keep (docs/aws.md).
# Overrides (tests): MIRRORCAP_SYSFS (/sys), MIRRORCAP_DEV (/dev), RING_DIR (/var/lib/mirrorcap/ring)
set -euo pipefail

SYSFS=${MIRRORCAP_SYSFS:-/sys}
DEV=${MIRRORCAP_DEV:-/dev}
RING_DIR=${RING_DIR:-/var/lib/mirrorcap/ring}

log() { echo "mirrorcap-ring: $*" >&2; }

mkdir -p "$RING_DIR"
if mountpoint -q "$RING_DIR"; then
    log "$RING_DIR already mounted"
    exit 0
fi
disk=""
for c in "$SYSFS"/class/nvme/nvme*; do
    [[ -r $c/model ]] || continue
    if [[ $(<"$c/model") == *"Instance Storage"* ]]; then
        disk="$DEV/${c##*/}n1"
        break
    fi
done
if [[ -z $disk ]]; then
    log "no instance-store NVMe: ring on the EBS volume at $RING_DIR"
    exit 0
fi
if ! blkid "$disk" >/dev/null 2>&1; then
    log "formatting $disk (XFS)"
    mkfs.xfs -q -f "$disk"
fi
mount -o noatime "$disk" "$RING_DIR"
log "ring on instance store $disk at $RING_DIR"
