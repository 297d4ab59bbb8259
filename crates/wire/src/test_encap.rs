//! Test-only builder of layered encapsulations: Ethernet with VLAN tags and padding, IPv4 with
//! options, IPv6 with extension headers, UDP, VXLAN, Geneve with options, and mirrored frames
//! whose IP header may claim more bytes than are present.
//!
//! Written byte by byte from the RFC layouts, independently of the views, so the decapsulator is
//! not checked against itself. [`Encap`] wraps a mirrored frame layer by layer (innermost first)
//! and remembers where that frame lies in the result.

pub use super::test_frames::PAD;

/// A VLAN tag to write: TPID then TCI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub tpid: u16,
    pub tci: u16,
}

fn push16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn len16(n: usize) -> u16 {
    u16::try_from(n).expect("length fits 16 bits")
}

/// The byte pattern of mirrored-frame payloads.
pub fn pattern(len: usize, seed: u8) -> impl Iterator<Item = u8> {
    (0..len).map(move |i| (i as u8).wrapping_mul(7).wrapping_add(seed))
}

/// Ethernet header (fixed MACs), `tags`, `ethertype`, then `payload`.
pub fn ethernet(tags: &[Tag], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x0A, 0, 0, 0, 0, 0x01, 0x0A, 0, 0, 0, 0, 0x02];
    for t in tags {
        push16(&mut f, t.tpid);
        push16(&mut f, t.tci);
    }
    push16(&mut f, ethertype);
    f.extend_from_slice(payload);
    f
}

/// Outer IPv4 header knobs.
#[derive(Clone, Debug)]
pub struct Ipv4Spec {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// Header length in 32-bit words; options are NOPs.
    pub ihl: u8,
    pub flags_frag: u16,
    /// Overrides the total length.
    pub tot_len: Option<u16>,
}

impl Default for Ipv4Spec {
    fn default() -> Self {
        Ipv4Spec {
            src: [10, 0, 1, 23],
            dst: [10, 0, 2, 200],
            ihl: 5,
            flags_frag: 0,
            tot_len: None,
        }
    }
}

/// RFC 1071 checksum of `bytes` (even length).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4 header (correct checksum) carrying `protocol`, then `payload`.
pub fn ipv4(spec: &Ipv4Spec, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let hlen = usize::from(spec.ihl) * 4;
    let mut f = vec![0x40 | (spec.ihl & 0x0F), 0];
    push16(&mut f, spec.tot_len.unwrap_or(len16(hlen + payload.len())));
    push16(&mut f, 0);
    push16(&mut f, spec.flags_frag);
    f.extend_from_slice(&[255, protocol, 0, 0]);
    f.extend_from_slice(&spec.src);
    f.extend_from_slice(&spec.dst);
    f.resize(hlen, 0x01);
    let c = checksum(&f);
    f[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Outer IPv6 header knobs.
#[derive(Clone, Debug)]
pub struct Ipv6Spec {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// Extension headers in order: (protocol number, length in 8-octet units after the first
    /// 8). Type 44 (fragment) is always 8 bytes and ignores the length.
    pub ext: Vec<(u8, u8)>,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    /// Overrides the payload length.
    pub payload_len: Option<u16>,
}

impl Default for Ipv6Spec {
    fn default() -> Self {
        Ipv6Spec {
            src: [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x23],
            dst: [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0xC8],
            ext: Vec::new(),
            traffic_class: 0,
            flow_label: 0,
            hop_limit: 255,
            payload_len: None,
        }
    }
}

/// IPv6 header, its extension headers, then `payload` of protocol `upper`.
pub fn ipv6(spec: &Ipv6Spec, upper: u8, payload: &[u8]) -> Vec<u8> {
    let mut exts = Vec::new();
    let nexts: Vec<u8> = spec.ext.iter().map(|e| e.0).chain([upper]).collect();
    for (i, &(kind, len8)) in spec.ext.iter().enumerate() {
        let next = nexts[i + 1];
        if kind == 44 {
            exts.extend_from_slice(&[next, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF]);
        } else {
            exts.extend_from_slice(&[next, len8]);
            // Zero bytes are Pad1 options (hop-by-hop, destination options) or a type 0 routing
            // header with no segments left.
            exts.resize(exts.len() + (usize::from(len8) + 1) * 8 - 2, 0);
        }
    }
    let first = nexts[0];
    let mut f = Vec::with_capacity(40 + exts.len() + payload.len());
    let vtf = (6u32 << 28) | (u32::from(spec.traffic_class) << 20) | (spec.flow_label & 0xF_FFFF);
    f.extend_from_slice(&vtf.to_be_bytes());
    push16(
        &mut f,
        spec.payload_len
            .unwrap_or(len16(exts.len() + payload.len())),
    );
    f.extend_from_slice(&[first, spec.hop_limit]);
    f.extend_from_slice(&spec.src);
    f.extend_from_slice(&spec.dst);
    f.extend_from_slice(&exts);
    f.extend_from_slice(payload);
    f
}

/// UDP header (checksum 0) then `payload`.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    push16(&mut f, src_port);
    push16(&mut f, dst_port);
    push16(&mut f, len16(8 + payload.len()));
    push16(&mut f, 0);
    f.extend_from_slice(payload);
    f
}

/// VXLAN header: `flags`, reserved bytes all `reserved`, `vni`; then `payload`.
pub fn vxlan(flags: u8, vni: u32, reserved: u8, payload: &[u8]) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let mut f = vec![
        flags, reserved, reserved, reserved, v[1], v[2], v[3], reserved,
    ];
    f.extend_from_slice(payload);
    f
}

