#!/usr/bin/python3
"""Feeds a pcap file's records into a named pipe (or any file) at a steady pace, looping
forever: DPDK's net_pcap reads the pipe as its rx_pcap, so the appliance receives traffic that
arrives over time, as mirror traffic does, instead of a replay as fast as the worker polls.

Usage: scripts/paced_pcap.py IN.pcap OUT_FIFO PPS
Stops when the reader goes away (broken pipe) or on SIGINT/SIGTERM.
"""
import signal
import struct
import sys
import time


def records(data):
    """The records of a little-endian pcap file (as `mirrorcap gen -w` writes them)."""
    off, out = 24, []
    while off + 16 <= len(data):
        (caplen,) = struct.unpack_from("<I", data, off + 8)
        out.append(data[off:off + 16 + caplen])
        off += 16 + caplen
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: paced_pcap.py IN.pcap OUT_FIFO PPS")
    src, dst, pps = sys.argv[1], sys.argv[2], float(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    data = open(src, "rb").read()
    recs = records(data)
    if not recs or pps <= 0:
        sys.exit(f"paced_pcap.py: {src}: no records, or PPS not positive")
    batch = max(1, int(pps / 100))  # a write every 10 ms
    try:
        with open(dst, "wb", buffering=1 << 20) as out:
            out.write(data[:24])
            start, sent, i = time.monotonic(), 0, 0
            while True:
                for _ in range(batch):
                    out.write(recs[i])
                    i = (i + 1) % len(recs)
                sent += batch
                out.flush()
                delay = start + sent / pps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
