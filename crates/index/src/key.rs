//! [`FlowKey`]: the terms of one inner frame (the decapsulated Ethernet frame the ring stores)
//! and its record metadata word, in a canonical, direction-independent order.
//!
//! **The rule: never miss what libpcap would match.** A query narrows blocks by the index and
//! confirms packets with libpcap, so a packet whose field libpcap's filter code reads must have
//! that field in the index, even when the packet is malformed. The extraction therefore reads
//! fields the way libpcap's generated code does: the EtherType at offset 12 (and after up to
//! two VLAN tags), IPv4 addresses and protocol at fixed offsets whatever the version nibble,
//! IHL or total length say, ports at `IHL * 4` when the protocol is TCP, UDP or SCTP and the
//! fragment offset is 0, ARP/RARP sender and target addresses (tcpdump's `host` matches them).
//! Every field needs only its own bytes: a copy cut short (snaplen, AWS truncation) still gives
//! the fields that are present. Extra terms only cost a block read; a missing one loses a
//! packet. Hence the fixed offsets of `mirrorcap-wire`'s field constants rather than its
//! `new_checked` views, which (rightly, for decapsulation) refuse such packets; the Ethernet and
//! IPv6 extension-header views are used as they are (a VLAN tag is read field by field: a tag
//! cut after its TCI still has its VLAN ID for libpcap).
//!
//! IPv6 is walked through up to eight extension headers (hop-by-hop, routing, destination
//! options, fragment, AH, mobility); every next-header value on the way is a protocol term, so
//! `ip6 proto 0` (the first) and the upper layer's (`tcp`) are both found. A non-first
//! fragment (IPv4 offset ≠ 0, IPv6 fragment offset ≠ 0) has no ports.
//!
//! Extraction reads a few fixed offsets into a `Copy` struct: no allocation, no loop but the
//! bounded tag and extension-header walks.

use crate::term::{Key, Kind};
use mirrorcap_wire::ipv4::field as v4f;
use mirrorcap_wire::ipv6::field as v6f;
use mirrorcap_wire::{ethernet, ipv6, vlan, EthernetFrame, Ipv6ExtHeader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// VLAN tags read (and their VLAN IDs indexed); a third tag's TPID is the last EtherType.
pub const MAX_TAGS: usize = 2;
/// Protocol values kept per frame: the first next header, then the following ones; when
/// more follow, the last slot keeps the newest, so the upper layer's is always there.
pub const MAX_PROTOS: usize = 4;
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

/// `FlowKey::fam` of an endpoint whose address is missing (a cut header, or no IP).
const NO_ADDR: u8 = 0;
const FAM_V4: u8 = 1;
const FAM_V6: u8 = 2;
/// `FlowKey::vni` of an untagged record (a VNI has 24 bits).
const NO_VNI: u32 = u32::MAX;

/// The flow terms of one frame; endpoints in canonical order (the smaller (address, port)
/// first), so both directions of a flow give the same key.
///
/// Fixed-size fields only (no `Option<IpAddr>`), packed by [`FlowKey::words`] into four
/// 128-bit words that the builder hashes and compares per frame; slots past a count stay zero,
/// so equal fields are equal keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// The VNI, or [`NO_VNI`] for an untagged record.
    vni: u32,
    ethertypes: [u16; MAX_TAGS + 1],
    vlans: [u16; MAX_TAGS],
    protos: [u8; MAX_PROTOS],
    n_ethertypes: u8,
    n_vlans: u8,
    n_protos: u8,
    /// Per endpoint: [`NO_ADDR`], [`FAM_V4`] (the address in the first 4 bytes, the rest zero;
    /// ARP's are IPv4) or [`FAM_V6`]. Either may be missing from a cut header.
    fam: [u8; 2],
    /// Per endpoint: whether the frame has its port (each on its own: a copy cut after the
    /// source port still has that one, for libpcap too); a missing port is 0 in `ports`.
    has_port: [bool; 2],
    ports: [u16; 2],
    addrs: [[u8; 16]; 2],
}

impl Default for FlowKey {
    fn default() -> Self {
        FlowKey {
            vni: NO_VNI,
            ethertypes: [0; MAX_TAGS + 1],
            vlans: [0; MAX_TAGS],
            protos: [0; MAX_PROTOS],
            n_ethertypes: 0,
            n_vlans: 0,
            n_protos: 0,
            fam: [NO_ADDR; 2],
            has_port: [false; 2],
            ports: [0; 2],
            addrs: [[0; 16]; 2],
        }
    }
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

impl FlowKey {
    /// The key of `frame` (an Ethernet frame as the ring stores it) with its record metadata
    /// word `meta` (`RecordMeta.0`). Never fails: what is not there is not indexed.
    pub fn extract(frame: &[u8], meta: u32) -> FlowKey {
        let mut k = FlowKey {
            vni: if meta >> 24 == UNTAGGED_SESSION_ID {
                NO_VNI
            } else {
                meta & 0x00ff_ffff
            },
            ..FlowKey::default()
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
                k.set_v4(0, arr::<4>(rest, 14));
                k.set_v4(1, arr::<4>(rest, 24));
            }
            _ => {}
        }
        k.normalize();
        k
    }

    fn set_v4(&mut self, i: usize, a: Option<[u8; 4]>) {
        if let Some(a) = a {
            self.fam[i] = FAM_V4;
            self.addrs[i][..4].copy_from_slice(&a);
        }
    }

