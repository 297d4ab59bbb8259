//! Builders for the generator's frames: an inner Ethernet/IPv4/UDP frame with a sequence
//! number, and its VXLAN encapsulation as VPC Traffic Mirroring sends it. Addresses come from
//! the documentation ranges (RFC 5737), so generated captures never name a real host.

/// The inner payload starts with the sequence number (8 bytes, big-endian) and this tag.
pub use mirrorcap_stamp::SEQ_TAG;

/// Outer addresses of a mirrored frame.
#[derive(Clone, Copy, Debug)]
pub struct OuterAddrs {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: [u8; 4],
    pub dst_ip: [u8; 4],
}

impl OuterAddrs {
    /// A mirror source ENI per flow group (198.51.100.10+) sending to the target 198.51.100.1.
    pub fn default_for(flow: u16) -> Self {
        OuterAddrs {
            src_mac: [0x02, 0x00, 0x00, 0x00, 0x0b, 0x01],
            dst_mac: [0x02, 0x00, 0x00, 0x00, 0x0a, 0x01],
            src_ip: [198, 51, 100, 10 + (flow % 8) as u8],
            dst_ip: [198, 51, 100, 1],
        }
    }
}

/// The ones'-complement checksum of an IPv4 header.
pub fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in h.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The fields of a generated IPv4 header (protocol UDP, no options).
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Hdr {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
    pub id: u16,
    /// Flags and fragment offset word (0x4000 = DF, 0x2000 = MF).
    pub flags_frag: u16,
}

/// Appends a 20-byte IPv4 header carrying `payload_len` bytes of UDP.
pub fn push_ipv4(out: &mut Vec<u8>, h: &Ipv4Hdr, payload_len: usize) {
    let start = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    out.extend_from_slice(&h.id.to_be_bytes());
    out.extend_from_slice(&h.flags_frag.to_be_bytes());
    out.extend_from_slice(&[h.ttl, 17, 0, 0]);
    out.extend_from_slice(&h.src);
    out.extend_from_slice(&h.dst);
    let c = ipv4_checksum(&out[start..start + 20]);
    out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
}

/// Appends an Ethernet header.
pub fn push_eth(out: &mut Vec<u8>, dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    out.extend_from_slice(&ethertype.to_be_bytes());
}

/// Appends a UDP header (checksum 0, as VXLAN senders do) for `payload_len` bytes.
pub fn push_udp(out: &mut Vec<u8>, sport: u16, dport: u16, payload_len: usize) {
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    out.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}

/// An inner Ethernet/IPv4/UDP frame of exactly `size` bytes (60..=9019) carrying `seq`.
pub fn inner_frame(seq: u64, flow: u16, size: usize) -> Vec<u8> {
    inner_frame_tagged(seq, flow, size, None)
}

/// Appends the inner frame's Ethernet header (02:00:00:00:01:01 to 02:00:00:00:02:02, IPv4),
/// with an 802.1Q tag when `vlan` is set.
pub fn push_inner_eth(f: &mut Vec<u8>, vlan: Option<u16>) {
    let (dst, src) = ([0x02, 0, 0, 0, 0x02, 0x02], [0x02, 0, 0, 0, 0x01, 0x01]);
    match vlan {
        Some(id) => {
            push_eth(f, dst, src, 0x8100);
            f.extend_from_slice(&(id & 0x0fff).to_be_bytes());
            f.extend_from_slice(&0x0800u16.to_be_bytes());
        }
        None => push_eth(f, dst, src, 0x0800),
    }
}

/// Like [`inner_frame`], with an 802.1Q tag (VLAN id `vlan`) after the MAC addresses when given;
/// the sequence number then starts at byte 46 instead of 42.
pub fn inner_frame_tagged(seq: u64, flow: u16, size: usize, vlan: Option<u16>) -> Vec<u8> {
    let size = size.max(60);
    let mut f = Vec::with_capacity(size);
    push_inner_eth(&mut f, vlan);
    let udp_payload = size - f.len() - 20 - 8;
    let ip = Ipv4Hdr {
        src: [192, 0, 2, (flow % 250) as u8 + 1],
        dst: [203, 0, 113, 7],
        ttl: 64,
        id: seq as u16,
        flags_frag: 0x4000,
    };
    push_ipv4(&mut f, &ip, 8 + udp_payload);
    push_udp(&mut f, 10_000 + flow, 443, udp_payload);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(SEQ_TAG);
    while f.len() < size {
        f.push((f.len() % 251) as u8);
    }
    f
}

/// A hash of the inner 5-tuple for the outer UDP source port (so RSS spreads inner flows), in
/// the ephemeral range as AWS uses it.
fn flow_port(inner: &[u8]) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in inner.get(26..38).unwrap_or(&[]) {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    49152 + (h % 16384) as u16
}

/// The 8-byte VXLAN header: flags 0x08 (VNI valid), `vni`.
pub fn vxlan_header(vni: u32) -> [u8; 8] {
    let v = ((vni & 0x00ff_ffff) << 8).to_be_bytes();
    [0x08, 0, 0, 0, v[0], v[1], v[2], v[3]]
}

/// The outer UDP source port AWS would pick for `inner` (a hash of its 5-tuple).
pub fn mirror_source_port(inner: &[u8]) -> u16 {
    flow_port(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_frame_has_requested_size_and_valid_headers() {
        for size in [60, 61, 1514, 9000] {
            let f = inner_frame(7, 3, size);
            assert_eq!(f.len(), size);
            let p = etherparse::SlicedPacket::from_ethernet(&f).expect("parses");
            let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
                panic!("not ipv4")
            };
            assert_eq!(ip.header().total_len() as usize, size - 14);
            assert_eq!(
                ipv4_checksum(ip.header().slice()),
                0,
                "checksum verifies to zero"
            );
            assert_eq!(&f[42..50], &7u64.to_be_bytes());
        }
    }

    #[test]
    fn vxlan_frame_matches_aws_format() {
        let inner = inner_frame(1, 1, 100);
        let f = crate::gen::encapsulate(
            crate::gen::Encap::Vxlan,
            0,
            &OuterAddrs::default_for(1),
            1,
            0x123456,
            mirror_source_port(&inner),
            &inner,
        );
        let p = etherparse::SlicedPacket::from_ethernet(&f).expect("parses");
        let Some(etherparse::TransportSlice::Udp(u)) = p.transport else {
            panic!("not udp")
        };
        assert_eq!(u.destination_port(), 4789);
        assert!(u.source_port() >= 49152);
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("not ipv4")
        };
        assert_eq!(ip.header().ttl(), 255);
        assert_eq!(ip.header().identification(), 0);
        assert_eq!(&f[42..50], &[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        assert_eq!(&f[50..], &inner[..]);
    }

    #[test]
    fn inner_frames_carry_a_stamp_the_appliance_reads() {
        let f = inner_frame(42, 1, 60);
        let s = mirrorcap_stamp::read_stamp(&f[42..]).expect("stamped");
        assert_eq!(s.seq, 42);
    }
}
