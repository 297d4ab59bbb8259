//! How many mbufs a worker's pool needs, derived from what holds them at once: the RX ring
//! (every descriptor refilled), the burst the worker is processing, and the pool's per-lcore
//! cache (DPDK lets a cache grow to 1.5× its size before flushing). Only the worker's lcore
//! touches its pool (share-nothing), so one cache counts. Reported at start.
//!
//! A `net_pcap` vdev with `infinite_rx=1` also loads every packet of its `rx_pcap` file into
//! mbufs of the queue's pool when the queue is set up, and keeps them for the whole run, so
//! without `--mbufs` the pool is sized from the file: its packet count on top of the above.
#![forbid(unsafe_code)]

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Mbufs per worker when `--mbufs` is not given and nothing needs more.
pub const DEFAULT_MBUFS: u32 = 8191;
/// Most mbufs one pool may have (`--mbufs` accepts up to this).
pub const MAX_MBUFS: u32 = 1_048_575;

/// One worker pool's sizing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSizing {
    pub rx_desc: u32,
    pub burst: u32,
    pub cache: u32,
    /// Mbufs that can be out of the pool's free list at once.
    pub in_flight: u32,
    /// The pool size in use (`--mbufs`).
    pub mbufs: u32,
    /// Bytes of one mbuf's element (data room plus mbuf header, approximately).
    pub mbuf_bytes: u32,
}

impl PoolSizing {
    pub fn new(rx_desc: u32, burst: u32, cache: u32, mbufs: u32, data_room: u32) -> Self {
        PoolSizing {
            rx_desc,
            burst,
            cache,
            in_flight: in_flight(rx_desc, burst, cache),
            mbufs,
            mbuf_bytes: data_room + 128 + 64,
        }
    }

    /// Refuses a pool that cannot cover what is in flight (the NIC would run dry of mbufs and
    /// count `rx_nombuf` at any load).
    pub fn check(&self) -> Result<(), String> {
        if self.mbufs < self.in_flight {
            return Err(format!(
                "--mbufs {}: each worker keeps up to {} mbufs in flight ({} RX descriptors + {} burst + {} cache x 1.5): use at least {}",
                self.mbufs, self.in_flight, self.rx_desc, self.burst, self.cache, self.in_flight
            ));
        }
        Ok(())
    }

    /// Bytes of one worker's pool.
    pub fn pool_bytes(&self) -> u64 {
        self.mbufs as u64 * self.mbuf_bytes as u64
    }

    /// The start-up line's numbers.
    pub fn describe(&self) -> String {
        format!(
            "{} mbufs per worker ({:.1} MiB), {} in flight at most ({} RX descriptors + {} burst + {} cache x 1.5), {} spare for net_pcap replay or bursts of traffic",
            self.mbufs,
            self.pool_bytes() as f64 / (1u64 << 20) as f64,
            self.in_flight,
            self.rx_desc,
            self.burst,
            self.cache,
            self.mbufs - self.in_flight.min(self.mbufs)
        )
    }
}

/// Mbufs that can be out of a pool's free list at once: every RX descriptor refilled, the
/// burst being processed, and the lcore's cache grown to 1.5× its size.
pub fn in_flight(rx_desc: u32, burst: u32, cache: u32) -> u32 {
    rx_desc + burst + cache + cache / 2
}

/// The mbufs each worker's pool gets: `given` (`--mbufs`) as given; otherwise
/// [`DEFAULT_MBUFS`], raised for every `net_pcap` vdev in `vdevs` that replays its files
/// forever to hold the largest file's packets plus `in_flight`. An error (one line) when such a
/// file cannot be read or holds more packets than a pool can.
pub fn pool_mbufs(given: Option<u32>, vdevs: &[String], in_flight: u32) -> Result<u32, String> {
    if let Some(n) = given {
        return Ok(n);
    }
    let mut mbufs = DEFAULT_MBUFS;
    for file in vdevs.iter().flat_map(|v| infinite_rx_files(v)) {
        let records = pcap_records(&file).map_err(|e| {
            format!(
                "{}: {e} (net_pcap's infinite_rx loads the whole file, so it must be readable)",
                file.display()
            )
        })?;
        mbufs = mbufs.max(replay_mbufs(&file, records, in_flight)?);
    }
    Ok(mbufs)
}

/// The files a `--vdev` spec replays forever: its `rx_pcap=` values when it is a `net_pcap`
/// device with `infinite_rx=1` (each is one RX queue, whose pool preloads that file).
pub fn infinite_rx_files(vdev: &str) -> Vec<PathBuf> {
    let mut parts = vdev.split(',');
    let name = parts.next().unwrap_or_default().trim();
    if !name.starts_with("net_pcap") {
        return Vec::new();
    }
    let kv: Vec<(&str, &str)> = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    if !kv.iter().any(|&(k, v)| k == "infinite_rx" && v == "1") {
        return Vec::new();
    }
    kv.iter()
        .filter(|&&(k, _)| k == "rx_pcap")
        .map(|&(_, v)| PathBuf::from(v))
        .collect()
}

