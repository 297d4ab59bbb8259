//! Encapsulations the generator can produce, as the ways mirrored traffic reaches a target:
//! VXLAN over IPv4 (an ENI or NLB target), VXLAN over IPv6, and a Gateway Load Balancer
//! endpoint's Geneve (with AWS options) around the mirror's IPv4/UDP 4789/VXLAN packet. Outer
//! 802.1Q/802.1ad tags optional. Addresses come from the documentation ranges.
use super::frames::{push_eth, push_ipv4, push_udp, vxlan_header, Ipv4Hdr, OuterAddrs};

/// How mirrored frames are wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    /// Ethernet / IPv4 / UDP 4789 / VXLAN / frame.
    Vxlan,
    /// Ethernet / IPv6 / UDP 4789 / VXLAN / frame.
    Vxlan6,
    /// Ethernet / IPv4 / UDP 6081 / Geneve (AWS options, protocol 0x0800) / IPv4 / UDP 4789 /
    /// VXLAN / frame: a mirror session whose target is a GWLB endpoint.
    Gwlb,
}

impl Encap {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "vxlan" => Ok(Encap::Vxlan),
            "vxlan6" => Ok(Encap::Vxlan6),
            "gwlb" => Ok(Encap::Gwlb),
            _ => Err(format!("--encap '{s}': use vxlan, vxlan6 or gwlb")),
        }
    }
}

/// The AWS Geneve options a GWLB adds (class 0x0108).
pub const GWLB_ENDPOINT_ID: u64 = 0x0123_4567_89ab_cdef;
pub const GWLB_ATTACHMENT_ID: u64 = 0x0fed_cba9_8765_4321;
pub const GWLB_FLOW_COOKIE: u32 = 0xc00c_1e5e;
/// The Geneve VNI the generator's GWLB uses.
pub const GWLB_VNI: u32 = 0;

/// Outer IPv6 source per flow group (2001:db8::10+) and the target 2001:db8::1.
fn ipv6_addrs(flow: u16) -> ([u8; 16], [u8; 16]) {
    let mut src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut dst = src;
    src[15] = 0x10 + (flow % 8) as u8;
    dst[15] = 1;
    (src, dst)
}

/// Appends a 40-byte IPv6 header (next header UDP, hop limit 255).
pub fn push_ipv6(out: &mut Vec<u8>, src: [u8; 16], dst: [u8; 16], payload_len: usize) {
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload_len as u16).to_be_bytes());
    out.extend_from_slice(&[17, 255]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
}

/// The UDP checksum over IPv6 (pseudo-header + datagram with its checksum field zero).
pub fn udp6_checksum(src: &[u8; 16], dst: &[u8; 16], udp: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64;
        }
    };
    add(src);
    add(dst);
    add(&(udp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 17]);
    add(udp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    match !(sum as u16) {
        0 => 0xffff,
        c => c,
    }
}

/// Appends Ethernet with `vlans` outer tags (802.1ad then 802.1Q, as a QinQ provider would).
fn push_eth_tagged(out: &mut Vec<u8>, o: &OuterAddrs, vlans: u8, ethertype: u16) {
    match vlans {
        0 => push_eth(out, o.dst_mac, o.src_mac, ethertype),
        1 => {
            push_eth(out, o.dst_mac, o.src_mac, 0x8100);
            out.extend_from_slice(&[0x00, 0x64]);
            out.extend_from_slice(&ethertype.to_be_bytes());
        }
        _ => {
            push_eth(out, o.dst_mac, o.src_mac, 0x88a8);
            out.extend_from_slice(&[0x00, 0xc8, 0x81, 0x00, 0x00, 0x64]);
            out.extend_from_slice(&ethertype.to_be_bytes());
        }
    }
}

/// The Geneve header a GWLB adds: version 0, the three AWS options, protocol `proto`.
pub fn geneve_aws_header(vni: u32, proto: u16) -> Vec<u8> {
    let mut opts = Vec::with_capacity(32);
    for (typ, data) in [
        (1u8, GWLB_ENDPOINT_ID.to_be_bytes().to_vec()),
        (2u8, GWLB_ATTACHMENT_ID.to_be_bytes().to_vec()),
        (3u8, GWLB_FLOW_COOKIE.to_be_bytes().to_vec()),
    ] {
        opts.extend_from_slice(&0x0108u16.to_be_bytes());
        opts.push(typ);
        opts.push((data.len() / 4) as u8);
        opts.extend_from_slice(&data);
    }
    let mut h = Vec::with_capacity(8 + opts.len());
    h.push((opts.len() / 4) as u8); // version 0, option length in 4-byte words
    h.push(0);
    h.extend_from_slice(&proto.to_be_bytes());
    h.extend_from_slice(&((vni & 0x00ff_ffff) << 8).to_be_bytes());
    h.extend_from_slice(&opts);
    h
}

/// The outer addresses and VXLAN port of a generated mirror session (any of them set by
/// `gen`'s `--outer-*` options; [`OuterSpec::default_for`] gives the documentation ranges).
#[derive(Clone, Copy, Debug)]
pub struct OuterSpec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// IPv4 for vxlan and gwlb, IPv6 for vxlan6.
    pub src_ip: std::net::IpAddr,
    pub dst_ip: std::net::IpAddr,
    /// UDP destination port of the VXLAN header (4789 for VPC Traffic Mirroring).
    pub vxlan_port: u16,
}

