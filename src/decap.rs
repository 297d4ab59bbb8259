//! Outer headers → mirrored frame: finds the original L2 frame inside a VPC Traffic Mirroring
//! packet and says why when it cannot.
//!
//! Owns the decapsulation rules and the drop taxonomy ([`DropReason`]). Input is the received
//! frame as `&[u8]`; output is the inner frame's byte range plus [`TunnelMeta`], or the reason to
//! drop. Runs per packet on the workers: no allocation, no formatting, no panics on any input.
//!
//! Supported today: Ethernet II / IPv4 (options skipped, not a fragment) / UDP to
//! [`DecapConfig::vxlan_port`] / VXLAN with the I flag / inner Ethernet frame of >= 14 bytes.
//! IPv6 outer headers, VLAN tags and Geneve (GWLB) come later; they will add [`TunnelKind`]
//! variants and [`TunnelMeta`] fields rather than change these ones.

#![forbid(unsafe_code)]

use crate::wire::{self, ethernet, ipv4, udp, vxlan};
use std::net::Ipv4Addr;

/// Why a received frame is not a decapsulated mirror copy. Each reason has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Not VXLAN to the configured port: non-IPv4 EtherType, non-UDP, or another UDP port.
    NotMirror = 0,
    /// A header (outer or the inner Ethernet header) is cut short.
    TruncatedHeader = 1,
    /// The outer IPv4 header is inconsistent (version, IHL or total length).
    BadIpHeader = 2,
    /// The outer IPv4 packet is a fragment.
    OuterFragment = 3,
    /// The outer UDP length field is below 8 or beyond the IPv4 payload.
    BadUdpLength = 4,
    /// The VXLAN flags lack the I (VNI valid) bit.
    BadVxlanFlags = 5,
}

impl DropReason {
    /// Every reason, in declaration order (`ALL[r.index()] == r`).
    pub const ALL: [DropReason; 6] = [
        DropReason::NotMirror,
        DropReason::TruncatedHeader,
        DropReason::BadIpHeader,
        DropReason::OuterFragment,
        DropReason::BadUdpLength,
        DropReason::BadVxlanFlags,
    ];

    /// Number of reasons, for sizing per-reason counter arrays.
    pub const COUNT: usize = 6;

    /// Position in [`ALL`](Self::ALL), for indexing counter arrays.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable snake_case label, used as the metrics label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotMirror => "not_mirror",
            DropReason::TruncatedHeader => "truncated_header",
            DropReason::BadIpHeader => "bad_ip_header",
            DropReason::OuterFragment => "outer_fragment",
            DropReason::BadUdpLength => "bad_udp_length",
            DropReason::BadVxlanFlags => "bad_vxlan_flags",
        }
    }

    /// One sentence for operators: what the reason means and what to do about it.
    pub fn help(self) -> &'static str {
        match self {
            DropReason::NotMirror => {
                "The frame is not VXLAN to the configured port (non-IPv4, non-UDP or another UDP \
                 port), so it is not mirror traffic; if this grows, find what else sends to the \
                 capture ENI or check that vxlan_port matches the mirror target."
            }
            DropReason::TruncatedHeader => {
                "A header (outer Ethernet, IPv4, UDP, VXLAN or the 14-byte inner Ethernet header) \
                 is cut short, which AWS mirroring never sends; check the sender and that the port \
                 MTU and mbuf size fit 9001-byte frames plus outer headers."
            }
            DropReason::BadIpHeader => {
                "The outer IPv4 header is malformed (version not 4, IHL below 5, or total length \
                 shorter than the header or longer than the received bytes); capture the raw port \
                 to identify the sender, since AWS mirroring never sends these."
            }
            DropReason::OuterFragment => {
                "The outer IPv4 packet is a fragment, which mirrored VXLAN never is (AWS truncates \
                 instead); look for a hop with a smaller MTU between the source and this target, \
                 or a non-AWS sender."
            }
            DropReason::BadUdpLength => {
                "The outer UDP length field is below 8 or larger than the IPv4 payload (for \
                 example GSO/BIG TCP frames captured before segmentation); capture the raw port \
                 to identify the sender, since AWS mirroring never sends these."
            }
            DropReason::BadVxlanFlags => {
                "The packet on the VXLAN port lacks the VXLAN I flag (0x08), so it is not RFC 7348 \
                 VXLAN (perhaps VXLAN-GPE or another protocol); check what is sending to that port."
            }
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The encapsulation a mirrored frame arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// VXLAN (RFC 7348) over UDP, as sent by VPC Traffic Mirroring to an ENI or NLB target.
    Vxlan,
}