/// One Geneve option TLV to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneveOpt {
    pub class: u16,
    /// Type byte as written (0x80 = critical).
    pub typ: u8,
    /// Data; its length must be a multiple of 4 (at most 124).
    pub data: Vec<u8>,
}

impl GeneveOpt {
    pub fn new(class: u16, typ: u8, data: &[u8]) -> Self {
        assert!(
            data.len().is_multiple_of(4) && data.len() <= 124,
            "option data length"
        );
        GeneveOpt {
            class,
            typ,
            data: data.to_vec(),
        }
    }

    fn len(&self) -> usize {
        4 + self.data.len()
    }
}

/// Geneve header knobs.
#[derive(Clone, Debug, Default)]
pub struct GeneveSpec {
    pub version: u8,
    pub flags: u8,
    pub vni: u32,
    pub options: Vec<GeneveOpt>,
}

/// Geneve header with `spec`'s options and protocol type `proto`, then `payload`.
pub fn geneve(spec: &GeneveSpec, proto: u16, payload: &[u8]) -> Vec<u8> {
    let opt_bytes: usize = spec.options.iter().map(GeneveOpt::len).sum();
    assert!(
        opt_bytes.is_multiple_of(4) && opt_bytes <= 252,
        "option area length"
    );
    let v = spec.vni.to_be_bytes();
    let mut f = vec![(spec.version << 6) | (opt_bytes / 4) as u8, spec.flags];
    push16(&mut f, proto);
    f.extend_from_slice(&[v[1], v[2], v[3], 0]);
    for o in &spec.options {
        push16(&mut f, o.class);
        f.extend_from_slice(&[o.typ, (o.data.len() / 4) as u8]);
        f.extend_from_slice(&o.data);
    }
    f.extend_from_slice(payload);
    f
}

/// The network layer of a test mirrored frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerL3 {
    /// IPv4 / TCP; `claimed` overrides the total length (a truncated copy).
    Ipv4 { claimed: Option<u16> },
    /// IPv6 / TCP; `claimed` overrides the payload length (a truncated copy).
    Ipv6 { claimed: Option<u16> },
    /// Another EtherType; the payload is the pattern.
    Other(u16),
}