impl OuterSpec {
    /// Per flow group: 198.51.100.10+ (2001:db8::10+ for IPv6) to 198.51.100.1 (2001:db8::1).
    pub fn default_for(encap: Encap, flow: u16) -> Self {
        let o = OuterAddrs::default_for(flow);
        let (src_ip, dst_ip) = match encap {
            Encap::Vxlan6 => {
                let (s, d) = ipv6_addrs(flow);
                (s.into(), d.into())
            }
            _ => (o.src_ip.into(), o.dst_ip.into()),
        };
        OuterSpec {
            src_mac: o.src_mac,
            dst_mac: o.dst_mac,
            src_ip,
            dst_ip,
            vxlan_port: 4789,
        }
    }
}

/// Bytes before the mirrored frame: outer Ethernet with `vlans` tags and the tunnel headers.
pub fn outer_len(encap: Encap, vlans: u8) -> usize {
    14 + 4 * vlans.min(2) as usize
        + match encap {
            Encap::Vxlan => 20 + 8 + 8,
            Encap::Vxlan6 => 40 + 8 + 8,
            Encap::Gwlb => 20 + 8 + 40 + 20 + 8 + 8,
        }
}

/// `inner` wrapped by `encap` with `vlans` outer tags, the mirror session's `vni`, and the
/// outer UDP source port `sport`.
pub fn encapsulate(
    encap: Encap,
    vlans: u8,
    o: &OuterAddrs,
    flow: u16,
    vni: u32,
    sport: u16,
    inner: &[u8],
) -> Vec<u8> {
    let mut spec = OuterSpec::default_for(encap, flow);
    spec.src_mac = o.src_mac;
    spec.dst_mac = o.dst_mac;
    if encap != Encap::Vxlan6 {
        spec.src_ip = o.src_ip.into();
        spec.dst_ip = o.dst_ip.into();
    }
    encapsulate_with(encap, vlans, &spec, vni, sport, inner)
}

fn v4(ip: std::net::IpAddr) -> [u8; 4] {
    match ip {
        std::net::IpAddr::V4(a) => a.octets(),
        std::net::IpAddr::V6(a) => a.to_ipv4_mapped().map(|a| a.octets()).unwrap_or([0; 4]),
    }
}

fn v6(ip: std::net::IpAddr) -> [u8; 16] {
    match ip {
        std::net::IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(a) => a.octets(),
    }
}

/// Like [`encapsulate`], with every outer address and the VXLAN port given.
pub fn encapsulate_with(
    encap: Encap,
    vlans: u8,
    spec: &OuterSpec,
    vni: u32,
    sport: u16,
    inner: &[u8],
) -> Vec<u8> {
    let o = &OuterAddrs {
        src_mac: spec.src_mac,
        dst_mac: spec.dst_mac,
        src_ip: v4(spec.src_ip),
        dst_ip: v4(spec.dst_ip),
    };
    let vxlan_port = spec.vxlan_port;
    let vx_len = 8 + 8 + inner.len();
    let mut f = Vec::with_capacity(inner.len() + 160);
    match encap {
        Encap::Vxlan => {
            push_eth_tagged(&mut f, o, vlans, 0x0800);
            push_ipv4(
                &mut f,
                &Ipv4Hdr {
                    src: o.src_ip,
                    dst: o.dst_ip,
                    ttl: 255,
                    id: 0,
                    flags_frag: 0,
                },
                vx_len,
            );
            push_udp(&mut f, sport, vxlan_port, 8 + inner.len());
        }
        Encap::Vxlan6 => {
            let (src, dst) = (v6(spec.src_ip), v6(spec.dst_ip));
            push_eth_tagged(&mut f, o, vlans, 0x86dd);
            push_ipv6(&mut f, src, dst, vx_len);
            let udp_at = f.len();
            push_udp(&mut f, sport, vxlan_port, 8 + inner.len());
            f.extend_from_slice(&vxlan_header(vni));
            f.extend_from_slice(inner);
            // A zero UDP checksum is not allowed over IPv6 (RFC 8200): compute it.
            let c = udp6_checksum(&src, &dst, &f[udp_at..]);
            f[udp_at + 6..udp_at + 8].copy_from_slice(&c.to_be_bytes());
            return f;
        }
        Encap::Gwlb => {
            let gen = geneve_aws_header(GWLB_VNI, 0x0800);
            let mirror_ip_len = 20 + vx_len;
            push_eth_tagged(&mut f, o, vlans, 0x0800);
            // The GWLB endpoint (198.51.100.200) to the appliance.
            let gwlb = Ipv4Hdr {
                src: [198, 51, 100, 200],
                dst: o.dst_ip,
                ttl: 255,
                id: 0,
                flags_frag: 0,
            };
            push_ipv4(&mut f, &gwlb, 8 + gen.len() + mirror_ip_len);
            push_udp(&mut f, sport, 6081, gen.len() + mirror_ip_len);
            f.extend_from_slice(&gen);
            // The mirror's own packet: source ENI to the GWLB endpoint.
            let mirror = Ipv4Hdr {
                src: o.src_ip,
                dst: [198, 51, 100, 200],
                ttl: 255,
                id: 0,
                flags_frag: 0,
            };
            push_ipv4(&mut f, &mirror, vx_len);
            push_udp(&mut f, sport, vxlan_port, 8 + inner.len());
        }
    }
    f.extend_from_slice(&vxlan_header(vni));
    f.extend_from_slice(inner);
    f
}

/// The VXLAN copy AWS would send of flow `flow`'s generated inner frame (`size` bytes,
/// sequence number `flow`) in the mirror session with VNI `vni`: the one-liner tests and
/// benches build their traffic with.
pub fn mirrored_vxlan(flow: u16, vni: u32, size: usize) -> Vec<u8> {
    let inner = super::inner_frame(flow as u64, flow, size);
    let sport = super::mirror_source_port(&inner);
    encapsulate(
        Encap::Vxlan,
        0,
        &super::OuterAddrs::default_for(flow),
        flow,
        vni,
        sport,
        &inner,
    )
}
