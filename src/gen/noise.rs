//! Frames that are not well-formed mirrored traffic, one of each kind the decapsulator must
//! count under a drop reason instead of capturing.
use super::frames::{inner_frame, push_eth, push_ipv4, push_udp, Ipv4Hdr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseKind {
    /// Plain IPv4 UDP to port 53.
    PlainUdp,
    /// An ARP request.
    Arp,
    /// IPv6 UDP to port 53.
    Ipv6Udp,
    /// UDP 4789 whose VXLAN header lacks the I flag.
    VxlanNoIFlag,
    /// UDP 4789 with only 4 bytes of VXLAN header.
    VxlanShort,
    /// A first IPv4 fragment (MF set) of UDP 4789.
    OuterFragment,
    /// An IPv6 packet with a fragment header (first fragment) carrying UDP 4789.
    Ipv6Fragment,
}

pub const NOISE_KINDS: [NoiseKind; 7] = [
    NoiseKind::PlainUdp,
    NoiseKind::Arp,
    NoiseKind::Ipv6Udp,
    NoiseKind::VxlanNoIFlag,
    NoiseKind::VxlanShort,
    NoiseKind::OuterFragment,
    NoiseKind::Ipv6Fragment,
];

impl NoiseKind {
    pub fn label(self) -> &'static str {
        match self {
            NoiseKind::PlainUdp => "plain_udp",
            NoiseKind::Arp => "arp",
            NoiseKind::Ipv6Udp => "ipv6_udp",
            NoiseKind::VxlanNoIFlag => "vxlan_no_i_flag",
            NoiseKind::VxlanShort => "vxlan_short",
            NoiseKind::OuterFragment => "outer_fragment",
            NoiseKind::Ipv6Fragment => "ipv6_fragment",
        }
    }
}

const DST: [u8; 6] = [0x02, 0, 0, 0, 0x0a, 0x01];
const SRC: [u8; 6] = [0x02, 0, 0, 0, 0x0c, 0x01];

/// One frame of `kind`; `n` varies its contents.
pub fn noise_frame(kind: NoiseKind, n: u64) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    let src_ip = [198, 51, 100, 20];
    let dst_ip = [198, 51, 100, 1];
    match kind {
        NoiseKind::PlainUdp => {
            push_eth(&mut f, DST, SRC, 0x0800);
            push_ipv4(
                &mut f,
                &Ipv4Hdr {
                    src: src_ip,
                    dst: dst_ip,
                    ttl: 64,
                    id: n as u16,
                    flags_frag: 0,
                },
                8 + 32,
            );
            push_udp(&mut f, 40000, 53, 32);
            f.extend_from_slice(&[0x5a; 32]);
        }
        NoiseKind::Arp => {
            push_eth(&mut f, [0xff; 6], SRC, 0x0806);
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&SRC);
            f.extend_from_slice(&src_ip);
            f.extend_from_slice(&[0; 6]);
            f.extend_from_slice(&dst_ip);
            f.resize(60, 0);
        }
        NoiseKind::Ipv6Udp => {
            push_eth(&mut f, DST, SRC, 0x86dd);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(8u16 + 16).to_be_bytes());
            f.extend_from_slice(&[17, 64]);
            f.extend_from_slice(&[
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14,
            ]);
            f.extend_from_slice(&[
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
            ]);
            push_udp(&mut f, 40000, 53, 16);
            f.extend_from_slice(&[0x6b; 16]);
        }
        NoiseKind::VxlanNoIFlag | NoiseKind::OuterFragment => {
            let inner = inner_frame(n, 0, 60);
            push_eth(&mut f, DST, SRC, 0x0800);
            let frag = if kind == NoiseKind::OuterFragment {
                0x2000
            } else {
                0
            };
            push_ipv4(
                &mut f,
                &Ipv4Hdr {
                    src: src_ip,
                    dst: dst_ip,
                    ttl: 255,
                    id: n as u16,
                    flags_frag: frag,
                },
                8 + 8 + inner.len(),
            );
            push_udp(&mut f, 50000, 4789, 8 + inner.len());
            let flags = if kind == NoiseKind::VxlanNoIFlag {
                0x00
            } else {
                0x08
            };
            f.extend_from_slice(&[flags, 0, 0, 0, 0, 0, 100, 0]);
            f.extend_from_slice(&inner);
        }
        NoiseKind::Ipv6Fragment => {
            let inner = inner_frame(n, 0, 60);
            push_eth(&mut f, DST, SRC, 0x86dd);
            let udp_len = 8 + 8 + inner.len();
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&((8 + udp_len) as u16).to_be_bytes());
            f.extend_from_slice(&[44, 255]);
            f.extend_from_slice(&[
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14,
            ]);
            f.extend_from_slice(&[
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
            ]);
            // Fragment header: next UDP, offset 0, M flag set, identification n.
            f.extend_from_slice(&[17, 0, 0x00, 0x01]);
            f.extend_from_slice(&(n as u32).to_be_bytes());
            push_udp(&mut f, 50000, 4789, 8 + inner.len());
            f.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 100, 0]);
            f.extend_from_slice(&inner);
        }
        NoiseKind::VxlanShort => {
            push_eth(&mut f, DST, SRC, 0x0800);
            push_ipv4(
                &mut f,
                &Ipv4Hdr {
                    src: src_ip,
                    dst: dst_ip,
                    ttl: 255,
                    id: 0,
                    flags_frag: 0,
                },
                8 + 4,
            );
            push_udp(&mut f, 50000, 4789, 4);
            f.extend_from_slice(&[0x08, 0, 0, 0]);
            f.resize(60, 0);
        }
    }
    f
}