/// The mbufs a pool needs to preload `records` packets of `file` and still keep `in_flight`
/// out at once; an error (one line) when that is more than a pool may have.
pub fn replay_mbufs(file: &Path, records: u64, in_flight: u32) -> Result<u32, String> {
    let need = records.saturating_add(u64::from(in_flight));
    u32::try_from(need)
        .ok()
        .filter(|&n| n <= MAX_MBUFS)
        .ok_or_else(|| {
            format!(
                "{} holds {records} packets: net_pcap's infinite_rx keeps them all in mbufs, and with {in_flight} in flight that is more than the {MAX_MBUFS} a pool can have: replay a smaller file, or without infinite_rx",
                file.display()
            )
        })
}

/// Packets in a pcap or pcapng file, counted from the record (block) headers without reading
/// the packet bytes.
pub fn pcap_records(path: &Path) -> io::Result<u64> {
    let mut f = io::BufReader::new(std::fs::File::open(path)?);
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic)?;
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => pcap_count(&mut f, false),
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => pcap_count(&mut f, true),
        [0x0a, 0x0d, 0x0d, 0x0a] => pcapng_count(&mut f),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a pcap or pcapng file",
        )),
    }
}

fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

/// Skips `n` bytes; false when the file ends first.
fn skip(f: &mut impl Read, n: u64) -> io::Result<bool> {
    Ok(io::copy(&mut f.take(n), &mut io::sink())? == n)
}

/// Classic pcap after the magic: a 20-byte rest of the file header, then 16-byte record headers
/// each followed by its captured bytes. A record cut short by the end of the file is not one
/// (libpcap stops there too).
fn pcap_count(f: &mut impl Read, big: bool) -> io::Result<u64> {
    let mut rest = [0u8; 20];
    f.read_exact(&mut rest)?;
    let mut n = 0;
    let mut h = [0u8; 16];
    loop {
        match f.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
            Err(e) => return Err(e),
        }
        if !skip(f, u64::from(u32_at(&h, 8, big)))? {
            return Ok(n);
        }
        n += 1;
    }
}

