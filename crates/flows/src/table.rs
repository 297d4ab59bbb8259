//! [`FlowTable`]: records in, one [`FlowRecord`] per inner flow out. Fed by the store writer
//! as it cuts a segment's records into blocks (while they are in cache) and by `mirrorcap
//! flows` over records it reads; [`FlowTable::merge`] adds rows read from Parquet files, so a
//! flow seen in several files (or in a file and the ring) comes out as one row.
//!
//! Per record: extract the tuple, compare it with the last one (packets of a flow come in
//! trains), else one hash-map lookup. Memory is one entry per flow of the file.

use crate::tuple::FlowTuple;
use mirrorcap_index::SeededState;
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One inner flow's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowRecord {
    /// Capture time of its first and last packet, Unix ns (Parquet keeps microseconds).
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    /// The mirror session's VNI; none for untagged records.
    pub vni: Option<u32>,
    /// The record metadata's session id (0: none configured, 255: untagged).
    pub session_id: u8,
    /// The EtherType after VLAN tags, and the outer VLAN ID.
    pub ether_type: u16,
    pub vlan: Option<u16>,
    /// 4, 6, or none for non-IP.
    pub ip_version: Option<u8>,
    pub protocol: Option<u8>,
    pub src_addr: Option<IpAddr>,
    pub dst_addr: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub packets: u64,
    /// Bytes on the inner wire (each frame's original length).
    pub bytes: u64,
    /// Bytes kept (each record's captured length).
    pub captured_bytes: u64,
    /// The TCP flags seen in any of its packets, ORed.
    pub tcp_flags: u8,
    /// Packets kept shorter than they were on the wire.
    pub truncated: u64,
}

impl FlowRecord {
    /// The record metadata word of the flow's packets (`mirrorcap_ring::RecordMeta`).
    pub fn meta(&self) -> u32 {
        self.vni.unwrap_or(0) | (u32::from(self.session_id) << 24)
    }

    /// The record's flow, for merging rows of the same flow.
    pub fn tuple(&self) -> FlowTuple {
        let mut t = FlowTuple {
            meta: self.meta(),
            ether_type: self.ether_type,
            ip_version: self.ip_version.unwrap_or(0),
            ..FlowTuple::default()
        };
        if let Some(v) = self.vlan {
            t.vlan = v;
            t.has |= FlowTuple::HAS_VLAN;
        }
        if let Some(p) = self.protocol {
            t.protocol = p;
            t.has |= FlowTuple::HAS_PROTO;
        }
        if let Some(a) = self.src_addr {
            t.src = addr_bytes(a);
            t.has |= FlowTuple::HAS_SRC;
        }
        if let Some(a) = self.dst_addr {
            t.dst = addr_bytes(a);
            t.has |= FlowTuple::HAS_DST;
        }
        if let (Some(s), Some(d)) = (self.src_port, self.dst_port) {
            (t.src_port, t.dst_port) = (s, d);
            t.has |= FlowTuple::HAS_PORTS;
        }
        t
    }

    fn new(t: &FlowTuple) -> FlowRecord {
        let has = |bit| t.has & bit != 0;
        let session_id = (t.meta >> 24) as u8;
        let addr = |b: &[u8; 16]| -> IpAddr {
            match t.ip_version {
                4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                _ => IpAddr::V6(Ipv6Addr::from(*b)),
            }
        };
        let ip = t.ip_version != 0;
        FlowRecord {
            first_ts_ns: u64::MAX,
            last_ts_ns: 0,
            vni: (session_id != UNTAGGED).then_some(t.meta & 0x00ff_ffff),
            session_id,
            ether_type: t.ether_type,
            vlan: has(FlowTuple::HAS_VLAN).then_some(t.vlan),
            ip_version: ip.then_some(t.ip_version),
            protocol: (ip && has(FlowTuple::HAS_PROTO)).then_some(t.protocol),
            src_addr: (ip && has(FlowTuple::HAS_SRC)).then(|| addr(&t.src)),
            dst_addr: (ip && has(FlowTuple::HAS_DST)).then(|| addr(&t.dst)),
            src_port: has(FlowTuple::HAS_PORTS).then_some(t.src_port),
            dst_port: has(FlowTuple::HAS_PORTS).then_some(t.dst_port),
            packets: 0,
            bytes: 0,
            captured_bytes: 0,
            tcp_flags: 0,
            truncated: 0,
        }
    }

    /// Adds `other`'s counts and times (the same flow).
    pub fn absorb(&mut self, other: &FlowRecord) {
        self.first_ts_ns = self.first_ts_ns.min(other.first_ts_ns);
        self.last_ts_ns = self.last_ts_ns.max(other.last_ts_ns);
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.captured_bytes += other.captured_bytes;
        self.tcp_flags |= other.tcp_flags;
        self.truncated += other.truncated;
    }
}

