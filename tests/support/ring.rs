//! The ring harness: reading what a ring directory holds (its workers' segment files and
//! control files, the records of a segment or an export) with readers independent of
//! mirrorcap's own (the `pcap-file` crate), and the test frames written into rings.
use mirrorcap_ring::layout::EntrySnapshot;
use mirrorcap_ring::pcapfmt::{
    FILE_HEADER_LEN, LINKTYPE_ETHERNET, MAGIC_NANOS, RECORD_HEADER_LEN, SNAPLEN,
};
use mirrorcap_ring::reader::WorkerReader;
use mirrorcap_ring::{export_pcap, ExportStats, Geometry};
use pcap_file::{DataLink, TsResolution};
use std::path::{Path, PathBuf};

pub const MIB: u64 = 1 << 20;
/// The first record's timestamp in the library-level ring tests (2023-11-14, ns).
pub const BASE_TS: u64 = 1_700_000_000_000_000_000;
pub const HDR: u64 = FILE_HEADER_LEN as u64;
pub const REC_HDR: u64 = RECORD_HEADER_LEN as u64;

pub fn geom(segments: u32, segment_size: u64) -> Geometry {
    Geometry {
        segments,
        segment_size,
    }
}

/// Increasing timestamps crossing second boundaries.
pub fn ts_for(seq: u64) -> u64 {
    BASE_TS + seq * 1_000_003
}

/// splitmix64: the test frames' byte generator.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A ring test frame of `len` bytes: the sequence number (LE), then bytes derived from it,
/// with the local experimental EtherType 0x88b5 so dissectors treat the rest as data.
pub fn seq_frame(seq: u64, len: usize) -> Vec<u8> {
    assert!(len >= 14, "frames hold an Ethernet header");
    let mut f = Vec::with_capacity(len + 8);
    f.extend_from_slice(&seq.to_le_bytes());
    let mut x = mix(seq);
    while f.len() < len {
        x = mix(x);
        f.extend_from_slice(&x.to_le_bytes());
    }
    f.truncate(len);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// One pcap record as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

impl Rec {
    /// The sequence number a [`seq_frame`] carries in its first 8 bytes.
    pub fn seq(&self) -> u64 {
        u64::from_le_bytes(
            self.data[..8]
                .try_into()
                .expect("frames are at least 8 bytes"),
        )
    }
}

/// The records of pcap bytes mirrorcap wrote (a segment, a committed prefix of one, an
/// export), each checked: the file header is mirrorcap's (little-endian nanosecond magic,
/// v2.4, Ethernet, snaplen 262144), every record is whole and sane.
pub fn read_records(bytes: &[u8], what: &str) -> Vec<Rec> {
    let mut r = pcap_file::pcap::PcapReader::new(bytes)
        .unwrap_or_else(|e| panic!("{what}: bad pcap header: {e}"));
    let h = r.header();
    assert_eq!(h.ts_resolution, TsResolution::NanoSecond, "{what}");
    assert_eq!(h.datalink, DataLink::ETHERNET, "{what}");
    assert_eq!(h.snaplen, SNAPLEN, "{what}");
    assert_eq!((h.version_major, h.version_minor), (2, 4), "{what}");
    assert_eq!(
        u32::from_le_bytes(bytes[..4].try_into().unwrap()),
        MAGIC_NANOS,
        "{what}: little-endian nanosecond magic"
    );
    assert_eq!(
        u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        LINKTYPE_ETHERNET,
        "{what}"
    );
    let mut out = Vec::new();
    // Raw records, checked here: pcap-file's own check also refuses orig_len > snaplen,
    // which is legal (a frame cut to the snapshot length).
    while let Some(p) = r.next_raw_packet() {
        let n = out.len();
        let p = p.unwrap_or_else(|e| panic!("{what}: record {n}: {e}"));
        assert!(p.ts_frac < 1_000_000_000, "{what}: record {n}: ns field");
        assert!(
            p.incl_len <= h.snaplen,
            "{what}: record {n}: incl_len > snaplen"
        );
        assert!(
            p.incl_len <= p.orig_len,
            "{what}: record {n}: incl_len > orig_len"
        );
        assert_eq!(p.incl_len as usize, p.data.len(), "{what}: record {n}");
        out.push(Rec {
            ts_ns: p.ts_sec as u64 * 1_000_000_000 + p.ts_frac as u64,
            orig_len: p.orig_len,
            data: p.data.into_owned(),
        });
    }
    out
}

/// The records of a pcap file mirrorcap wrote ([`read_records`]), with nothing after the last
/// whole record.
pub fn read_records_file(path: &Path) -> Vec<Rec> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let recs = read_records(&bytes, &path.display().to_string());
    let len: u64 = HDR
        + recs
            .iter()
            .map(|r| REC_HDR + r.data.len() as u64)
            .sum::<u64>();
    assert_eq!(
        len,
        bytes.len() as u64,
        "{}: bytes after the last whole record",
        path.display()
    );
    recs
}

/// The ring exported in memory by the library (`export_pcap`), read back with
/// [`read_records`]; the export's count agrees with the records.
pub fn export_records(ring: &Path) -> (Vec<Rec>, ExportStats) {
    let mut out = Vec::new();
    let stats = export_pcap(ring, &mut out).expect("export");
    let recs = read_records(&out, "export");
    assert_eq!(stats.packets, recs.len() as u64, "export stats count");
    (recs, stats)
}

/// The segments a worker directory's control file lists.
pub fn control_segments(worker_dir: &Path) -> Vec<EntrySnapshot> {
    WorkerReader::open(worker_dir)
        .unwrap_or_else(|e| panic!("open control of {}: {e}", worker_dir.display()))
        .segments()
        .to_vec()
}

/// Every segment file (`*/seg-*.pcap`) of every worker of a ring directory, sorted.
pub fn segment_files(ring: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for w in std::fs::read_dir(ring).unwrap_or_else(|e| panic!("{}: {e}", ring.display())) {
        let w = w.unwrap().path();
        if !w.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&w).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "pcap") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

/// Every record of a pcap file, read with the `pcap-file` crate (an oracle independent of
/// mirrorcap's reader).
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    read_pcap_records(path).into_iter().map(|r| r.0).collect()
}

/// Every record of a pcap file as (bytes, original length), read with `pcap-file`.
pub fn read_pcap_records(path: &Path) -> Vec<(Vec<u8>, u32)> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = pcap_file::pcap::PcapReader::new(f).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        out.push((p.data.into_owned(), p.orig_len));
    }
    out
}

/// One packet of a pcapng file: the name of its interface, its bytes, its original length.
pub struct NgPacket {
    pub interface: String,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

/// Every packet of a pcapng file, read with `pcap-file`, each with its interface's `if_name`.
pub fn read_pcapng(path: &Path) -> Vec<NgPacket> {
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = PcapNgReader::new(f).expect("pcapng section header");
    let mut names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    while let Some(b) = r.next_block() {
        match b.expect("pcapng block") {
            Block::InterfaceDescription(idb) => names.push(
                idb.options
                    .iter()
                    .find_map(|o| match o {
                        InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .expect("interface has a name"),
            ),
            Block::EnhancedPacket(p) => out.push(NgPacket {
                interface: names
                    .get(p.interface_id as usize)
                    .expect("packet names a declared interface")
                    .clone(),
                data: p.data.into_owned(),
                orig_len: p.original_len,
            }),
            _ => {}
        }
    }
    out
}
