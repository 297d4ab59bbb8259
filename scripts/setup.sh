#!/usr/bin/env bash
# Idempotent system set-up for building, running and testing mirrorcap on Debian 12/13:
# DPDK (libdpdk-dev + dpdk-testpmd), libclang for bindgen, libpcap, the reference readers
# (tshark, tcpdump, capinfos, zstd), prometheus + promtool, python3-matplotlib (dashboard snapshots,
# load-test charts), netsniff-ng (a load-test peer; 7 small packages), the AMI checks' tools
# (shellcheck, packer, debootstrap, systemd-analyze; cfn-lint from PyPI in a venv at
# /opt/cfn-lint when not on PATH), DuckDB's Python package (PyPI, a venv at /opt/duckdb: it reads
# the flow records in tests), xfsprogs and jq for scripts/bench-store.sh (an xfs store on a
# loop device; gen's JSON report), Debian's stenographer (server, stenoread client) and tcpreplay
# for scripts/bench-steno.sh (its service is left stopped and disabled: the bench starts its
# own), Garage (crates.io) and boto3 (PyPI, /opt/boto3) for the S3 archive tests, and 2 MiB
# hugepages when run as root.
# Usage: scripts/setup.sh            (HUGEPAGES=512 by default; HUGEPAGES=0 skips them)
set -euo pipefail

PACKAGES=(
  build-essential pkg-config clang libclang-dev
  libdpdk-dev dpdk dpdk-dev
  libpcap-dev tcpdump tshark wireshark-common zstd
  prometheus iproute2 procps curl
  python3-matplotlib netsniff-ng
  shellcheck packer debootstrap systemd python3-venv
  xfsprogs jq
  stenographer stenographer-client tcpreplay
)
HUGEPAGES=${HUGEPAGES:-512}

log() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})"
    exit 2
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "packages present"
fi

# cfn-lint (the CloudFormation linter) is not in Debian 12: PyPI, in its own venv.
if ! command -v cfn-lint >/dev/null 2>&1 && [[ ! -x /opt/cfn-lint/bin/cfn-lint ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    log "installing cfn-lint from PyPI into /opt/cfn-lint"
    python3 -m venv /opt/cfn-lint && /opt/cfn-lint/bin/pip install -q cfn-lint
    ln -sf /opt/cfn-lint/bin/cfn-lint /usr/local/bin/cfn-lint
  else
    log "cfn-lint missing: pip install cfn-lint (the CloudFormation test skips without it)"
  fi
fi

# DuckDB (the reader of the flow records' Parquet files in tests/flows_e2e.rs) is not in
# Debian: its Python package from PyPI, in its own venv.
if [[ ! -x /opt/duckdb/bin/python3 ]] || ! /opt/duckdb/bin/python3 -c 'import duckdb' 2>/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    log "installing duckdb from PyPI into /opt/duckdb"
    python3 -m venv /opt/duckdb && /opt/duckdb/bin/pip install -q duckdb
  else
    log "duckdb missing: run as root to install it into /opt/duckdb (the flow records test skips without it)"
  fi
fi

# Garage (the S3-compatible server the archive tests start, tests/support/garage.rs) is not in
# Debian: built from crates.io when missing (about 8 minutes on two cores), into ~/.cargo/bin.
if ! command -v garage >/dev/null 2>&1 && [[ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/garage" ]]; then
  log "building garage (the tests' S3 server) from crates.io: cargo install garage --locked"
  cargo install -q garage --locked
fi
# boto3 (an S3 client independent of mirrorcap's, which the archive tests list and read the
# bucket with): PyPI, in its own venv.
if [[ ! -x /opt/boto3/bin/python3 ]] || ! /opt/boto3/bin/python3 -c 'import boto3' 2>/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    log "installing boto3 from PyPI into /opt/boto3"
    python3 -m venv /opt/boto3 && /opt/boto3/bin/pip install -q boto3
  else
    log "boto3 missing: run as root to install it into /opt/boto3 (the archive tests skip without it)"
  fi
fi

# The Debian prometheus package starts a server on :9090; tests start their own.
if [[ $(id -u) -eq 0 ]] && command -v systemctl >/dev/null && systemctl is-active -q prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi
# Nor may stenographer capture in the background (on eth0, into /var/lib/stenographer): the
# bench runs its own in a namespace. Its unit's ExecStopPost is `pkill -9 stenotype`, which
# would kill a bench's stenotype too, so it is stopped only when it runs.
if [[ $(id -u) -eq 0 ]] && command -v systemctl >/dev/null && [[ -e /lib/systemd/system/stenographer.service ]]; then
  if systemctl is-active -q stenographer 2>/dev/null; then systemctl stop stenographer || true; fi
  if systemctl is-enabled -q stenographer 2>/dev/null; then systemctl disable -q stenographer || true; fi
fi

if [[ $HUGEPAGES -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    log "not root: skipping hugepages (mirrorcap falls back to --no-huge)"
  else
    grep -qs ' /dev/hugepages hugetlbfs' /proc/mounts || {
      mkdir -p /dev/hugepages
      mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || log "cannot mount hugetlbfs: mirrorcap will use --no-huge"
    }
    nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
    if [[ -w $nr ]] && (($(cat "$nr") < HUGEPAGES)); then
      echo "$HUGEPAGES" >"$nr" 2>/dev/null || true
    fi
    log "hugepages: $(cat "$nr" 2>/dev/null || echo 0) x 2 MiB reserved, $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0) free"
  fi
fi
