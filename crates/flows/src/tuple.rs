//! [`FlowTuple`]: what one inner frame (the decapsulated Ethernet frame the ring stores) says
//! of its flow: EtherType, outer VLAN ID, IP version, protocol, addresses and ports, and its
//! TCP flags. One direction: a reply is another flow, as in VPC Flow Logs and NetFlow.
//!
//! Read at fixed offsets into a `Copy` struct: no allocation, and a frame cut short (snaplen,
//! AWS truncation) still gives the fields whose bytes it has. A frame too short for an IP
//! header is a flow of its EtherType alone; a non-first IP fragment has no ports (its
//! packets are a flow without ports, as they carry none). IPv6 is walked through up to eight
//! extension headers to the upper-layer protocol.

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;
/// IPv6 extension headers walked to reach the upper layer.
const MAX_EXT: usize = 8;
/// VLAN tags skipped to reach the EtherType of the payload.
const MAX_TAGS: usize = 2;

/// The flow of one frame; equal tuples are one flow. Absent fields are zero with their bit
/// clear in `has`, so the struct compares and hashes as plain bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    /// The record's metadata word (`mirrorcap_ring::RecordMeta`: VNI and session id).
    pub meta: u32,
    /// The EtherType after the VLAN tags.
    pub ether_type: u16,
    /// The outer VLAN ID, when tagged ([`Self::HAS_VLAN`]).
    pub vlan: u16,
    /// 4 or 6, 0 for non-IP.
    pub ip_version: u8,
    /// IPv4 protocol / IPv6 upper-layer next header ([`Self::HAS_PROTO`]).
    pub protocol: u8,
    pub has: u8,
    /// Addresses, IPv4 in the first four bytes ([`Self::HAS_SRC`], [`Self::HAS_DST`]).
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// Ports, with [`Self::HAS_PORTS`] (TCP, UDP, SCTP; both present).
    pub src_port: u16,
    pub dst_port: u16,
}

impl FlowTuple {
    pub const HAS_VLAN: u8 = 1;
    pub const HAS_PROTO: u8 = 2;
    pub const HAS_SRC: u8 = 4;
    pub const HAS_DST: u8 = 8;
    pub const HAS_PORTS: u8 = 16;

    /// The tuple of `frame` with its metadata word `meta`, and its TCP flags (0 when not TCP
    /// or cut before them).
    #[inline]
    pub fn extract(frame: &[u8], meta: u32) -> (FlowTuple, u8) {
        let mut t = FlowTuple {
            meta,
            ..FlowTuple::default()
        };
        let Some(mut ether_type) = be16(frame, 12) else {
            return (t, 0);
        };
        let mut at = 14;
        for _ in 0..MAX_TAGS {
            if !matches!(
                ether_type,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            ) {
                break;
            }
            if t.has & Self::HAS_VLAN == 0 {
                if let Some(tci) = be16(frame, at) {
                    t.vlan = tci & 0x0fff;
                    t.has |= Self::HAS_VLAN;
                }
            }
            match be16(frame, at + 2) {
                Some(e) => ether_type = e,
                None => {
                    // Cut inside the tag: the payload's EtherType is unknown; the tag's stands.
                    t.ether_type = ether_type;
                    return (t, 0);
                }
            }
            at += 4;
        }
        t.ether_type = ether_type;
        let ip = &frame[at.min(frame.len())..];
        let l4 = match ether_type {
            ETHERTYPE_IPV4 => t.ipv4(ip),
            ETHERTYPE_IPV6 => t.ipv6(ip),
            _ => None,
        };
        let Some(l4) = l4 else {
            return (t, 0);
        };
        if let (Some(s), Some(d)) = (be16(l4, 0), be16(l4, 2)) {
            t.src_port = s;
            t.dst_port = d;
            t.has |= Self::HAS_PORTS;
        }
        let flags = if t.protocol == PROTO_TCP {
            l4.get(13).copied().unwrap_or(0)
        } else {
            0
        };
        (t, flags)
    }

