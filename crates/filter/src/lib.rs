//! tcpdump-syntax filters without DPDK, through libpcap alone: [`check`] tells whether an
//! expression compiles for a link type (what the configuration's validation asks, and what
//! `check-config` runs on a laptop), and [`PcapFilter`] runs a compiled expression in
//! libpcap's own interpreter (`pcap_offline_filter`) over a frame's bytes. The appliance's
//! workers run the same expression JIT-compiled by `rte_bpf` (`mirrorcap-dpdk`); both sit
//! behind the pipeline's filter trait, so a test can put one against the other.
#![forbid(unsafe_code)]
use pcap::{Capture, Linktype};

/// What a filter's bytes start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// An Ethernet frame (LINKTYPE_ETHERNET).
    Ethernet,
    /// A bare IPv4 or IPv6 packet (LINKTYPE_RAW): Geneve frames that carry IP directly.
    Raw,
}

impl LinkType {
    /// The pcap file header's link type.
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
        }
    }

    /// libpcap's data link type for a dead handle (DLT_RAW is 12 on Linux, not 101).
    fn dlt(self) -> Linktype {
        match self {
            LinkType::Ethernet => Linktype(1),
            LinkType::Raw => Linktype(12),
        }
    }
}

fn message(e: pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m,
        pcap::Error::MalformedError(_) => "the filter holds a NUL byte".to_string(),
        other => other.to_string(),
    }
}

fn compile(expr: &str, link: LinkType) -> Result<pcap::BpfProgram, String> {
    if expr.contains('\0') {
        return Err("the filter holds a NUL byte".into());
    }
    let dead = Capture::dead(link.dlt()).map_err(message)?;
    dead.compile(expr, true).map_err(message)
}

/// Checks that libpcap compiles `expr` for `link`.
pub fn check(expr: &str, link: LinkType) -> Result<(), String> {
    compile(expr, link).map(|_| ())
}

/// A compiled expression, run by libpcap's interpreter. Not `Sync` (libpcap's program is
/// owned by one thread at a time): each thread compiles its own.
pub struct PcapFilter {
    prog: pcap::BpfProgram,
    link: LinkType,
}

impl PcapFilter {
    pub fn new(expr: &str, link: LinkType) -> Result<PcapFilter, String> {
        Ok(PcapFilter {
            prog: compile(expr, link)?,
            link,
        })
    }

    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Whether the filter keeps `bytes` (a whole frame of this filter's link type).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        self.prog.filter(bytes)
    }

    /// Whether the program loads the packet's wire length (`len`, `greater`, `less`): the
    /// `pcap` crate hands libpcap the captured length as the wire length, so for a cut copy
    /// such a filter sees the cut length where tcpdump sees the original. (The instruction's
    /// fields are private; its Display is "code jt jf k". BPF_LD|BPF_W|BPF_LEN = 0x80,
    /// BPF_LDX|BPF_W|BPF_LEN = 0x81.)
    pub fn reads_wire_length(&self) -> bool {
        self.prog.get_instructions().iter().any(|i| {
            let s = i.to_string();
            matches!(s.split(' ').next(), Some("128") | Some("129"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet / IPv4 / UDP 10.0.0.1:1000 -> 10.0.0.2:53.
    fn udp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&[0x03, 0xe8, 0, 53, 0, 8, 0, 0]);
        f
    }

    #[test]
    fn compiles_and_matches_like_tcpdump() {
        let f = udp_frame();
        let yes = PcapFilter::new("udp port 53 and src host 10.0.0.1", LinkType::Ethernet).unwrap();
        let no = PcapFilter::new("tcp or host 10.0.0.9", LinkType::Ethernet).unwrap();
        assert!(yes.matches(&f));
        assert!(!no.matches(&f));
        let raw = PcapFilter::new("dst host 10.0.0.2", LinkType::Raw).unwrap();
        assert!(raw.matches(&f[14..]));
        assert!(!raw.matches(&f[..14]));
    }

    #[test]
    fn tells_filters_that_read_the_wire_length() {
        for (e, reads) in [
            ("greater 100", true),
            ("len < 64", true),
            ("less 9", true),
            ("host 10.0.0.1", false),
            ("tcp[13] & 2 != 0", false),
        ] {
            let f = PcapFilter::new(e, LinkType::Ethernet).unwrap();
            assert_eq!(f.reads_wire_length(), reads, "{e}");
        }
    }

    #[test]
    fn refuses_bad_expressions_with_libpcaps_message() {
        let e = check("port 99999", LinkType::Ethernet).unwrap_err();
        assert!(e.contains("99999"), "{e}");
        assert!(check("udp and", LinkType::Ethernet).is_err());
        assert!(check("a\0b", LinkType::Ethernet).is_err());
        assert!(check("ether host 1:2:3:4:5:6", LinkType::Raw).is_err());
    }
}