/// The session id of untagged records (`mirrorcap_ring::record_meta`).
const UNTAGGED: u8 = 255;

fn addr_bytes(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Aggregates records into flow records; see the module doc.
#[derive(Debug, Default)]
pub struct FlowTable {
    /// Seeded: flow tuples are fields an outside sender chooses (see `mirrorcap_index`'s hash).
    index: HashMap<FlowTuple, usize, SeededState>,
    rows: Vec<FlowRecord>,
    /// The last tuple added and its row.
    last: Option<(FlowTuple, usize)>,
}

impl FlowTable {
    pub fn new() -> FlowTable {
        FlowTable::default()
    }

    /// One record: capture time, the inner frame as stored, its original length and its
    /// metadata word.
    #[inline]
    pub fn push(&mut self, ts_ns: u64, frame: &[u8], orig_len: u32, meta: u32) {
        let (t, flags) = FlowTuple::extract(frame, meta);
        let i = self.row(&t);
        let r = &mut self.rows[i];
        r.first_ts_ns = r.first_ts_ns.min(ts_ns);
        r.last_ts_ns = r.last_ts_ns.max(ts_ns);
        r.packets += 1;
        r.bytes += u64::from(orig_len);
        r.captured_bytes += frame.len() as u64;
        r.tcp_flags |= flags;
        r.truncated += u64::from((frame.len() as u64) < u64::from(orig_len));
    }

    /// Adds a row (of another file) to its flow's.
    pub fn merge(&mut self, rec: &FlowRecord) {
        let i = self.row(&rec.tuple());
        self.rows[i].absorb(rec);
    }

    fn row(&mut self, t: &FlowTuple) -> usize {
        if let Some((last, i)) = &self.last {
            if last == t {
                return *i;
            }
        }
        let rows = &mut self.rows;
        let i = *self.index.entry(*t).or_insert_with(|| {
            rows.push(FlowRecord::new(t));
            rows.len() - 1
        });
        self.last = Some((*t, i));
        i
    }

    /// Flows so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, by first packet time (then as first seen), leaving the table empty with its
    /// memory kept for the next file.
    pub fn take(&mut self) -> Vec<FlowRecord> {
        self.index.clear();
        self.last = None;
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_by_key(|r| r.first_ts_ns);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(src: u8, sport: u16, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&[10, 0, 0, src, 10, 0, 0, 99]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&[0, 53, 0, 8, 0, 0]);
        f.resize(len.max(f.len()), 0);
        f
    }

    #[test]
    fn packets_of_a_flow_add_up_and_directions_and_sessions_are_apart() {
        let mut t = FlowTable::new();
        let a = udp(1, 1000, 100);
        t.push(30, &a, 100, 42);
        t.push(10, &a, 150, 42); // cut copy of a 150-byte frame, earlier in time
        t.push(20, &udp(2, 1000, 80), 80, 42);
        t.push(40, &a, 100, 43); // another VNI
        t.push(50, &a, 100, 0xff00_0000); // untagged
        let rows = t.take();
        assert_eq!(rows.len(), 4);
        assert!(t.is_empty());
        let r = &rows[0];
        assert_eq!((r.first_ts_ns, r.last_ts_ns, r.packets), (10, 30, 2));
        assert_eq!((r.bytes, r.captured_bytes, r.truncated), (250, 200, 1));
        assert_eq!(r.vni, Some(42));
        assert_eq!(r.src_addr, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            (r.src_port, r.dst_port, r.protocol),
            (Some(1000), Some(53), Some(17))
        );
        assert_eq!(rows[2].vni, Some(43));
        assert_eq!((rows[3].vni, rows[3].session_id), (None, 255));
    }

    #[test]
    fn merging_rows_gives_the_table_of_all_their_packets() {
        let frames: Vec<(u64, Vec<u8>)> = (0..200u64)
            .map(|i| {
                (
                    i,
                    udp((i % 7) as u8, 1000 + (i % 3) as u16, 60 + i as usize),
                )
            })
            .collect();
        let mut whole = FlowTable::new();
        let (mut a, mut b) = (FlowTable::new(), FlowTable::new());
        for (i, (ts, f)) in frames.iter().enumerate() {
            whole.push(*ts, f, f.len() as u32, 5);
            if i % 2 == 0 { &mut a } else { &mut b }.push(*ts, f, f.len() as u32, 5);
        }
        let mut merged = FlowTable::new();
        for r in a.take().iter().chain(b.take().iter()) {
            merged.merge(r);
        }
        assert_eq!(merged.take(), whole.take());
    }
}