    /// Fills the IPv4 fields; the transport header when it has ports and is the first
    /// fragment.
    fn ipv4<'a>(&mut self, ip: &'a [u8]) -> Option<&'a [u8]> {
        self.ip_version = 4;
        if let Some(p) = ip.get(9) {
            self.protocol = *p;
            self.has |= Self::HAS_PROTO;
        }
        if let Some(a) = ip.get(12..16) {
            self.src[..4].copy_from_slice(a);
            self.has |= Self::HAS_SRC;
        }
        if let Some(a) = ip.get(16..20) {
            self.dst[..4].copy_from_slice(a);
            self.has |= Self::HAS_DST;
        }
        let ihl = usize::from(*ip.first()? & 0x0f) * 4;
        let first_fragment = be16(ip, 6)? & 0x1fff == 0;
        (ihl >= 20 && first_fragment && self.has & Self::HAS_PROTO != 0 && ports(self.protocol))
            .then(|| ip.get(ihl..))
            .flatten()
    }

    /// Fills the IPv6 fields, walking extension headers to the upper layer.
    fn ipv6<'a>(&mut self, ip: &'a [u8]) -> Option<&'a [u8]> {
        self.ip_version = 6;
        if let Some(a) = ip.get(8..24) {
            self.src.copy_from_slice(a);
            self.has |= Self::HAS_SRC;
        }
        if let Some(a) = ip.get(24..40) {
            self.dst.copy_from_slice(a);
            self.has |= Self::HAS_DST;
        }
        let mut next = *ip.get(6)?;
        self.protocol = next;
        self.has |= Self::HAS_PROTO;
        let mut at = 40;
        for _ in 0..MAX_EXT {
            let len = match next {
                // Hop-by-hop, routing, destination options, mobility: (len + 1) * 8.
                0 | 43 | 60 | 135 => (usize::from(*ip.get(at + 1)?) + 1) * 8,
                // Fragment: a non-first fragment has no upper-layer header.
                44 => {
                    if be16(ip, at + 2)? & 0xfff8 != 0 {
                        self.protocol = *ip.get(at)?;
                        return None;
                    }
                    8
                }
                // AH: (len + 2) * 4.
                51 => (usize::from(*ip.get(at + 1)?) + 2) * 4,
                _ => break,
            };
            next = *ip.get(at)?;
            self.protocol = next;
            at += len;
        }
        ports(next).then(|| ip.get(at..)).flatten()
    }
}

fn ports(proto: u8) -> bool {
    matches!(proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP)
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ether_type: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ether_type.to_be_bytes());
        f
    }

    fn ipv4_tcp(flags: u8, frag: u16) -> Vec<u8> {
        let mut f = eth(ETHERTYPE_IPV4);
        f.extend_from_slice(&[0x45, 0, 0, 40, 0, 0]);
        f.extend_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&[64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, flags]);
        f.extend_from_slice(&[0; 6]);
        f
    }

    #[test]
    fn ipv4_tcp_gives_the_five_tuple_and_flags() {
        let (t, flags) = FlowTuple::extract(&ipv4_tcp(0x12, 0), 7);
        assert_eq!((t.ip_version, t.protocol, t.meta), (4, 6, 7));
        assert_eq!(&t.src[..4], &[10, 0, 0, 1]);
        assert_eq!(&t.dst[..4], &[10, 0, 0, 2]);
        assert_eq!((t.src_port, t.dst_port), (12345, 443));
        assert_eq!(flags, 0x12);
        assert_eq!(t.has & FlowTuple::HAS_PORTS, FlowTuple::HAS_PORTS);
    }

    #[test]
    fn a_non_first_fragment_has_no_ports_and_a_cut_copy_keeps_what_it_has() {
        let (t, flags) = FlowTuple::extract(&ipv4_tcp(0x02, 100), 0);
        assert_eq!((t.has & FlowTuple::HAS_PORTS, flags), (0, 0));
        assert_eq!(t.protocol, 6);
        let f = ipv4_tcp(0x02, 0);
        let (t, _) = FlowTuple::extract(&f[..14 + 18], 0);
        assert_eq!(t.has, FlowTuple::HAS_PROTO | FlowTuple::HAS_SRC);
        let (t, _) = FlowTuple::extract(&f[..10], 0);
        assert_eq!(t, FlowTuple::default());
    }

    #[test]
    fn vlan_tags_are_skipped_and_the_outer_id_kept() {
        let mut f = eth(ETHERTYPE_VLAN);
        f.extend_from_slice(&[0x20, 0x64]); // PCP 1, VID 100
        f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        f.extend_from_slice(&[0x00, 0xc8]); // VID 200
        f.extend_from_slice(&0x0806u16.to_be_bytes()); // ARP
        f.extend_from_slice(&[0; 28]);
        let (t, _) = FlowTuple::extract(&f, 0);
        assert_eq!((t.vlan, t.ether_type, t.ip_version), (100, 0x0806, 0));
        assert_eq!(t.has, FlowTuple::HAS_VLAN);
    }

    #[test]
    fn ipv6_walks_extension_headers_to_udp() {
        let mut f = eth(ETHERTYPE_IPV6);
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 16, 0, 64]); // next header: hop-by-hop
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        f.extend_from_slice(&[0; 11]);
        f.push(1);
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        f.extend_from_slice(&[0; 11]);
        f.push(2);
        f.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop -> fragment
        f.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 9]); // fragment offset 0, M -> UDP
        f.extend_from_slice(&[0, 53, 0x13, 0x88, 0, 8, 0, 0]);
        let (t, flags) = FlowTuple::extract(&f, 0);
        assert_eq!((t.ip_version, t.protocol), (6, 17));
        assert_eq!((t.src_port, t.dst_port, flags), (53, 5000, 0));
        assert_eq!(t.dst[15], 2);
    }
}
