//! Frames for the DPDK transmitter, written in place: per flow, the outer and inner headers
//! are built once at start; per packet the headers are copied, the payload filled from a fixed
//! pattern, the stamp written, and lengths and checksums patched. The inner IPv4 and UDP/TCP
//! checksums are valid (the payload pattern's sums come from a prefix table, so a 9000-byte
//! frame costs no more to checksum than a 60-byte one); the outer UDP checksum is 0 over IPv4
//! as VXLAN senders do, and computed over IPv6 where it is mandatory. No allocation after
//! [`Factory::new`].
use super::encap::{encapsulate_with, outer_len, Encap, OuterSpec};
use super::frames::{ipv4_checksum, mirror_source_port};
use mirrorcap_stamp::{write_stamp, Stamp};

/// The inner transport of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

/// Inner destination port of generated flows: one no dissector claims, so tshark shows the
/// stamp as data rather than guessing a protocol.
pub const INNER_DPORT: u16 = 44444;
/// Inner source port of flow 0 (flow f uses this + f).
pub const INNER_SPORT_BASE: u16 = 10_000;
/// Most flows a run may have (distinct inner source ports).
pub const MAX_FLOWS: u32 = 50_000;
const TCP_ISN: u32 = 1;

/// Everything fixed about a run's frames.
#[derive(Clone, Debug)]
pub struct FactorySpec {
    pub encap: Encap,
    pub outer_vlans: u8,
    pub inner_vlan: Option<u16>,
    pub truncate: Option<usize>,
    /// The outer addresses; `None` fields per flow from the documentation ranges.
    pub outer: OuterOverride,
    pub vxlan_port: u16,
    pub flows: u32,
    /// Percent of flows that are TCP (0: all UDP, 100: all TCP), spread evenly over flow ids.
    pub tcp_share: u8,
    /// VNIs, round-robin over flows.
    pub vnis: Vec<u32>,
    pub run_id: u32,
}

/// Outer addresses given on the command line (the rest per flow group by default).
#[derive(Clone, Copy, Debug, Default)]
pub struct OuterOverride {
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    pub src_ip: Option<std::net::IpAddr>,
    pub dst_ip: Option<std::net::IpAddr>,
}

/// Whether flow `f` of `flows` is TCP when `share` percent are: spread evenly, exactly
/// round-down(flows × share / 100) of them.
pub fn flow_is_tcp(f: u32, flows: u32, share: u8) -> bool {
    let _ = flows;
    let s = share.min(100) as u64;
    let f = f as u64;
    (f + 1) * s / 100 > f * s / 100
}

/// Per-flow state the transmitter keeps: the next sequence number and TCP bytes sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowState {
    pub seq: u64,
    pub tcp_bytes: u32,
}

#[derive(Clone, Debug)]
struct FlowTemplate {
    hdr: Vec<u8>,
    proto: Proto,
    vni: u32,
}

/// Where the per-packet length fields are.
#[derive(Clone, Copy, Debug)]
enum Layer {
    Ip4(usize),
    Ip6(usize),
    Udp(usize),
}

/// Builds frames in place (see the module doc).
#[derive(Clone, Debug)]
pub struct Factory {
    flows: Vec<FlowTemplate>,
    layers: [Option<Layer>; 5],
    /// Offset of the outer IPv6 UDP header whose checksum is computed (vxlan6).
    udp6: Option<(usize, usize)>,
    inner_off: usize,
    /// Inner IPv4 header offset within the inner frame.
    ip_rel: usize,
    truncate: Option<usize>,
    run_id: u32,
    /// The payload pattern by inner-frame offset, and its running 16-bit word sums.
    filler: Vec<u8>,
    prefix: Vec<u64>,
}

/// Sum of big-endian 16-bit words (an odd last byte padded with zero), unfolded.
#[inline]
fn sum_words(b: &[u8]) -> u64 {
    let mut s = 0u64;
    let mut c = b.chunks_exact(2);
    for w in &mut c {
        s += u16::from_be_bytes([w[0], w[1]]) as u64;
    }
    if let [x] = c.remainder() {
        s += (*x as u64) << 8;
    }
    s
}

#[inline]
fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

