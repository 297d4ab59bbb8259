#!/usr/bin/env bash
# mirrorcap-ring.sh: prepare the ring directory before mirrorcap starts.
# The first instance-store NVMe volume ("Amazon EC2 NVMe Instance Storage") is formatted XFS
# if blank and mounted at the ring directory; without one, the ring is a directory on the EBS
# root volume. Instance store is wiped when the instance stops: the ring is a rolling buffer,
# export what you keep (docs/aws.md).
# Overrides (tests): MIRRORCAP_SYSFS (/sys), MIRRORCAP_DEV (/dev), RING_DIR (/var/lib/mirrorcap/ring),
#   MIRRORCAP_MOUNTPOINT (mountpoint), MIRRORCAP_BLKID (blkid), MIRRORCAP_MKFS (mkfs.xfs),
#   MIRRORCAP_MOUNT (mount)
set -euo pipefail

SYSFS=${MIRRORCAP_SYSFS:-/sys}
DEV=${MIRRORCAP_DEV:-/dev}
RING_DIR=${RING_DIR:-/var/lib/mirrorcap/ring}
MOUNTPOINT=${MIRRORCAP_MOUNTPOINT:-mountpoint}
BLKID=${MIRRORCAP_BLKID:-blkid}
MKFS=${MIRRORCAP_MKFS:-mkfs.xfs}
MOUNT=${MIRRORCAP_MOUNT:-mount}

log() { echo "mirrorcap-ring: $*" >&2; }

mkdir -p "$RING_DIR"
if "$MOUNTPOINT" -q "$RING_DIR"; then
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
if ! "$BLKID" "$disk" >/dev/null 2>&1; then
    log "formatting $disk (XFS)"
    "$MKFS" -q -f "$disk"
fi
"$MOUNT" -o noatime "$disk" "$RING_DIR"
log "ring on instance store $disk at $RING_DIR"