/// What the outer headers said about a mirrored frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelMeta {
    /// Encapsulation the frame arrived in.
    pub kind: TunnelKind,
    /// VXLAN network identifier (24 bits): the mirror session's VNI.
    pub vni: u32,
    /// Outer source address: the mirror source ENI's primary IP.
    pub outer_src: Ipv4Addr,
    /// Outer destination address: this target.
    pub outer_dst: Ipv4Addr,
    /// Outer UDP source port: AWS sets it from a hash of the inner 5-tuple.
    pub outer_src_port: u16,
}

/// A successfully decapsulated frame: where the mirrored frame lies in the received buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapped {
    /// Offset of the mirrored (inner) Ethernet frame in the received frame.
    pub inner_offset: usize,
    /// Length of the mirrored frame: bounded by the UDP length, so outer padding is excluded.
    pub inner_len: usize,
    /// Outer header metadata.
    pub meta: TunnelMeta,
}

impl Decapped {
    /// The mirrored frame inside `frame` (the same buffer given to [`decap`]). Returns an empty
    /// slice, rather than panicking, if `frame` is too short for the recorded range.
    #[inline]
    pub fn inner<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        frame
            .get(self.inner_offset..)
            .and_then(|rest| rest.get(..self.inner_len))
            .unwrap_or(&[])
    }
}

/// Decapsulation settings.
#[derive(Clone, Debug)]
pub struct DecapConfig {
    /// UDP destination port that carries VXLAN (4789 for VPC Traffic Mirroring).
    pub vxlan_port: u16,
}

impl Default for DecapConfig {
    fn default() -> Self {
        DecapConfig {
            vxlan_port: vxlan::UDP_PORT,
        }
    }
}

/// Maps a view error to a drop reason: truncation is always `TruncatedHeader`, an inconsistent
/// field is the layer's own reason.
#[inline(always)]
fn reason(err: wire::Error, malformed: DropReason) -> DropReason {
    match err {
        wire::Error::Truncated => DropReason::TruncatedHeader,
        wire::Error::Malformed => malformed,
    }
}