    fn set_v6(&mut self, i: usize, a: Option<[u8; 16]>) {
        if let Some(a) = a {
            self.fam[i] = FAM_V6;
            self.addrs[i] = a;
        }
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
        self.set_v4(0, arr::<4>(ip, v4f::SRC));
        self.set_v4(1, arr::<4>(ip, v4f::DST));
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
        self.set_v6(0, arr::<16>(ip, v6f::SRC));
        self.set_v6(1, arr::<16>(ip, v6f::DST));
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
        for (i, p) in [be16(ip, l4), be16(ip, l4.saturating_add(2))]
            .into_iter()
            .enumerate()
        {
            if let Some(p) = p {
                self.has_port[i] = true;
                self.ports[i] = p;
            }
        }
    }

    /// Endpoint `i` as it orders: missing address < IPv4 < IPv6, then the address, then a
    /// missing port < any port (the order of `(Option<IpAddr>, Option<u16>)`).
    fn endpoint_order(&self, i: usize) -> (u8, u128, u32) {
        (
            self.fam[i],
            u128::from_be_bytes(self.addrs[i]),
            u32::from(self.has_port[i]) << 16 | u32::from(self.ports[i]),
        )
    }

    /// Puts the smaller endpoint first.
    fn normalize(&mut self) {
        if self.endpoint_order(1) < self.endpoint_order(0) {
            self.fam.swap(0, 1);
            self.addrs.swap(0, 1);
            self.has_port.swap(0, 1);
            self.ports.swap(0, 1);
        }
    }

    /// The key as four words: equal words, equal keys (every field is in them; slots past
    /// a count are zero). What the builder hashes and compares per frame.
    #[inline]
    pub(crate) fn words(&self) -> [u128; 4] {
        let e = &self.ethertypes;
        let meta = u128::from(self.vni)
            | u128::from(e[0]) << 32
            | u128::from(e[1]) << 48
            | u128::from(e[2]) << 64
            | u128::from(self.vlans[0]) << 80
            | u128::from(self.vlans[1]) << 96
            | u128::from(self.ports[0]) << 112;
        let rest = u128::from(self.ports[1])
            | u128::from(u32::from_le_bytes(self.protos)) << 16
            | u128::from(self.n_ethertypes) << 48
            | u128::from(self.n_vlans) << 56
            | u128::from(self.n_protos) << 64
            | u128::from(self.fam[0]) << 72
            | u128::from(self.fam[1]) << 80
            | u128::from(self.has_port[0]) << 88
            | u128::from(self.has_port[1]) << 96;
        [
            meta,
            rest,
            u128::from_le_bytes(self.addrs[0]),
            u128::from_le_bytes(self.addrs[1]),
        ]
    }

    fn addr(&self, i: usize) -> Option<IpAddr> {
        match self.fam[i] {
            FAM_V4 => {
                let mut a = [0u8; 4];
                a.copy_from_slice(&self.addrs[i][..4]);
                Some(IpAddr::V4(Ipv4Addr::from(a)))
            }
            FAM_V6 => Some(IpAddr::V6(Ipv6Addr::from(self.addrs[i]))),
            _ => None,
        }
    }

    fn port(&self, i: usize) -> Option<u16> {
        self.has_port[i].then_some(self.ports[i])
    }

    /// The mirror session's VNI; `None` for an untagged record.
    pub fn vni(&self) -> Option<u32> {
        (self.vni != NO_VNI).then_some(self.vni)
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
        [(self.addr(0), self.port(0)), (self.addr(1), self.port(1))]
    }

    /// Calls `f` with each dictionary key of this frame (duplicates possible).
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(Key)) {
        match self.vni() {
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
        for i in 0..2 {
            if let Some(a) = self.addr(i) {
                f(Key::addr(a));
            }
        }
        for i in 0..2 {
            if let Some(p) = self.port(i) {
                f(Key::new(Kind::Port, p.into()));
            }
        }
    }

    /// Calls the builder's sinks with this frame's terms, by kind, without building a [`Key`]
    /// per term (duplicates possible): what [`FlowKey::for_each_key`] gives, in other words.
    #[inline]
    pub(crate) fn visit(&self, v: &mut impl KeyVisitor) {
        match self.vni() {
            Some(x) => v.vni(x),
            None => v.untagged(),
        }
        for &t in self.ethertypes() {
            v.small(Kind::EtherType, t);
        }
        for &x in self.vlans() {
            v.small(Kind::Vlan, x);
        }
        for &p in self.protos() {
            v.small(Kind::Proto, p.into());
        }
        for i in 0..2 {
            match self.fam[i] {
                FAM_V4 => {
                    let mut a = [0u8; 4];
                    a.copy_from_slice(&self.addrs[i][..4]);
                    v.ipv4(u32::from_be_bytes(a));
                }
                FAM_V6 => v.ipv6(u128::from_be_bytes(self.addrs[i])),
                _ => {}
            }
        }
        for i in 0..2 {
            if self.has_port[i] {
                v.small(Kind::Port, self.ports[i]);
            }
        }
    }

    /// This frame's terms (duplicates possible), for tests and tools.
    pub fn terms(&self) -> Vec<crate::Term> {
        let mut v = Vec::new();
        self.for_each_key(|k| v.push(k.term()));
        v
    }
}

/// Where [`FlowKey::visit`] puts a frame's terms: 16-bit kinds (EtherType, VLAN, protocol,
/// port) apart from the rest.
pub(crate) trait KeyVisitor {
    fn vni(&mut self, vni: u32);
    fn untagged(&mut self);
    /// An EtherType, VLAN ID, protocol or port.
    fn small(&mut self, kind: Kind, val: u16);
    fn ipv4(&mut self, a: u32);
    fn ipv6(&mut self, a: u128);
}