impl Factory {
    pub fn new(spec: &FactorySpec) -> Self {
        let flows = spec.flows.clamp(1, MAX_FLOWS);
        let vnis = if spec.vnis.is_empty() {
            vec![100]
        } else {
            spec.vnis.clone()
        };
        let eth = 14 + 4 * spec.outer_vlans.min(2) as usize;
        let inner_off = outer_len(spec.encap, spec.outer_vlans);
        let (layers, udp6) = match spec.encap {
            Encap::Vxlan => (
                [
                    Some(Layer::Ip4(eth)),
                    Some(Layer::Udp(eth + 20)),
                    None,
                    None,
                    None,
                ],
                None,
            ),
            Encap::Vxlan6 => (
                [
                    Some(Layer::Ip6(eth)),
                    Some(Layer::Udp(eth + 40)),
                    None,
                    None,
                    None,
                ],
                Some((eth, eth + 40)),
            ),
            Encap::Gwlb => (
                [
                    Some(Layer::Ip4(eth)),
                    Some(Layer::Udp(eth + 20)),
                    Some(Layer::Ip4(eth + 68)),
                    Some(Layer::Udp(eth + 88)),
                    None,
                ],
                None,
            ),
        };
        let ip_rel = if spec.inner_vlan.is_some() { 18 } else { 14 };
        let mut templates = Vec::with_capacity(flows as usize);
        for f in 0..flows {
            let proto = if flow_is_tcp(f, flows, spec.tcp_share) {
                Proto::Tcp
            } else {
                Proto::Udp
            };
            let inner = inner_headers(f, proto, spec.inner_vlan);
            let mut o = OuterSpec::default_for(spec.encap, f as u16);
            o.vxlan_port = spec.vxlan_port;
            let ov = &spec.outer;
            o.src_mac = ov.src_mac.unwrap_or(o.src_mac);
            o.dst_mac = ov.dst_mac.unwrap_or(o.dst_mac);
            o.src_ip = ov.src_ip.unwrap_or(o.src_ip);
            o.dst_ip = ov.dst_ip.unwrap_or(o.dst_ip);
            let vni = vnis[f as usize % vnis.len()];
            // The outer source port from the inner 5-tuple, as AWS picks it (IP addresses and
            // ports sit at the untagged offsets for the hash, as the pcap writer does).
            let sport = mirror_source_port(&inner[ip_rel - 14..]);
            let hdr = encapsulate_with(spec.encap, spec.outer_vlans, &o, vni, sport, &inner);
            templates.push(FlowTemplate { hdr, proto, vni });
        }
        let filler: Vec<u8> = (0..super::INNER_MAX).map(|i| (i % 251) as u8).collect();
        let mut prefix = Vec::with_capacity(filler.len() + 1);
        let mut s = 0u64;
        prefix.push(0);
        for (i, &b) in filler.iter().enumerate() {
            s += if i % 2 == 0 {
                (b as u64) << 8
            } else {
                b as u64
            };
            prefix.push(s);
        }
        Factory {
            flows: templates,
            layers,
            udp6,
            inner_off,
            ip_rel,
            truncate: spec.truncate,
            run_id: spec.run_id,
            filler,
            prefix,
        }
    }

    pub fn flow_count(&self) -> u32 {
        self.flows.len() as u32
    }
    pub fn proto(&self, flow: u32) -> Proto {
        self.flows[flow as usize].proto
    }
    pub fn vni(&self, flow: u32) -> u32 {
        self.flows[flow as usize].vni
    }
    /// Bytes before the mirrored frame.
    pub fn outer_len(&self) -> usize {
        self.inner_off
    }
    /// Room a frame with an inner frame of `inner` bytes needs before truncation.
    #[inline]
    pub fn full_len(&self, inner: usize) -> usize {
        self.inner_off + inner
    }
    /// Bytes the frame has on the wire (without FCS), after truncation.
    #[inline]
    pub fn wire_len(&self, inner: usize) -> usize {
        self.inner_off + self.truncate.map_or(inner, |t| inner.min(t))
    }

    /// Payload sum of the inner frame's pattern over inner offsets [a, b).
    #[inline]
    fn pattern_sum(&self, a: usize, b: usize) -> u64 {
        self.prefix[b] - self.prefix[a]
    }