/// A test mirrored frame: Ethernet, `tags`, then `l3`, `len` bytes in all.
#[derive(Clone, Debug)]
pub struct InnerSpec {
    pub tags: Vec<Tag>,
    pub l3: InnerL3,
    pub len: usize,
}

/// A bare IP packet of `len` bytes (IPv4 or IPv6 per `l3`; `Other` gives the bare pattern),
/// TCP inside, length fields = `len` unless `l3` claims otherwise. Cut to `len` bytes.
pub fn ip_packet(l3: InnerL3, len: usize) -> Vec<u8> {
    let mut f = match l3 {
        InnerL3::Ipv4 { claimed } => {
            let spec = Ipv4Spec {
                src: [192, 0, 2, 1],
                dst: [198, 51, 100, 2],
                tot_len: Some(claimed.unwrap_or(len16(len.max(20)))),
                ..Ipv4Spec::default()
            };
            ipv4(&spec, 6, &[])
        }
        InnerL3::Ipv6 { claimed } => {
            let spec = Ipv6Spec {
                payload_len: Some(claimed.unwrap_or(len16(len.saturating_sub(40)))),
                ..Ipv6Spec::default()
            };
            ipv6(&spec, 6, &[])
        }
        InnerL3::Other(_) => Vec::new(),
    };
    let have = f.len();
    f.extend(pattern(len.saturating_sub(have), 3));
    f.truncate(len);
    f
}

/// The mirrored frame of `spec`.
pub fn mirrored_frame(spec: &InnerSpec) -> Vec<u8> {
    let ethertype = match spec.l3 {
        InnerL3::Ipv4 { .. } => 0x0800,
        InnerL3::Ipv6 { .. } => 0x86DD,
        InnerL3::Other(t) => t,
    };
    let l2 = 14 + 4 * spec.tags.len();
    let mut f = ethernet(
        &spec.tags,
        ethertype,
        &ip_packet(spec.l3, spec.len.saturating_sub(l2)),
    );
    f.truncate(spec.len);
    f
}

/// What an [`Encap`]'s bytes currently start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Top {
    Ethernet,
    Ipv4,
    Ipv6,
    Udp,
    Tunnel,
}

/// A mirrored frame wrapped layer by layer; `bytes[inner_offset..][..inner_len]` is the frame.
#[derive(Clone, Debug)]
pub struct Encap {
    pub bytes: Vec<u8>,
    pub inner_offset: usize,
    pub inner_len: usize,
    top: Top,
}

impl Encap {
    /// Starts from a mirrored Ethernet frame.
    pub fn frame(inner: Vec<u8>) -> Self {
        Encap {
            inner_len: inner.len(),
            bytes: inner,
            inner_offset: 0,
            top: Top::Ethernet,
        }
    }

    /// Starts from a bare IP packet (Geneve protocol type 0x0800 or 0x86DD).
    pub fn bare_ip(packet: Vec<u8>, v6: bool) -> Self {
        Encap {
            top: if v6 { Top::Ipv6 } else { Top::Ipv4 },
            ..Encap::frame(packet)
        }
    }

    /// The mirrored frame.
    pub fn inner(&self) -> &[u8] {
        &self.bytes[self.inner_offset..self.inner_offset + self.inner_len]
    }

    fn wrap(mut self, bytes: Vec<u8>, top: Top) -> Self {
        self.inner_offset += bytes.len() - self.bytes.len();
        self.bytes = bytes;
        self.top = top;
        self
    }

    /// A VXLAN header with the I flag and zero reserved fields.
    pub fn vxlan(self, vni: u32) -> Self {
        self.vxlan_with(0x08, vni, 0)
    }

    /// A VXLAN header with these flags and reserved bytes.
    pub fn vxlan_with(self, flags: u8, vni: u32, reserved: u8) -> Self {
        assert_eq!(self.top, Top::Ethernet, "VXLAN carries Ethernet");
        let b = vxlan(flags, vni, reserved, &self.bytes);
        self.wrap(b, Top::Tunnel)
    }

