#!/usr/bin/env bash
# mirrorcap-storage.sh: prepare the ring and the store before mirrorcap starts.
# The ring is in RAM: a tmpfs at the ring directory, so the workers only ever write memory (a
# ring on a disk stalls them in page-cache writeback: docs/store.md). The store, where the
# store threads move each sealed segment with O_DIRECT, is on disk: the first instance-store
# NVMe volume ("Amazon EC2 NVMe Instance Storage"), formatted XFS if blank and mounted at the
# store directory; without one, a directory on the EBS root volume. Instance store is wiped
# when the instance stops: keep what matters elsewhere (export, or the S3 archive).
# Overrides (tests): MIRRORCAP_SYSFS (/sys), MIRRORCAP_DEV (/dev), RING_DIR
#   (/var/lib/mirrorcap/ring), STORE_DIR (/var/lib/mirrorcap/store), RING_TMPFS_SIZE (50%: the
#   ring's files have the size the configuration gives; this only bounds a wrong one),
#   MIRRORCAP_MOUNTPOINT (mountpoint), MIRRORCAP_BLKID (blkid), MIRRORCAP_MKFS (mkfs.xfs),
#   MIRRORCAP_MOUNT (mount)
set -euo pipefail

SYSFS=${MIRRORCAP_SYSFS:-/sys}
DEV=${MIRRORCAP_DEV:-/dev}
RING_DIR=${RING_DIR:-/var/lib/mirrorcap/ring}
STORE_DIR=${STORE_DIR:-/var/lib/mirrorcap/store}
RING_TMPFS_SIZE=${RING_TMPFS_SIZE:-50%}
MOUNTPOINT=${MIRRORCAP_MOUNTPOINT:-mountpoint}
BLKID=${MIRRORCAP_BLKID:-blkid}
MKFS=${MIRRORCAP_MKFS:-mkfs.xfs}
MOUNT=${MIRRORCAP_MOUNT:-mount}

log() { echo "mirrorcap-storage: $*" >&2; }

mkdir -p "$RING_DIR" "$STORE_DIR"
if "$MOUNTPOINT" -q "$RING_DIR"; then
    log "$RING_DIR already mounted"
else
    # Huge pages: the workers' stores miss the TLB less (docs/ring.md: 25.0 -> 27.4 Mpps).
    "$MOUNT" -t tmpfs -o "size=$RING_TMPFS_SIZE,huge=within_size,mode=0755,noatime" mirrorcap-ring "$RING_DIR"
    log "ring in RAM (tmpfs, at most $RING_TMPFS_SIZE) at $RING_DIR"
fi

if "$MOUNTPOINT" -q "$STORE_DIR"; then
    log "$STORE_DIR already mounted"
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
    log "no instance-store NVMe: store on the EBS volume at $STORE_DIR"
    exit 0
fi
if ! "$BLKID" "$disk" >/dev/null 2>&1; then
    log "formatting $disk (XFS)"
    "$MKFS" -q -f "$disk"
fi
"$MOUNT" -o noatime "$disk" "$STORE_DIR"
log "store on instance store $disk at $STORE_DIR"
