//! The flow index's previous builder and key extraction, verbatim (before the compact key and
//! the per-kind block term sets): the reference the builder is held to, byte for byte, by the
//! tests below.
#![allow(dead_code)]

use crate::format::encode;
use crate::hash::SeededState;
use crate::term::{Key, Kind};
use mirrorcap_wire::ipv4::field as v4f;
use mirrorcap_wire::ipv6::field as v6f;
use mirrorcap_wire::{ethernet, ipv6, vlan, EthernetFrame, Ipv6ExtHeader};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// VLAN tags read (and their VLAN IDs indexed); a third tag's TPID is the last EtherType.
const MAX_TAGS: usize = 2;
/// Protocol values kept per frame: the first next header, then the following ones; when
/// more follow, the last slot keeps the newest, so the upper layer's is always there.
const MAX_PROTOS: usize = 4;
/// IPv6 extension headers walked.
const MAX_EXT: usize = 8;

const ETHERTYPE_RARP: u16 = 0x8035;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;
const NH_AH: u8 = 51;
const NH_MOBILITY: u8 = 135;
/// Session id of untagged records in the metadata word (`mirrorcap_ring::RecordMeta`: bits
/// 0..24 VNI, 24..32 session id, 255 = no tunnel).
const UNTAGGED_SESSION_ID: u32 = 255;

/// The flow terms of one frame; endpoints in canonical order (the smaller (address, port)
/// first), so both directions of a flow give the same key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefKey {
    vni: Option<u32>,
    ethertypes: [u16; MAX_TAGS + 1],
    n_ethertypes: u8,
    vlans: [u16; MAX_TAGS],
    n_vlans: u8,
    protos: [u8; MAX_PROTOS],
    n_protos: u8,
    /// Addresses present (either may be missing from a cut header); ARP's are IPv4.
    addrs: [Option<IpAddr>; 2],
    /// Ports of `addrs[0]` and `addrs[1]`, when the frame has them (each on its own: a copy
    /// cut after the source port still has that one, for libpcap too).
    ports: [Option<u16>; 2],
}

fn arr<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    arr::<2>(b, at).map(u16::from_be_bytes)
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP)
}