    /// A Geneve header whose protocol type matches what it carries.
    pub fn geneve(self, spec: &GeneveSpec) -> Self {
        let proto = match self.top {
            Top::Ethernet => 0x6558,
            Top::Ipv4 => 0x0800,
            Top::Ipv6 => 0x86DD,
            other => panic!("Geneve over {other:?}"),
        };
        self.geneve_proto(spec, proto)
    }

    /// A Geneve header with an explicit protocol type.
    pub fn geneve_proto(self, spec: &GeneveSpec, proto: u16) -> Self {
        let b = geneve(spec, proto, &self.bytes);
        self.wrap(b, Top::Tunnel)
    }

    /// A UDP header.
    pub fn udp(self, src_port: u16, dst_port: u16) -> Self {
        let b = udp(src_port, dst_port, &self.bytes);
        self.wrap(b, Top::Udp)
    }

    fn l4_proto(&self) -> u8 {
        assert_eq!(self.top, Top::Udp, "IP carries UDP here");
        17
    }

    /// An IPv4 header over the UDP datagram.
    pub fn ipv4(self, spec: &Ipv4Spec) -> Self {
        let b = ipv4(spec, self.l4_proto(), &self.bytes);
        self.wrap(b, Top::Ipv4)
    }

    /// An IPv6 header (and extension headers) over the UDP datagram.
    pub fn ipv6(self, spec: &Ipv6Spec) -> Self {
        let b = ipv6(spec, self.l4_proto(), &self.bytes);
        self.wrap(b, Top::Ipv6)
    }

    /// An Ethernet header with `tags` over the IP packet, then `padding` bytes of [`PAD`].
    pub fn eth(self, tags: &[Tag], padding: usize) -> Self {
        let ethertype = match self.top {
            Top::Ipv4 => 0x0800,
            Top::Ipv6 => 0x86DD,
            other => panic!("Ethernet over {other:?}"),
        };
        let mut b = ethernet(tags, ethertype, &self.bytes);
        b.resize(b.len() + padding, PAD);
        let mut out = self.wrap(b, Top::Ethernet);
        out.inner_offset -= padding;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    #[test]
    fn builder_output_parses_with_etherparse() {
        let inner = mirrored_frame(&InnerSpec {
            tags: vec![Tag {
                tpid: 0x8100,
                tci: 5,
            }],
            l3: InnerL3::Ipv4 { claimed: None },
            len: 200,
        });
        let e = Encap::frame(inner.clone())
            .vxlan(77)
            .udp(1000, 4789)
            .ipv6(&Ipv6Spec {
                ext: vec![(0, 0), (60, 1)],
                ..Ipv6Spec::default()
            })
            .eth(
                &[Tag {
                    tpid: 0x88A8,
                    tci: 9,
                }],
                7,
            );
        assert_eq!(e.inner(), &inner[..]);
        let p = SlicedPacket::from_ethernet(&e.bytes).expect("outer parses");
        assert!(matches!(p.net, Some(NetSlice::Ipv6(_))));
        let Some(TransportSlice::Udp(u)) = p.transport else {
            panic!("no UDP")
        };
        assert_eq!(&u.payload()[8..], &inner[..]);
        let p = SlicedPacket::from_ethernet(&inner).expect("inner parses");
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("inner not IPv4")
        };
        assert_eq!(usize::from(ip.header().total_len()), 200 - 18);
    }

    #[test]
    fn ip_packets_claim_what_they_are_told() {
        let p = ip_packet(
            InnerL3::Ipv4 {
                claimed: Some(1500),
            },
            100,
        );
        assert_eq!((p.len(), u16::from_be_bytes([p[2], p[3]])), (100, 1500));
        let p = ip_packet(InnerL3::Ipv6 { claimed: None }, 100);
        assert_eq!((p.len(), u16::from_be_bytes([p[4], p[5]])), (100, 60));
        assert_eq!(ip_packet(InnerL3::Ipv6 { claimed: None }, 10).len(), 10);
    }
}
