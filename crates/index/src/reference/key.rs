//! The previous key extraction, verbatim: [`RefKey`].

use crate::term::{Key, Kind};
use mirrorcap_wire::ipv4::field as v4f;
use mirrorcap_wire::ipv6::field as v6f;
use mirrorcap_wire::{ethernet, ipv6, vlan, EthernetFrame, Ipv6ExtHeader};
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
