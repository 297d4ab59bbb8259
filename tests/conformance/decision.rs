//! What the oracle decides per packet (a captured frame or a drop with its reason) and the
//! run flags it decides under.
use super::*;
use mirrorcap_decap::GeneveAws;
use std::net::IpAddr;

pub const NOT_MIRROR: &str = "not_mirror";
pub const TRUNCATED_HEADER: &str = "truncated_header";
pub const BAD_IP_HEADER: &str = "bad_ip_header";
pub const OUTER_FRAGMENT: &str = "outer_fragment";
pub const BAD_UDP_LENGTH: &str = "bad_udp_length";
pub const BAD_VXLAN_FLAGS: &str = "bad_vxlan_flags";
pub const BAD_GENEVE_HEADER: &str = "bad_geneve_header";
pub const UNSUPPORTED_PAYLOAD: &str = "unsupported_payload";
pub const TUNNEL_TOO_DEEP: &str = "tunnel_too_deep";
pub const OVERSIZE_FRAME: &str = "oversize_frame";

/// The largest frame one mbuf holds: app/run.rs sizes the pools' data room as MAX_FRAME plus
/// headroom, and net_pcap chains mbufs for a larger record.
pub const ONE_MBUF: usize = mirrorcap::app::MAX_FRAME as usize;

/// The ports and depth `mirrorcap run` uses, from the same flags (CLI defaults otherwise).
#[derive(Clone, Debug)]
pub struct Config {
    pub vxlan: Vec<u16>,
    pub geneve: Vec<u16>,
    pub max_depth: u8,
}

impl Config {
    pub fn from_args(args: &[&str]) -> Config {
        let (mut vxlan, mut geneve, mut max_depth) = (Vec::new(), Vec::new(), 3);
        for w in args.windows(2) {
            match w[0] {
                "--vxlan-port" => vxlan.push(w[1].parse().unwrap()),
                "--geneve-port" => geneve.push(w[1].parse().unwrap()),
                "--max-depth" => max_depth = w[1].parse().unwrap(),
                _ => {}
            }
        }
        // A flag given replaces the default list (clap's default_values).
        if vxlan.is_empty() {
            vxlan.push(4789);
        }
        if geneve.is_empty() {
            geneve.push(6081);
        }
        Config {
            vxlan,
            geneve,
            max_depth,
        }
    }

    /// tshark decodes 4789 as VXLAN and 6081 as Geneve; other configured ports are told.
    pub fn decode_as(&self) -> Vec<String> {
        let mut v = Vec::new();
        for p in self.vxlan.iter().filter(|&&p| p != 4789) {
            v.push(format!("udp.port=={p},vxlan"));
        }
        for p in self.geneve.iter().filter(|&&p| p != 6081) {
            v.push(format!("udp.port=={p},geneve"));
        }
        v
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inner {
    Eth,
    V4,
    V6,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tunnel {
    Vxlan,
    Geneve,
}

/// A captured frame as the oracle predicts it.
#[derive(Clone, Debug)]
pub struct Frame {
    pub offset: usize,
    pub len: usize,
    pub inner: Inner,
    pub tunnel: Tunnel,
    pub vni: u32,
    pub geneve_vni: Option<u32>,
    pub depth: u8,
    pub reserved_bits: bool,
    pub truncated_by: u32,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
    pub outer_src_port: u16,
    pub outer_vlans: u8,
    pub geneve_options: u8,
    pub aws: GeneveAws,
}

impl Frame {
    pub fn exported_len(&self) -> usize {
        self.len + if self.inner == Inner::Eth { 0 } else { 14 }
    }
}

#[derive(Clone, Debug)]
pub struct Dropped {
    pub reason: &'static str,
    pub why: String,
}

pub type Decision = Result<Frame, Dropped>;

pub fn reject<T>(reason: &'static str, why: impl Into<String>) -> Result<T, Dropped> {
    Err(Dropped {
        reason,
        why: why.into(),
    })
}

pub struct L2 {
    pub ethertype: u64,
    pub tags: u8,
    pub end: usize,
}

pub struct L3 {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub udp: usize,
    /// The end of the IP packet's bytes present.
    pub end: usize,
    /// Where the IP length says the packet ends (beyond `end` when the frame was cut).
    pub claimed_end: usize,
}

#[derive(Clone, Copy)]
pub struct Udp {
    pub src_port: u16,
    pub tunnel: Tunnel,
    pub payload: usize,
    /// The end of the datagram's bytes present.
    pub end: usize,
    /// Where the UDP length says the datagram ends (beyond `end` when the frame was cut).
    pub claimed_end: usize,
}

pub struct Geneve {
    pub vni: u32,
    pub options: u8,
    pub aws: GeneveAws,
    pub inner: Inner,
    pub payload: usize,
}

pub struct Oracle<'a> {
    pub d: &'a Dissection,
    pub cfg: &'a Config,
    pub ctx: String,
}

/// VLAN TPIDs accepted on the outer frame (802.1Q, 802.1ad, the old QinQ 0x9100).
pub const TPIDS: [u64; 3] = [0x8100, 0x88a8, 0x9100];