impl RefKey {
    /// The key of `frame` (an Ethernet frame as the ring stores it) with its record metadata
    /// word `meta` (`RecordMeta.0`). Never fails: what is not there is not indexed.
    pub fn extract(frame: &[u8], meta: u32) -> RefKey {
        let mut k = RefKey {
            vni: (meta >> 24 != UNTAGGED_SESSION_ID).then_some(meta & 0x00ff_ffff),
            ..RefKey::default()
        };
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return k;
        };
        let mut ethertype = eth.ethertype();
        let mut rest = eth.payload();
        k.push_ethertype(ethertype);
        while vlan::is_tpid(ethertype) && usize::from(k.n_vlans) < MAX_TAGS {
            // libpcap's `vlan N` reads the TCI alone: a tag cut after it still has its ID.
            let Some(tci) = be16(rest, vlan::field::TCI) else {
                return k;
            };
            k.vlans[usize::from(k.n_vlans)] = tci & 0x0fff;
            k.n_vlans += 1;
            let Some(next) = be16(rest, vlan::field::ETHERTYPE) else {
                return k;
            };
            ethertype = next;
            rest = rest.get(vlan::HEADER_LEN..).unwrap_or(&[]);
            k.push_ethertype(ethertype);
        }
        match ethertype {
            ethernet::ETHERTYPE_IPV4 => k.ipv4(rest),
            ethernet::ETHERTYPE_IPV6 => k.ipv6(rest),
            ethernet::ETHERTYPE_ARP | ETHERTYPE_RARP => {
                // libpcap's `host` on ARP: sender protocol address at 14, target at 24.
                k.addrs = [
                    arr::<4>(rest, 14).map(|a| IpAddr::V4(Ipv4Addr::from(a))),
                    arr::<4>(rest, 24).map(|a| IpAddr::V4(Ipv4Addr::from(a))),
                ];
            }
            _ => {}
        }
        k.normalize();
        k
    }

    fn push_ethertype(&mut self, t: u16) {
        self.ethertypes[usize::from(self.n_ethertypes)] = t;
        self.n_ethertypes += 1;
    }

    fn push_proto(&mut self, p: u8) {
        let n = usize::from(self.n_protos);
        if n < MAX_PROTOS {
            self.protos[n] = p;
            self.n_protos += 1;
        } else {
            self.protos[MAX_PROTOS - 1] = p;
        }
    }

    fn ipv4(&mut self, ip: &[u8]) {
        self.addrs = [
            arr::<4>(ip, v4f::SRC).map(|a| IpAddr::V4(a.into())),
            arr::<4>(ip, v4f::DST).map(|a| IpAddr::V4(a.into())),
        ];
        let Some(&proto) = ip.get(v4f::PROTOCOL) else {
            return;
        };
        self.push_proto(proto);
        let first = be16(ip, v4f::FLAGS_FRAG)
            .is_some_and(|f| f & mirrorcap_wire::ipv4::FRAG_OFFSET_MASK == 0);
        if has_ports(proto) && first {
            if let Some(&vi) = ip.get(v4f::VER_IHL) {
                self.set_ports(ip, usize::from(vi & 0x0f) * 4);
            }
        }
    }

    fn ipv6(&mut self, ip: &[u8]) {
        self.addrs = [
            arr::<16>(ip, v6f::SRC).map(|a| IpAddr::V6(Ipv6Addr::from(a))),
            arr::<16>(ip, v6f::DST).map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        ];
        let Some(&first) = ip.get(v6f::NEXT_HEADER) else {
            return;
        };
        self.push_proto(first);
        let mut nh = first;
        let mut at = ipv6::HEADER_LEN;
        for _ in 0..MAX_EXT {
            let Some(ext) = ip.get(at..) else { return };
            match nh {
                ipv6::NH_HOP_BY_HOP | ipv6::NH_ROUTING | ipv6::NH_DEST_OPTS | NH_MOBILITY => {
                    let Ok(h) = Ipv6ExtHeader::new_checked(ext) else {
                        return;
                    };
                    nh = h.next_header();
                    at += h.header_len();
                }
                NH_AH => {
                    // AH counts its length in 4-octet units, minus 2.
                    let (Some(&next), Some(&len)) = (ext.first(), ext.get(1)) else {
                        return;
                    };
                    nh = next;
                    at += (usize::from(len) + 2) * 4;
                }
                ipv6::NH_FRAGMENT => {
                    // libpcap's `ip6 proto N` also reads a fragment header's next header.
                    let Some(&next) = ext.first() else { return };
                    self.push_proto(next);
                    let Some(off) = be16(ext, 2) else { return };
                    if off & 0xfff8 != 0 {
                        return; // not the first fragment: no ports
                    }
                    nh = next;
                    at += 8;
                    continue;
                }
                _ => break,
            }
            self.push_proto(nh);
        }
        if has_ports(nh) {
            self.set_ports(ip, at);
        }
    }

    fn set_ports(&mut self, ip: &[u8], l4: usize) {
        self.ports = [be16(ip, l4), be16(ip, l4.saturating_add(2))];
    }

    /// Puts the smaller endpoint first.
    fn normalize(&mut self) {
        if (self.addrs[1], self.ports[1]) < (self.addrs[0], self.ports[0]) {
            self.addrs.swap(0, 1);
            self.ports.swap(0, 1);
        }
    }

    /// The mirror session's VNI; `None` for an untagged record.
    pub fn vni(&self) -> Option<u32> {
        self.vni
    }

    /// The EtherTypes: at offset 12, then after each VLAN tag read.
    pub fn ethertypes(&self) -> &[u16] {
        &self.ethertypes[..usize::from(self.n_ethertypes)]
    }

    /// The VLAN IDs of the first two tags.
    pub fn vlans(&self) -> &[u16] {
        &self.vlans[..usize::from(self.n_vlans)]
    }

    /// The IP protocols / IPv6 next headers (see [`MAX_PROTOS`]).
    pub fn protos(&self) -> &[u8] {
        &self.protos[..usize::from(self.n_protos)]
    }

    /// The endpoints, smaller first: each address (if present) and its port (if the frame has
    /// ports).
    pub fn endpoints(&self) -> [(Option<IpAddr>, Option<u16>); 2] {
        [
            (self.addrs[0], self.ports[0]),
            (self.addrs[1], self.ports[1]),
        ]
    }

    /// Calls `f` with each dictionary key of this frame (duplicates possible).
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(Key)) {
        match self.vni {
            Some(v) => f(Key::new(Kind::Vni, v.into())),
            None => f(Key::new(Kind::Untagged, 0)),
        }
        for &t in self.ethertypes() {
            f(Key::new(Kind::EtherType, t.into()));
        }
        for &v in self.vlans() {
            f(Key::new(Kind::Vlan, v.into()));
        }
        for &p in self.protos() {
            f(Key::new(Kind::Proto, p.into()));
        }
        for a in self.addrs.into_iter().flatten() {
            f(Key::addr(a));
        }
        for p in self.ports.into_iter().flatten() {
            f(Key::new(Kind::Port, p.into()));
        }
    }

    /// This frame's terms (duplicates possible), for tests and tools.
    pub fn terms(&self) -> Vec<crate::Term> {
        let mut v = Vec::new();
        self.for_each_key(|k| v.push(k.term()));
        v
    }
}