/// pcapng after the first block's type: blocks of (type, total length, body, total length);
/// enhanced (6), simple (3) and obsolete packet (2) blocks each hold one packet. The byte
/// order is the section header's, read at the start of each section.
fn pcapng_count(f: &mut impl Read) -> io::Result<u64> {
    const SHB: u32 = 0x0a0d_0d0a;
    let mut n = 0;
    let mut big = false;
    let mut typ = SHB;
    loop {
        let mut len = [0u8; 4];
        f.read_exact(&mut len)?;
        let mut body_start = 8u64;
        if typ == SHB {
            let mut bom = [0u8; 4];
            f.read_exact(&mut bom)?;
            big = bom == [0x1a, 0x2b, 0x3c, 0x4d];
            body_start += 4;
        }
        let total = u64::from(u32_at(&len, 0, big));
        if total < body_start + 4 || !skip(f, total - body_start)? {
            return Ok(n);
        }
        n += u64::from(matches!(typ, 2 | 3 | 6));
        let mut t = [0u8; 4];
        match f.read_exact(&mut t) {
            Ok(()) => typ = u32_at(&t, 0, big),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_descriptors_burst_and_cache() {
        let s = PoolSizing::new(1024, 32, 256, 8191, 9856);
        assert_eq!(s.in_flight, 1024 + 32 + 384);
        assert!(s.check().is_ok());
        assert!(s.describe().contains("1440 in flight"));
        let small = PoolSizing::new(1024, 32, 256, 1023, 9856);
        assert!(small.check().unwrap_err().contains("use at least 1440"));
    }

    #[test]
    fn infinite_rx_files_come_from_net_pcap_devargs() {
        assert_eq!(
            infinite_rx_files("net_pcap0,rx_pcap=/a.pcap,infinite_rx=1"),
            vec![PathBuf::from("/a.pcap")]
        );
        assert_eq!(
            infinite_rx_files("net_pcap1, infinite_rx=1 ,rx_pcap=a,rx_pcap=b"),
            vec![PathBuf::from("a"), PathBuf::from("b")]
        );
        for v in [
            "net_pcap0,rx_pcap=/a.pcap",
            "net_pcap0,rx_pcap=/a.pcap,infinite_rx=0",
            "net_af_packet0,iface=eth0,infinite_rx=1",
            "net_pcap0,infinite_rx=1,rx_iface=eth0",
            "",
        ] {
            assert!(infinite_rx_files(v).is_empty(), "{v}");
        }
    }

    #[test]
    fn replay_needs_the_file_plus_what_is_in_flight() {
        let f = Path::new("big.pcap");
        assert_eq!(replay_mbufs(f, 9000, 1440), Ok(10_440));
        assert_eq!(replay_mbufs(f, 0, 1440), Ok(1440));
        assert_eq!(
            replay_mbufs(f, u64::from(MAX_MBUFS - 1440), 1440),
            Ok(MAX_MBUFS)
        );
        let err = replay_mbufs(f, u64::from(MAX_MBUFS), 1440).unwrap_err();
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(
            err.contains("big.pcap holds 1048575 packets") && err.contains("infinite_rx"),
            "{err}"
        );
        assert!(replay_mbufs(f, u64::MAX, 1440).is_err());
    }

    /// A classic pcap of `sizes.len()` records, little- or big-endian, optionally with a last
    /// record cut short.
    fn pcap(sizes: &[u32], big: bool, cut_last: bool) -> Vec<u8> {
        let w = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut b = w(0xa1b2_c3d4).to_vec();
        // Version, time zone and sigfigs: not read.
        b.extend_from_slice(&[0; 12]);
        b.extend_from_slice(&w(65535));
        b.extend_from_slice(&w(1));
        for (i, &n) in sizes.iter().enumerate() {
            b.extend_from_slice(&w(0));
            b.extend_from_slice(&w(0));
            b.extend_from_slice(&w(n));
            b.extend_from_slice(&w(n + 7));
            let data = if cut_last && i + 1 == sizes.len() {
                n / 2
            } else {
                n
            };
            b.extend(std::iter::repeat_n(0xAB, data as usize));
        }
        b
    }

    fn block(typ: u32, body: &[u8]) -> Vec<u8> {
        let len = 12 + body.len() as u32;
        let mut b = typ.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    fn pcapng(packets: usize) -> Vec<u8> {
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&u64::MAX.to_le_bytes());
        let mut b = block(0x0a0d_0d0a, &shb);
        b.extend(block(1, &[1, 0, 0, 0, 0xff, 0xff, 0, 0]));
        for i in 0..packets {
            let mut epb = vec![0u8; 20];
            epb[12..16].copy_from_slice(&64u32.to_le_bytes());
            epb[16..20].copy_from_slice(&64u32.to_le_bytes());
            epb.extend_from_slice(&[0xCD; 64]);
            b.extend(block(if i % 2 == 0 { 6 } else { 3 }, &epb));
        }
        // A name resolution block: no packet.
        b.extend(block(4, &[0, 0, 0, 0]));
        b
    }

    fn count(bytes: &[u8]) -> io::Result<u64> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("f");
        std::fs::write(&p, bytes)?;
        pcap_records(&p)
    }

    #[test]
    fn pcap_and_pcapng_records_are_counted() {
        for big in [false, true] {
            assert_eq!(count(&pcap(&[], big, false)).unwrap(), 0);
            assert_eq!(count(&pcap(&[60, 9000, 1, 0], big, false)).unwrap(), 4);
            assert_eq!(count(&pcap(&[60, 100], big, true)).unwrap(), 1);
        }
        assert_eq!(count(&pcapng(0)).unwrap(), 0);
        assert_eq!(count(&pcapng(5)).unwrap(), 5);
        assert!(count(b"not a capture").is_err());
        assert!(count(b"ab").is_err());
        let missing = pcap_records(Path::new("/nonexistent/mirror.pcap")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn pool_mbufs_honours_mbufs_and_sizes_replays_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pcap");
        std::fs::write(&big, pcap(&vec![64; 9000], false, false)).unwrap();
        let small = dir.path().join("small.pcap");
        std::fs::write(&small, pcap(&[64; 10], false, false)).unwrap();
        let vdev = |f: &Path, inf: bool| {
            format!(
                "net_pcap0,rx_pcap={}{}",
                f.display(),
                if inf { ",infinite_rx=1" } else { "" }
            )
        };
        assert_eq!(pool_mbufs(None, &[], 1440), Ok(DEFAULT_MBUFS));
        assert_eq!(
            pool_mbufs(None, &[vdev(&big, false)], 1440),
            Ok(DEFAULT_MBUFS)
        );
        assert_eq!(
            pool_mbufs(None, &[vdev(&small, true)], 1440),
            Ok(DEFAULT_MBUFS)
        );
        assert_eq!(pool_mbufs(None, &[vdev(&big, true)], 1440), Ok(10_440));
        let two = format!("{},rx_pcap={}", vdev(&small, true), big.display());
        assert_eq!(pool_mbufs(None, &[two], 1440), Ok(10_440));
        // Given, it is used as is: the driver's own refusal then says what is short.
        assert_eq!(pool_mbufs(Some(4096), &[vdev(&big, true)], 1440), Ok(4096));
        let err = pool_mbufs(None, &[vdev(&dir.path().join("none"), true)], 1440).unwrap_err();
        assert!(err.contains("none: ") && !err.contains('\n'), "{err}");
    }
}