/// Finds the mirrored frame inside `frame` (starting at the outer destination MAC).
///
/// Checks, in order (the first failure is the reason):
/// 1. outer Ethernet header present (`TruncatedHeader`), EtherType IPv4 (`NotMirror`);
/// 2. IPv4 header valid (`TruncatedHeader` / `BadIpHeader`), not a fragment (`OuterFragment`),
///    protocol UDP (`NotMirror`); the IPv4 total length bounds everything after it, so Ethernet
///    padding is ignored;
/// 3. UDP header present (`TruncatedHeader`), destination port `cfg.vxlan_port` (`NotMirror`),
///    length field within 8..=IPv4 payload (`BadUdpLength`); the UDP length bounds the rest;
/// 4. VXLAN header present (`TruncatedHeader`) with the I flag (`BadVxlanFlags`);
/// 5. inner Ethernet header present (`TruncatedHeader`).
#[inline]
pub fn decap(frame: &[u8], cfg: &DecapConfig) -> Result<Decapped, DropReason> {
    let eth =
        ethernet::EthernetFrame::new_checked(frame).map_err(|_| DropReason::TruncatedHeader)?;
    if eth.ethertype() != ethernet::ETHERTYPE_IPV4 {
        return Err(DropReason::NotMirror);
    }

    let ip = ipv4::Ipv4Packet::new_checked(eth.payload())
        .map_err(|e| reason(e, DropReason::BadIpHeader))?;
    if ip.is_fragment() {
        return Err(DropReason::OuterFragment);
    }
    if ip.protocol() != ipv4::PROTO_UDP {
        return Err(DropReason::NotMirror);
    }

    let udp = udp::UdpPacket::new_checked(ip.payload())
        .map_err(|e| reason(e, DropReason::BadUdpLength))?;
    if udp.dst_port() != cfg.vxlan_port {
        return Err(DropReason::NotMirror);
    }
    let udp_payload = udp
        .payload()
        .map_err(|e| reason(e, DropReason::BadUdpLength))?;

    let vx = vxlan::VxlanHeader::new_checked(udp_payload)
        .map_err(|e| reason(e, DropReason::BadVxlanFlags))?;
    if !vx.vni_valid() {
        return Err(DropReason::BadVxlanFlags);
    }

    let inner = vx.payload();
    if inner.len() < ethernet::HEADER_LEN {
        return Err(DropReason::TruncatedHeader);
    }

    Ok(Decapped {
        inner_offset: ethernet::HEADER_LEN + ip.header_len() + udp::HEADER_LEN + vxlan::HEADER_LEN,
        inner_len: inner.len(),
        meta: TunnelMeta {
            kind: TunnelKind::Vxlan,
            vni: vx.vni(),
            outer_src: ip.src_addr(),
            outer_dst: ip.dst_addr(),
            outer_src_port: udp.src_port(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_frames::{inner_frame, Built, FrameSpec};
    use etherparse::{SlicedPacket, TransportSlice};
    use proptest::prelude::*;

    const ETH: usize = 14;

    fn run(spec: &FrameSpec) -> (Built, Result<Decapped, DropReason>) {
        let built = spec.build();
        let out = decap(&built.bytes, &DecapConfig::default());
        (built, out)
    }

    fn drop_of(spec: &FrameSpec) -> DropReason {
        match run(spec).1 {
            Ok(d) => panic!("expected a drop for {spec:?}, got {d:?}"),
            Err(r) => r,
        }
    }

    /// Independent oracle: etherparse's view of the UDP payload, minus the 8-byte VXLAN header.
    fn oracle_inner(frame: &[u8]) -> Vec<u8> {
        let sliced = SlicedPacket::from_ethernet(frame).expect("etherparse parses outer");
        match sliced.transport {
            Some(TransportSlice::Udp(u)) => u.payload()[8..].to_vec(),
            other => panic!("etherparse found no UDP: {other:?}"),
        }
    }

    /// Asserts `spec` decapsulates to exactly the inner range the builder wrote.
    fn assert_decaps(spec: &FrameSpec) -> Decapped {
        let (built, out) = run(spec);
        let d = out.unwrap_or_else(|r| panic!("{spec:?} dropped as {r:?}"));
        assert_eq!(d.inner_offset, built.inner_offset, "{spec:?}");
        assert_eq!(d.inner_len, built.inner_len, "{spec:?}");
        assert_eq!(d.inner(&built.bytes), built.inner());
        assert_eq!(d.inner(&built.bytes), &inner_frame(spec.inner_len)[..]);
        assert_eq!(d.inner(&built.bytes), &oracle_inner(&built.bytes)[..]);
        assert_eq!(
            d.meta,
            TunnelMeta {
                kind: TunnelKind::Vxlan,
                vni: spec.vni,
                outer_src: Ipv4Addr::from(spec.src),
                outer_dst: Ipv4Addr::from(spec.dst),
                outer_src_port: spec.src_port,
            }
        );
        d
    }

    #[test]
    fn good_vxlan_frame() {
        let d = assert_decaps(&FrameSpec::default());
        assert_eq!(d.inner_offset, 14 + 20 + 8 + 8);
        assert_eq!(d.inner_len, 98);
        assert_eq!(d.meta.vni, 0x00AB_CDEF);
        assert_eq!(d.meta.outer_src, Ipv4Addr::new(10, 0, 1, 23));
        assert_eq!(d.meta.outer_dst, Ipv4Addr::new(10, 0, 2, 200));
        assert_eq!(d.meta.outer_src_port, 40_123);
    }

    #[test]
    fn vni_extremes_and_inner_sizes() {
        for vni in [0, 1, 100, vxlan::MAX_VNI] {
            for inner_len in [14, 15, 60, 1514, 9001] {
                assert_decaps(&FrameSpec {
                    vni,
                    inner_len,
                    ..FrameSpec::default()
                });
            }
        }
    }

    #[test]
    fn drop_reason_table() {
        assert_eq!(DropReason::ALL.len(), DropReason::COUNT);
        let labels = [
            "not_mirror",
            "truncated_header",
            "bad_ip_header",
            "outer_fragment",
            "bad_udp_length",
            "bad_vxlan_flags",
        ];
        for (i, r) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(r as u8 as usize, i);
            assert_eq!(r.as_str(), labels[i]);
            assert_eq!(r.to_string(), labels[i]);
            let help = r.help();
            assert!(help.len() > 40 && help.ends_with('.'), "{r:?}: {help}");
            assert_eq!(help.matches(". ").count(), 0, "one sentence: {help}");
        }
        assert_eq!(DropReason::BadVxlanFlags.index(), DropReason::COUNT - 1);
    }

    #[test]
    fn default_config_is_4789_and_port_is_configurable() {
        assert_eq!(DecapConfig::default().vxlan_port, 4789);
        let built = FrameSpec {
            dst_port: 8472,
            ..FrameSpec::default()
        }
        .build();
        assert_eq!(
            decap(&built.bytes, &DecapConfig::default()),
            Err(DropReason::NotMirror)
        );
        let d = decap(&built.bytes, &DecapConfig { vxlan_port: 8472 }).expect("decaps on 8472");
        assert_eq!(d.inner(&built.bytes), built.inner());
    }

    #[test]
    fn not_mirror_traffic() {
        for ethertype in [0x0806, 0x86DD, 0x8100, 0x88A8, 0x0000, 0xFFFF] {
            let spec = FrameSpec {
                ethertype,
                ..FrameSpec::default()
            };
            assert_eq!(drop_of(&spec), DropReason::NotMirror, "{ethertype:#x}");
        }
        for protocol in [0, 1, 6, 47, 58, 132, 255] {
            let spec = FrameSpec {
                protocol,
                ..FrameSpec::default()
            };
            assert_eq!(drop_of(&spec), DropReason::NotMirror, "proto {protocol}");
        }
        for dst_port in [0, 53, 4788, 4790, 6081, 8472, 65535] {
            let spec = FrameSpec {
                dst_port,
                ..FrameSpec::default()
            };
            assert_eq!(drop_of(&spec), DropReason::NotMirror, "port {dst_port}");
        }
        // The source port does not matter (AWS hashes the inner 5-tuple into it).
        assert_decaps(&FrameSpec {
            src_port: 4789,
            ..FrameSpec::default()
        });
    }

    #[test]
    fn every_truncation_length_drops() {
        for ihl in [5u8, 6, 10, 15] {
            let spec = FrameSpec {
                ihl,
                ..FrameSpec::default()
            };
            let built = spec.build();
            let ip_end = ETH + usize::from(ihl) * 4;
            for len in 0..built.bytes.len() {
                let expected = if len < ip_end {
                    DropReason::TruncatedHeader
                } else {
                    // The outer total length now points past the received bytes.
                    DropReason::BadIpHeader
                };
                assert_eq!(
                    decap(&built.bytes[..len], &DecapConfig::default()),
                    Err(expected),
                    "ihl {ihl} len {len}"
                );
            }
        }
    }

    /// Cuts a frame at `cut` and rewrites the IPv4 total length and UDP length (where present)
    /// to match, so that only the header lengths themselves are short.
    fn consistent_cut(spec: &FrameSpec, cut: usize) -> Vec<u8> {
        let mut b = spec.build().bytes;
        b.truncate(cut);
        let ip = ETH;
        let udp = ip + usize::from(spec.ihl) * 4;
        if b.len() >= ip + 4 {
            let tot = u16::try_from(b.len() - ip).expect("fits");
            b[ip + 2..ip + 4].copy_from_slice(&tot.to_be_bytes());
        }
        if b.len() >= udp + 6 {
            let ul = u16::try_from(b.len() - udp).expect("fits");
            b[udp + 4..udp + 6].copy_from_slice(&ul.to_be_bytes());
        }
        b
    }

    #[test]
    fn every_short_header_is_truncated() {
        for ihl in [5u8, 7, 15] {
            let spec = FrameSpec {
                ihl,
                ..FrameSpec::default()
            };
            let headers = ETH + usize::from(ihl) * 4 + 8 + 8 + 14;
            for cut in 0..headers {
                let b = consistent_cut(&spec, cut);
                assert_eq!(
                    decap(&b, &DecapConfig::default()),
                    Err(DropReason::TruncatedHeader),
                    "ihl {ihl} cut {cut}"
                );
            }
            let b = consistent_cut(&spec, headers);
            let d = decap(&b, &DecapConfig::default()).expect("14-byte inner frame decaps");
            assert_eq!((d.inner_offset, d.inner_len), (headers - 14, 14));
        }
        // Inner frames shorter than an Ethernet header, built with consistent lengths.
        for inner_len in 0..14 {
            let spec = FrameSpec {
                inner_len,
                ..FrameSpec::default()
            };
            assert_eq!(
                drop_of(&spec),
                DropReason::TruncatedHeader,
                "inner {inner_len}"
            );
        }
    }

    #[test]
    fn flags_without_i_bit() {
        for vxlan_flags in 0u8..=255 {
            let spec = FrameSpec {
                vxlan_flags,
                ..FrameSpec::default()
            };
            if vxlan_flags & vxlan::FLAG_I == 0 {
                assert_eq!(
                    drop_of(&spec),
                    DropReason::BadVxlanFlags,
                    "{vxlan_flags:#x}"
                );
            } else {
                // Reserved bits are ignored (RFC 7348).
                assert_decaps(&spec);
            }
        }
    }

    #[test]
    fn ipv4_options_are_skipped() {
        for ihl in 6u8..=15 {
            let spec = FrameSpec {
                ihl,
                ..FrameSpec::default()
            };
            let d = assert_decaps(&spec);
            assert_eq!(d.inner_offset, ETH + usize::from(ihl) * 4 + 16);
        }
    }

    #[test]
    fn ethernet_padding_after_total_len_is_ignored() {
        for padding in [1, 2, 4, 31, 64, 1000] {
            for inner_len in [14, 20, 98] {
                let spec = FrameSpec {
                    padding,
                    inner_len,
                    ..FrameSpec::default()
                };
                let (built, out) = run(&spec);
                let d = out.expect("padded frame decaps");
                assert_eq!(d.inner_len, inner_len);
                assert_eq!(d.inner_offset + d.inner_len + padding, built.bytes.len());
                assert_decaps(&spec);
            }
        }
    }

    #[test]
    fn udp_length_shorter_than_ip_payload_bounds_the_inner_frame() {
        // Trailing bytes inside the IPv4 payload but past the UDP length are not inner bytes.
        let spec = FrameSpec {
            tot_len: Some(20 + 8 + 8 + 98),
            udp_len: Some(8 + 8 + 60),
            ..FrameSpec::default()
        };
        let (built, out) = run(&spec);
        let d = out.expect("decaps");
        assert_eq!(d.inner_len, 60);
        assert_eq!(d.inner(&built.bytes), &built.inner()[..60]);
    }

    #[test]
    fn fragments() {
        for flags_frag in [0x2000u16, 0x0001, 0x2001, 0x1FFF, 0x3FFF, 0x6000, 0xE0B9] {
            let spec = FrameSpec {
                flags_frag,
                ..FrameSpec::default()
            };
            assert_eq!(drop_of(&spec), DropReason::OuterFragment, "{flags_frag:#x}");
        }
        // Checked before the protocol: a non-first fragment has no UDP header to look at.
        let spec = FrameSpec {
            flags_frag: 0x00B9,
            protocol: 6,
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::OuterFragment);
        // DF alone, or the reserved bit, is not a fragment.
        for flags_frag in [0x4000u16, 0x8000, 0xC000] {
            assert_decaps(&FrameSpec {
                flags_frag,
                ..FrameSpec::default()
            });
        }
    }

    #[test]
    fn bad_udp_length() {
        let udp_total = 8 + 8 + 98;
        for udp_len in [0u16, 1, 7, udp_total + 1, u16::MAX] {
            let spec = FrameSpec {
                udp_len: Some(udp_len),
                ..FrameSpec::default()
            };
            assert_eq!(
                drop_of(&spec),
                DropReason::BadUdpLength,
                "udp len {udp_len}"
            );
            // Padding after the IPv4 packet does not make a too-long UDP length valid.
            let padded = FrameSpec {
                padding: 64,
                ..spec
            };
            assert_eq!(
                drop_of(&padded),
                DropReason::BadUdpLength,
                "padded {udp_len}"
            );
        }
        // Room for the UDP header but not the VXLAN header.
        for udp_len in 8u16..16 {
            let spec = FrameSpec {
                udp_len: Some(udp_len),
                ..FrameSpec::default()
            };
            assert_eq!(
                drop_of(&spec),
                DropReason::TruncatedHeader,
                "udp len {udp_len}"
            );
        }
        // A bad length on another port is somebody else's traffic.
        let spec = FrameSpec {
            udp_len: Some(0),
            dst_port: 53,
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::NotMirror);
    }

    #[test]
    fn bad_ip_header() {
        for ip_version in [0u8, 6, 15] {
            let spec = FrameSpec {
                ip_version,
                ..FrameSpec::default()
            };
            assert_eq!(drop_of(&spec), DropReason::BadIpHeader, "v{ip_version}");
        }
        for ihl in 0u8..5 {
            let spec = FrameSpec {
                ihl,
                ..FrameSpec::default()
            };
            assert_eq!(drop_of(&spec), DropReason::BadIpHeader, "ihl {ihl}");
        }
        let full = 20 + 8 + 8 + 98;
        for tot_len in [0u16, 19, full + 1, u16::MAX] {
            let spec = FrameSpec {
                tot_len: Some(tot_len),
                ..FrameSpec::default()
            };
            assert_eq!(drop_of(&spec), DropReason::BadIpHeader, "tot {tot_len}");
        }
        // tot_len shorter than the UDP datagram: the UDP length no longer fits.
        let spec = FrameSpec {
            tot_len: Some(full - 1),
            ..FrameSpec::default()
        };
        assert_eq!(drop_of(&spec), DropReason::BadUdpLength);
    }

    #[test]
    fn decapped_inner_never_panics() {
        let built = FrameSpec::default().build();
        let d = decap(&built.bytes, &DecapConfig::default()).expect("decaps");
        assert_eq!(d.inner(&built.bytes[..10]), &[] as &[u8]);
        assert_eq!(d.inner(&[]), &[] as &[u8]);
        let huge = Decapped {
            inner_offset: usize::MAX,
            inner_len: usize::MAX,
            ..d
        };
        assert_eq!(huge.inner(&built.bytes), &[] as &[u8]);
        let long = Decapped {
            inner_len: usize::MAX,
            ..d
        };
        assert_eq!(long.inner(&built.bytes), &[] as &[u8]);
    }

    // ---- captures from other projects (skipped when the shared corpus is absent) ----

    /// Packets of a capture in the shared corpus, or `None` (with a note) when it is absent.
    fn pcap_packets(name: &str) -> Option<Vec<Vec<u8>>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/testdata/pcaps")
            .join(name);
        let Ok(file) = std::fs::File::open(&path) else {
            eprintln!("note: {} absent, skipping", path.display());
            return None;
        };
        let mut reader = pcap_file::pcap::PcapReader::new(file).expect("pcap header");
        assert_eq!(
            reader.header().datalink,
            pcap_file::DataLink::ETHERNET,
            "{name}"
        );
        let mut out = Vec::new();
        while let Some(pkt) = reader.next_packet() {
            let pkt = pkt.expect("pcap record");
            assert_eq!(
                pkt.data.len(),
                pkt.orig_len as usize,
                "{name}: snapped record"
            );
            out.push(pkt.data.into_owned());
        }
        Some(out)
    }

    #[test]
    fn pcap_tcpdump_vxlan_all_vni_100() {
        let Some(packets) = pcap_packets("tcpdump__vxlan.pcap") else {
            return;
        };
        assert_eq!(packets.len(), 10);
        for (i, frame) in packets.iter().enumerate() {
            let d = decap(frame, &DecapConfig::default())
                .unwrap_or_else(|r| panic!("packet {i} dropped as {r:?}"));
            assert_eq!(d.meta.vni, 100, "packet {i}");
            assert_eq!(d.meta.kind, TunnelKind::Vxlan);
            let inner = d.inner(frame);
            assert_eq!(inner, &oracle_inner(frame)[..], "packet {i}");
            let inner_eth = etherparse::Ethernet2HeaderSlice::from_slice(inner)
                .unwrap_or_else(|e| panic!("packet {i}: inner not Ethernet: {e}"));
            assert!(
                [0x0800, 0x0806].contains(&u16::from(inner_eth.ether_type())),
                "packet {i}: ICMP or ARP inside"
            );
        }
    }

    /// Expected per-packet result of a capture: the VNI, or the drop reason.
    type Outcome = Result<u32, DropReason>;

    #[test]
    fn pcap_corpus_classification() {
        use DropReason::*;
        let port_8472 = DecapConfig { vxlan_port: 8472 };
        let default = DecapConfig::default();
        let cases: [(&str, &DecapConfig, &[Outcome]); 9] = [
            ("tcpdump__vxlan_port_8472.pcap", &port_8472, &[Ok(100); 10]),
            (
                "tcpdump__vxlan_port_8472.pcap",
                &default,
                &[Err(NotMirror); 10],
            ),
            (
                "suricata-verify__vxlan-decoder-01_input.pcap",
                &default,
                &[Ok(37), Err(NotMirror), Err(NotMirror)],
            ),
            (
                "suricata-verify__vxlan-non-zero-reserved-fields_input.pcap",
                &default,
                &[Ok(11); 10],
            ),
            ("zeek__vxlan-triple-v2.pcap", &default, &[Ok(1)]),
            (
                "tcpdump__nsh-over-vxlan-gpe.pcap",
                &default,
                &[Err(NotMirror)],
            ),
            (
                "tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap",
                &default,
                &[Err(BadIpHeader)],
            ),
            (
                "flowtest__ipv4-udp-fragmented.pcap",
                &default,
                &[
                    Err(NotMirror),
                    Err(NotMirror),
                    Err(NotMirror),
                    Err(OuterFragment),
                    Err(OuterFragment),
                    Err(OuterFragment),
                    Err(OuterFragment),
                    Err(NotMirror),
                ],
            ),
            (
                "flowtest__802.1Q_tunneling.pcap",
                &default,
                &[Err(NotMirror); 10],
            ),
        ];
        for (name, cfg, expected) in cases {
            let Some(packets) = pcap_packets(name) else {
                continue;
            };
            let got: Vec<Outcome> = packets
                .iter()
                .map(|f| decap(f, cfg).map(|d| d.meta.vni))
                .collect();
            assert_eq!(got, expected, "{name} on port {}", cfg.vxlan_port);
        }
    }

    // ---- property tests ----

    fn valid_spec() -> impl Strategy<Value = FrameSpec> {
        (
            0..=vxlan::MAX_VNI,
            14usize..9000,
            5u8..=15,
            0usize..64,
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            prop_oneof![Just(0x08u8), any::<u8>().prop_map(|f| f | 0x08)],
        )
            .prop_map(
                |(vni, inner_len, ihl, padding, src_port, src, dst, vxlan_flags)| FrameSpec {
                    vni,
                    inner_len,
                    ihl,
                    padding,
                    src_port,
                    src,
                    dst,
                    vxlan_flags,
                    ..FrameSpec::default()
                },
            )
    }

    fn check_ok_invariants(frame: &[u8], d: &Decapped) {
        assert!(d.inner_len >= 14);
        assert!(d.inner_offset >= 14 + 20 + 16);
        assert!(d.inner_offset + d.inner_len <= frame.len());
        assert_eq!(d.inner(frame).len(), d.inner_len);
        assert!(d.meta.vni <= vxlan::MAX_VNI);
    }

    proptest! {
        #[test]
        fn prop_never_panics_on_arbitrary_bytes(
            frame in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            if let Ok(d) = decap(&frame, &DecapConfig::default()) {
                check_ok_invariants(&frame, &d);
            }
        }

        #[test]
        fn prop_never_panics_on_plausible_prefixes(
            tail in proptest::collection::vec(any::<u8>(), 0..200),
            ihl_byte in any::<u8>(),
        ) {
            // Outer Ethernet with the IPv4 EtherType and a random IPv4 first byte, so the
            // random bytes reach the deeper layers far more often than fully random input.
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00, ihl_byte]);
            frame.extend_from_slice(&tail);
            if let Ok(d) = decap(&frame, &DecapConfig::default()) {
                check_ok_invariants(&frame, &d);
            }
        }

        #[test]
        fn prop_valid_frames_give_exactly_the_inner_range(spec in valid_spec()) {
            let built = spec.build();
            let d = decap(&built.bytes, &DecapConfig::default())
                .map_err(|r| TestCaseError::fail(format!("dropped as {r:?}")))?;
            prop_assert_eq!(d.inner_offset, built.inner_offset);
            prop_assert_eq!(d.inner_offset, 14 + usize::from(spec.ihl) * 4 + 16);
            prop_assert_eq!(d.inner_len, spec.inner_len);
            prop_assert_eq!(d.inner(&built.bytes), built.inner());
            prop_assert_eq!(d.meta.vni, spec.vni);
            prop_assert_eq!(d.meta.outer_src, Ipv4Addr::from(spec.src));
            prop_assert_eq!(d.meta.outer_dst, Ipv4Addr::from(spec.dst));
            prop_assert_eq!(d.meta.outer_src_port, spec.src_port);
        }

        #[test]
        fn prop_mutated_valid_frames_never_panic(
            spec in valid_spec(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = spec.build().bytes;
            // Mutate the headers (first 14 + 60 + 16 + 14 bytes) where decisions are made.
            let span = bytes.len().min(104);
            for (at, value) in edits {
                bytes[at.index(span)] = value;
            }
            let len = cut.index(bytes.len() + 1);
            let frame = &bytes[..len];
            if let Ok(d) = decap(frame, &DecapConfig::default()) {
                check_ok_invariants(frame, &d);
            }
        }
    }
}