/// Hashes the key as a few packed words (a derived `Hash` makes one call per field).
impl std::hash::Hash for RefKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let e = &self.ethertypes;
        h.write_u64(
            u64::from(self.vni.map_or(1 << 24, |v| v))
                | u64::from(self.n_ethertypes) << 32
                | u64::from(self.n_vlans) << 40
                | u64::from(self.n_protos) << 48,
        );
        h.write_u64(
            u64::from(e[0])
                | u64::from(e[1]) << 16
                | u64::from(e[2]) << 32
                | u64::from(self.vlans[0]) << 48,
        );
        h.write_u64(
            u64::from(self.vlans[1])
                | u64::from(u32::from_le_bytes(self.protos)) << 16
                | u64::from(self.ports[0].map_or(0x1_0000, u32::from)) << 40,
        );
        h.write_u64(u64::from(self.ports[1].map_or(0x1_0000, u32::from)));
        for a in self.addrs {
            match a {
                None => h.write_u8(0),
                Some(IpAddr::V4(a)) => h.write_u64(u64::from(u32::from(a)) | 1 << 32),
                Some(IpAddr::V6(a)) => h.write_u128(u128::from(a)),
            }
        }
    }
}

/// Builds one file's flow index.
#[derive(Debug, Default)]
pub struct RefBuilder {
    /// Keys seen in block `seen_block`.
    seen: HashSet<RefKey, SeededState>,
    seen_block: u32,
    /// The last key added (in `seen`).
    last: Option<RefKey>,
    /// Terms of the flows in `seen`.
    block_terms: HashSet<Key, SeededState>,
    postings: HashMap<Key, Vec<u32>, SeededState>,
    blocks: u32,
    frames: u64,
}

impl RefBuilder {
    pub fn new() -> RefBuilder {
        RefBuilder::default()
    }

    /// Adds a frame (the inner Ethernet frame as stored) of block `block_no`, with its record
    /// metadata word (`RecordMeta.0`: VNI and session id). Blocks normally come in ascending
    /// order; any order gives the same index, only slower. Block numbers must stay below
    /// [`crate::MAX_BLOCKS`] (2^24), or the index is refused when parsed.
    pub fn push(&mut self, block_no: u32, frame: &[u8], meta: u32) {
        self.add(block_no, RefKey::extract(frame, meta));
    }

    /// Adds a frame's already extracted key.
    pub fn add(&mut self, block_no: u32, key: RefKey) {
        self.frames += 1;
        self.blocks = self.blocks.max(block_no.saturating_add(1));
        if block_no != self.seen_block {
            self.flush();
            self.seen.clear();
            self.last = None;
            self.seen_block = block_no;
        }
        // Packets of a flow come in trains (a TCP window, a burst): the last key is free.
        if self.last == Some(key) {
            return;
        }
        self.last = Some(key);
        if !self.seen.insert(key) {
            return;
        }
        key.for_each_key(|k| {
            self.block_terms.insert(k);
        });
    }

    /// Moves the current block's terms into the postings: one update of the (large) posting
    /// map per distinct term of the block, not per flow.
    fn flush(&mut self) {
        let block_no = self.seen_block;
        for k in self.block_terms.drain() {
            let list = self.postings.entry(k).or_default();
            // Ascending blocks: a repeat is the last entry. Others are deduplicated at the end.
            if list.last() != Some(&block_no) {
                list.push(block_no);
            }
        }
    }

    /// Declares that the file has at least `blocks` blocks (blocks with no frame pushed, such
    /// as an empty file's block 0, then exist in the index and match no term).
    pub fn set_block_count(&mut self, blocks: u32) {
        self.blocks = self.blocks.max(blocks);
    }

    /// Frames pushed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The index bytes ([`crate::FlowIndex::parse`] reads them).
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        let mut terms: Vec<(Key, Vec<u32>)> = self.postings.into_iter().collect();
        terms.sort_unstable_by_key(|t| t.0);
        for (_, list) in &mut terms {
            list.sort_unstable();
            list.dedup();
        }
        encode(&terms, self.blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FlowKey, IndexBuilder};
    use proptest::prelude::*;

    /// Few addresses and ports, so flows repeat within and across blocks.
    const V4: [[u8; 4]; 3] = [[10, 0, 0, 1], [10, 0, 0, 2], [192, 168, 1, 1]];
    const V6: [u8; 3] = [1, 2, 0xfe];
    const PORTS: [u16; 4] = [0, 53, 443, 40000];