    /// Writes the frame of `flow` with an inner frame of `inner` bytes (60..=9019) and the
    /// TX time `tx_ns` into `out[..full_len(inner)]`; advances the flow's state. Returns the
    /// frame's length ([`Factory::wire_len`]); bytes past it are scratch.
    #[inline]
    pub fn write(
        &self,
        flow: u32,
        st: &mut FlowState,
        inner: usize,
        tx_ns: u64,
        out: &mut [u8],
    ) -> usize {
        let t = &self.flows[flow as usize];
        let h = t.hdr.len();
        let full = self.inner_off + inner;
        let out = &mut out[..full];
        out[..h].copy_from_slice(&t.hdr);
        let io = self.inner_off;
        let pay_rel = h - io;
        out[h..].copy_from_slice(&self.filler[pay_rel..inner]);
        let written = write_stamp(
            &mut out[h..],
            &Stamp {
                seq: st.seq,
                flow: Some(flow),
                tx_ns: Some(tx_ns),
                run: Some(self.run_id),
            },
        );
        let fill_from = h + written;
        // Inner IPv4: total length, id (the sequence number's low bits), checksum.
        let ip = io + self.ip_rel;
        let ip_len = (full - ip) as u16;
        out[ip + 2..ip + 4].copy_from_slice(&ip_len.to_be_bytes());
        out[ip + 4..ip + 6].copy_from_slice(&(st.seq as u16).to_be_bytes());
        out[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
        let c = ipv4_checksum(&out[ip..ip + 20]);
        out[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
        // Inner UDP/TCP: length or sequence number, then the checksum over the pseudo-header,
        // the header and stamp as written and the pattern's precomputed sum.
        let l4 = ip + 20;
        let l4_len = full - l4;
        let proto = match t.proto {
            Proto::Udp => {
                out[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                out[l4 + 6..l4 + 8].copy_from_slice(&[0, 0]);
                17u64
            }
            Proto::Tcp => {
                let seq = TCP_ISN.wrapping_add(st.tcp_bytes);
                out[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
                out[l4 + 16..l4 + 18].copy_from_slice(&[0, 0]);
                st.tcp_bytes = st.tcp_bytes.wrapping_add((l4_len - 20) as u32);
                6
            }
        };
        let sum = sum_words(&out[ip + 12..ip + 20])
            + proto
            + l4_len as u64
            + sum_words(&out[l4..fill_from])
            + self.pattern_sum(fill_from - io, inner);
        let mut c = !fold(sum);
        let at = match t.proto {
            Proto::Udp => {
                if c == 0 {
                    c = 0xffff;
                }
                l4 + 6
            }
            Proto::Tcp => l4 + 16,
        };
        out[at..at + 2].copy_from_slice(&c.to_be_bytes());
        st.seq += 1;
        // Outer lengths for the (possibly truncated) frame.
        let wire = self.wire_len(inner);
        for l in self.layers.iter().flatten() {
            match *l {
                Layer::Ip4(o) => {
                    out[o + 2..o + 4].copy_from_slice(&((wire - o) as u16).to_be_bytes());
                    out[o + 10..o + 12].copy_from_slice(&[0, 0]);
                    let c = ipv4_checksum(&out[o..o + 20]);
                    out[o + 10..o + 12].copy_from_slice(&c.to_be_bytes());
                }
                Layer::Ip6(o) => {
                    out[o + 4..o + 6].copy_from_slice(&((wire - o - 40) as u16).to_be_bytes());
                }
                Layer::Udp(o) => {
                    out[o + 4..o + 6].copy_from_slice(&((wire - o) as u16).to_be_bytes());
                }
            }
        }
        if let Some((ip6, u)) = self.udp6 {
            out[u + 6..u + 8].copy_from_slice(&[0, 0]);
            let direct_end = fill_from.min(wire);
            let mut sum = sum_words(&out[ip6 + 8..ip6 + 40])
                + 17
                + (wire - u) as u64
                + sum_words(&out[u..direct_end]);
            if wire > fill_from {
                sum += self.pattern_sum(fill_from - io, wire - io);
            }
            let c = match !fold(sum) {
                0 => 0xffff,
                c => c,
            };
            out[u + 6..u + 8].copy_from_slice(&c.to_be_bytes());
        }
        wire
    }
}

/// The inner Ethernet (optionally 802.1Q-tagged), IPv4 and UDP or TCP headers of `flow`, with
/// lengths, id and checksums left for [`Factory::write`].
fn inner_headers(flow: u32, proto: Proto, vlan: Option<u16>) -> Vec<u8> {
    use super::frames::push_inner_eth;
    let mut f = Vec::with_capacity(58);
    push_inner_eth(&mut f, vlan);
    let l4proto = match proto {
        Proto::Udp => 17,
        Proto::Tcp => 6,
    };
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, l4proto, 0, 0]);
    f.extend_from_slice(&[192, 0, 2, (flow % 250) as u8 + 1]);
    f.extend_from_slice(&[203, 0, 113, 7]);
    let sport = INNER_SPORT_BASE + flow as u16;
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&INNER_DPORT.to_be_bytes());
    match proto {
        Proto::Udp => f.extend_from_slice(&[0, 0, 0, 0]),
        Proto::Tcp => {
            f.extend_from_slice(&TCP_ISN.to_be_bytes()); // sequence, patched per packet
            f.extend_from_slice(&1u32.to_be_bytes()); // acknowledgment
            f.extend_from_slice(&[0x50, 0x18]); // 20-byte header, PSH + ACK
            f.extend_from_slice(&502u16.to_be_bytes()); // window
            f.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcap_decap::{decap, DecapConfig};

    /// The ones'-complement checksum computed the slow way over whole buffers.
    fn naive(parts: &[&[u8]]) -> u16 {
        let mut s = 0u64;
        for p in parts {
            s += sum_words(p);
        }
        !fold(s)
    }

    fn spec(encap: Encap, tcp_share: u8) -> FactorySpec {
        FactorySpec {
            encap,
            outer_vlans: 1,
            inner_vlan: None,
            truncate: None,
            outer: OuterOverride::default(),
            vxlan_port: 4789,
            flows: 4,
            tcp_share,
            vnis: vec![7, 8],
            run_id: 0xabcd,
        }
    }

    #[test]
    fn checksums_match_a_full_computation_at_every_size() {
        for encap in [Encap::Vxlan, Encap::Vxlan6, Encap::Gwlb] {
            for share in [0, 100] {
                let f = Factory::new(&spec(encap, share));
                let mut buf = vec![0u8; 10_000];
                let mut st = FlowState::default();
                for size in [60, 61, 71, 72, 84, 85, 100, 1514, 9019] {
                    let n = f.write(1, &mut st, size, 123_456, &mut buf);
                    let frame = &buf[..n];
                    let d = decap(frame, &DecapConfig::default()).expect("decaps");
                    assert_eq!(d.meta.vni, 8, "flow 1 has the second VNI");
                    let inner = d.inner(frame);
                    assert_eq!(inner.len(), size);
                    let ip = &inner[14..34];
                    assert_eq!(naive(&[ip]), 0, "{encap:?} {size}: inner IPv4 checksum");
                    let l4 = &inner[34..];
                    let proto = if share == 100 { 6u8 } else { 17 };
                    assert_eq!(ip[9], proto);
                    let pseudo = [
                        &ip[12..20],
                        &[0, proto],
                        &(l4.len() as u16).to_be_bytes()[..],
                    ]
                    .concat();
                    assert_eq!(naive(&[&pseudo, l4]), 0, "{encap:?} {size}: L4 checksum");
                    if encap == Encap::Vxlan6 {
                        let ip6 = &frame[18..58];
                        let udp = &frame[58..];
                        let pseudo = [
                            &ip6[8..40],
                            &(udp.len() as u32).to_be_bytes()[..],
                            &[0, 0, 0, 17],
                        ]
                        .concat();
                        assert_eq!(naive(&[&pseudo, udp]), 0, "{size}: outer UDP over IPv6");
                    }
                }
                assert_eq!(st.seq, 9);
            }
        }
    }

    #[test]
    fn tcp_share_spreads_evenly() {
        let n = (0..64).filter(|&f| flow_is_tcp(f, 64, 25)).count();
        assert_eq!(n, 16);
        assert!((0..10).all(|f| flow_is_tcp(f, 10, 100)));
        assert!((0..10).all(|f| !flow_is_tcp(f, 10, 0)));
    }
}
