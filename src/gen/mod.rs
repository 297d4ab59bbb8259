//! Synthetic mirrored traffic: VXLAN frames as AWS VPC Traffic Mirroring sends them (outer
//! TTL 255, IP id 0, UDP source port from a hash of the inner 5-tuple) carrying inner
//! Ethernet/IPv4/UDP frames with a sequence number, plus labelled noise, written as a pcap.
//! Pure: builds bytes; the `gen` subcommand writes them to a file, or (`crate::gentx`) has
//! [`factory::Factory`] write them into mbufs and transmits them over DPDK.
#![forbid(unsafe_code)]
mod encap;
pub mod factory;
mod frames;
mod noise;
pub mod sizes;

pub use encap::{
    encapsulate, encapsulate_with, geneve_aws_header, mirrored_vxlan, outer_len, Encap, OuterSpec,
    GWLB_ATTACHMENT_ID, GWLB_ENDPOINT_ID, GWLB_FLOW_COOKIE, GWLB_VNI,
};
pub use frames::{
    inner_frame, inner_frame_tagged, mirror_source_port, vxlan_header, OuterAddrs, SEQ_TAG,
};
pub use noise::{noise_frame, NoiseKind, NOISE_KINDS};

use mirrorcap_ring::pcapfmt::{file_header, RecordHeader};
use std::io::Write;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenSpec {
    pub count: u64,
    pub vnis: Vec<u32>,
    pub inner_min: usize,
    pub inner_max: usize,
    pub noise_every: u64,
    pub seed: u64,
    pub encap: Encap,
    /// Outer VLAN tags (0, 1 = 802.1Q, 2 = 802.1ad + 802.1Q).
    pub outer_vlans: u8,
    /// An 802.1Q tag inside the mirrored frame (VLAN id), kept as is by the appliance.
    pub inner_vlan: Option<u16>,
    /// Cut mirrored frames longer than this, as AWS does beyond the target's MTU (the inner
    /// IP header keeps the original length).
    pub truncate: Option<usize>,
    /// Inner flows: frame n belongs to flow n % flows.
    pub flows: u64,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec {
            count: 1000,
            vnis: vec![100],
            inner_min: 60,
            inner_max: 1514,
            noise_every: 0,
            seed: 1,
            encap: Encap::Vxlan,
            outer_vlans: 0,
            inner_vlan: None,
            truncate: None,
            flows: 64,
        }
    }
}

/// What was generated, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenReport {
    pub mirrored: u64,
    pub noise: u64,
    pub noise_by_kind: Vec<(&'static str, u64)>,
    pub bytes: u64,
}

/// Smallest and largest inner frame (Ethernet, no FCS) the generator makes.
pub const INNER_MIN: usize = 60;
/// A 9001-byte IP MTU (the ENA jumbo MTU) plus an Ethernet header and a VLAN tag.
pub const INNER_MAX: usize = 9019;

/// A small deterministic PRNG (xorshift64*), so fixtures are reproducible from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// Parses `N` or `MIN-MAX` within 60..=9019.
pub fn parse_inner_size(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let p = |x: &str| {
        x.parse::<usize>()
            .map_err(|_| format!("--inner-size '{s}': use N or MIN-MAX in bytes"))
    };
    let (lo, hi) = (p(a)?, p(b)?);
    if lo < INNER_MIN || hi > INNER_MAX || lo > hi {
        return Err(format!(
            "--inner-size '{s}': sizes must be within {INNER_MIN}-{INNER_MAX} and MIN <= MAX"
        ));
    }
    Ok((lo, hi))
}

/// Writes the capture described by `spec` to `out` as a nanosecond pcap, timestamps 1 µs apart.
pub fn write_pcap(spec: &GenSpec, out: &mut dyn Write) -> std::io::Result<GenReport> {
    let mut rng = Rng::new(spec.seed);
    let mut rep = GenReport {
        noise_by_kind: NOISE_KINDS.iter().map(|k| (k.label(), 0)).collect(),
        ..GenReport::default()
    };
    out.write_all(&file_header())?;
    let mut ts: u64 = 1_700_000_000_000_000_000;
    let put = |frame: &[u8], ts: u64, out: &mut dyn Write| -> std::io::Result<u64> {
        let h = RecordHeader {
            ts_ns: ts,
            incl_len: frame.len() as u32,
            orig_len: frame.len() as u32,
        };
        out.write_all(&h.encode())?;
        out.write_all(frame)?;
        Ok(frame.len() as u64)
    };
    let vnis = if spec.vnis.is_empty() {
        vec![100]
    } else {
        spec.vnis.clone()
    };
    for seq in 0..spec.count {
        let vni = vnis[(seq % vnis.len() as u64) as usize];
        let size = rng.range(spec.inner_min, spec.inner_max);
        let flow = (seq % spec.flows.max(1)) as u16;
        let mut inner = inner_frame_tagged(seq, flow, size, spec.inner_vlan);
        let sport = mirror_source_port(&inner);
        if let Some(t) = spec.truncate {
            inner.truncate(t.max(14));
        }
        let frame = encapsulate(
            spec.encap,
            spec.outer_vlans,
            &OuterAddrs::default_for(flow),
            flow,
            vni,
            sport,
            &inner,
        );
        rep.bytes += put(&frame, ts, out)?;
        rep.mirrored += 1;
        ts += 1000;
        if spec.noise_every > 0 && (seq + 1) % spec.noise_every == 0 {
            let k = ((seq + 1) / spec.noise_every - 1) as usize % NOISE_KINDS.len();
            let kind = NOISE_KINDS[k];
            let frame = noise_frame(kind, seq);
            rep.bytes += put(&frame, ts, out)?;
            rep.noise += 1;
            rep.noise_by_kind[k].1 += 1;
            ts += 1000;
        }
    }
    out.flush()?;
    Ok(rep)
}