    /// One frame: chosen headers in front of random bytes, then cut and damaged.
    #[derive(Clone, Debug)]
    struct F {
        meta: u32,
        tags: Vec<(u16, u16)>,
        ethertype: u16,
        /// IPv4 version/IHL byte, flags/fragment word, protocol (or IPv6 next header).
        vi: u8,
        ff: u16,
        proto: u8,
        src: usize,
        dst: usize,
        sport: u16,
        dport: u16,
        /// IPv6 extension headers: (type, length byte).
        ext: Vec<(u8, u8)>,
        tail: Vec<u8>,
        cut: Option<usize>,
        flip: Option<(usize, u8)>,
        /// Raw bytes instead of all the above.
        raw: Option<Vec<u8>>,
    }

    fn frame(f: &F) -> Vec<u8> {
        if let Some(r) = &f.raw {
            return r.clone();
        }
        let mut b = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        for &(tpid, tci) in &f.tags {
            b.extend_from_slice(&tpid.to_be_bytes());
            b.extend_from_slice(&tci.to_be_bytes());
        }
        b.extend_from_slice(&f.ethertype.to_be_bytes());
        let ports = |b: &mut Vec<u8>| {
            b.extend_from_slice(&f.sport.to_be_bytes());
            b.extend_from_slice(&f.dport.to_be_bytes());
        };
        match f.ethertype {
            0x0800 => {
                b.extend_from_slice(&[f.vi, 0, 0, 60, 0, 1]);
                b.extend_from_slice(&f.ff.to_be_bytes());
                b.extend_from_slice(&[64, f.proto, 0, 0]);
                b.extend_from_slice(&V4[f.src % 3]);
                b.extend_from_slice(&V4[f.dst % 3]);
                let ihl = usize::from(f.vi & 0x0f) * 4;
                b.resize(b.len() + ihl.saturating_sub(20), 1);
                ports(&mut b);
            }
            0x86dd => {
                let first = f.ext.first().map_or(f.proto, |e| e.0);
                b.extend_from_slice(&[0x60, 0, 0, 0, 0, 40, first, 64]);
                for a in [f.src, f.dst] {
                    let mut x = [0u8; 16];
                    x[0] = 0xfd;
                    x[15] = V6[a % 3];
                    b.extend_from_slice(&x);
                }
                for (i, &(_, len)) in f.ext.iter().enumerate() {
                    let next = f.ext.get(i + 1).map_or(f.proto, |e| e.0);
                    b.extend_from_slice(&[next, len]);
                    b.extend_from_slice(&f.ff.to_be_bytes());
                    b.extend_from_slice(&[0; 4]);
                    b.resize(b.len() + usize::from(len) * 8, 0);
                }
                ports(&mut b);
            }
            0x0806 | 0x8035 => {
                b.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1]);
                b.extend_from_slice(&V4[f.src % 3]);
                b.extend_from_slice(&[0; 6]);
                b.extend_from_slice(&V4[f.dst % 3]);
            }
            _ => {}
        }
        b.extend_from_slice(&f.tail);
        if let Some((at, x)) = f.flip {
            let i = at % b.len();
            b[i] ^= x;
        }
        if let Some(c) = f.cut {
            b.truncate(c % (b.len() + 1));
        }
        b
    }

    fn any_frame() -> impl Strategy<Value = F> {
        let head = (
            prop_oneof![
                3 => (prop::sample::select(&[0u32, 7, 0xff_ffff][..]), 0u32..3)
                    .prop_map(|(v, s)| v | s << 24),
                1 => Just(255u32 << 24),
            ],
            prop::collection::vec(
                (
                    prop::sample::select(&[0x8100u16, 0x88a8, 0x9100][..]),
                    prop::sample::select(&[0u16, 1, 100, 0x1fff, 0xffff][..]),
                ),
                0..4,
            ),
            prop_oneof![
                3 => Just(0x0800u16),
                3 => Just(0x86dd),
                1 => Just(0x0806),
                1 => Just(0x8035),
                1 => any::<u16>(),
            ],
            prop::sample::select(&[0x45u8, 0x46, 0x4f, 0x41, 0x65, 0x40][..]),
            prop::sample::select(&[0u16, 0x4000, 0x2000, 0x0001, 0x1fff, 0xfff8, 0x0008][..]),
            prop::sample::select(&[6u8, 17, 132, 1, 58, 47, 0, 43, 44, 60, 51, 135][..]),
        );
        let rest = (
            0usize..3,
            0usize..3,
            prop::sample::select(&PORTS[..]),
            prop::sample::select(&PORTS[..]),
            prop::collection::vec(
                (
                    prop::sample::select(&[0u8, 43, 60, 44, 51, 135][..]),
                    0u8..3,
                ),
                0..10,
            ),
            prop::collection::vec(any::<u8>(), 0..24),
            prop::option::weighted(0.3, any::<usize>()),
            prop::option::weighted(0.2, (any::<usize>(), 1u8..=255)),
            prop::option::weighted(0.05, prop::collection::vec(any::<u8>(), 0..90)),
        );
        (head, rest).prop_map(
            |(
                (meta, tags, ethertype, vi, ff, proto),
                (src, dst, sport, dport, ext, tail, cut, flip, raw),
            )| F {
                meta,
                tags,
                ethertype,
                vi,
                ff,
                proto,
                src,
                dst,
                sport,
                dport,
                ext,
                tail,
                cut,
                flip,
                raw,
            },
        )
    }

    /// Records: (block step, repeat the previous frame, frame). A step of 0 stays in the
    /// block, 1 and 2 move on, 3 goes back to block step / 2 (blocks out of order).
    fn records() -> impl Strategy<Value = Vec<(u8, bool, F)>> {
        prop::collection::vec(
            (
                prop_oneof![12 => Just(0u8), 3 => Just(1), 1 => Just(2), 1 => Just(3)],
                prop::bool::weighted(0.3),
                any_frame(),
            ),
            0..120,
        )
    }

    fn sorted(mut v: Vec<crate::Term>) -> Vec<crate::Term> {
        v.sort();
        v.dedup();
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The builder gives the previous builder's bytes, and each frame the previous key's
        /// terms and endpoints.
        #[test]
        fn same_bytes_as_the_reference(recs in records(), extra in 0u32..3) {
            let mut b = IndexBuilder::new();
            let mut r = RefBuilder::new();
            let mut block = 0u32;
            let mut prev: Option<Vec<u8>> = None;
            for (step, again, f) in &recs {
                block = match step {
                    3 => block / 2,
                    s => block + u32::from(*s),
                };
                let bytes = match (&prev, again) {
                    (Some(p), true) => p.clone(),
                    _ => frame(f),
                };
                let (k, rk) = (FlowKey::extract(&bytes, f.meta), RefKey::extract(&bytes, f.meta));
                prop_assert_eq!(sorted(k.terms()), sorted(rk.terms()));
                prop_assert_eq!(k.endpoints(), rk.endpoints());
                prop_assert_eq!(k.vni(), rk.vni());
                b.push(block, &bytes, f.meta);
                r.push(block, &bytes, f.meta);
                prev = Some(bytes);
            }
            let blocks = block + extra;
            b.set_block_count(blocks);
            r.set_block_count(blocks);
            prop_assert_eq!(b.finish(), r.finish());
        }

        /// Raw random frames, as the fuzzer would give them.
        #[test]
        fn random_frames_give_the_reference_terms(
            frames in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..120), any::<u32>()), 0..40)
        ) {
            let mut b = IndexBuilder::new();
            let mut r = RefBuilder::new();
            for (i, (f, meta)) in frames.iter().enumerate() {
                let block = i as u32 / 8;
                prop_assert_eq!(
                    sorted(FlowKey::extract(f, *meta).terms()),
                    sorted(RefKey::extract(f, *meta).terms())
                );
                b.push(block, f, *meta);
                r.push(block, f, *meta);
            }
            prop_assert_eq!(b.finish(), r.finish());
        }
    }

    /// Two directions, equal keys (both builders); the words tell keys apart exactly as `==`.
    #[test]
    fn words_are_the_key() {
        let mut frames = Vec::new();
        for src in 0..3 {
            for dst in 0..3 {
                for ethertype in [0x0800u16, 0x86dd, 0x0806] {
                    for cut in [None, Some(30), Some(36), Some(50), Some(56), Some(60)] {
                        let f = F {
                            meta: 7,
                            tags: vec![],
                            ethertype,
                            vi: 0x45,
                            ff: 0,
                            proto: 6,
                            src,
                            dst,
                            sport: PORTS[src % 2],
                            dport: PORTS[dst % 2 + 2],
                            ext: vec![],
                            tail: vec![],
                            cut,
                            flip: None,
                            raw: None,
                        };
                        frames.push(FlowKey::extract(&frame(&f), f.meta));
                    }
                }
            }
        }
        for a in &frames {
            for b in &frames {
                assert_eq!(a == b, a.words() == b.words(), "{a:?} {b:?}");
            }
        }
    }
}
