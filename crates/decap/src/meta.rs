//! What the tunnel headers said about a mirrored frame: [`TunnelMeta`] and the small types it is
//! made of ([`TunnelKind`], [`InnerKind`], [`GeneveAws`]).

use std::net::IpAddr;

/// The encapsulation a mirrored frame arrived in (the innermost tunnel header removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// VXLAN (RFC 7348) over UDP, as sent by VPC Traffic Mirroring to an ENI or NLB target.
    Vxlan,
    /// Geneve (RFC 8926) over UDP, as sent by a Gateway Load Balancer endpoint.
    Geneve,
}

/// What the mirrored frame starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerKind {
    /// An Ethernet header (VXLAN, or Geneve protocol type 0x6558).
    Ethernet,
    /// A bare IPv4 packet (Geneve protocol type 0x0800): the writer adds a synthetic Ethernet
    /// header.
    Ipv4,
    /// A bare IPv6 packet (Geneve protocol type 0x86DD): the writer adds a synthetic Ethernet
    /// header.
    Ipv6,
}

/// AWS Gateway Load Balancer metadata carried in Geneve options of class 0x0108.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeneveAws {
    /// Type 1: the GWLB endpoint ID (8 bytes).
    pub endpoint_id: Option<u64>,
    /// Type 2: the attachment ID (8 bytes).
    pub attachment_id: Option<u64>,
    /// Type 3: the flow cookie (4 bytes).
    pub flow_cookie: Option<u32>,
}

/// What the outer headers said about a mirrored frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelMeta {
    /// The innermost tunnel removed.
    pub kind: TunnelKind,
    /// Session identity (24 bits): the VXLAN VNI when a VXLAN header was removed (the mirror
    /// session's VNI), else the innermost Geneve VNI.
    pub vni: u32,
    /// The outermost Geneve header's VNI, if any Geneve header was removed.
    pub geneve_vni: Option<u32>,
    /// Source address of the outermost IP header: the mirror source ENI's primary IP, or the
    /// GWLB's address when a Geneve layer came first.
    pub outer_src: IpAddr,
    /// Destination address of the outermost IP header: this target.
    pub outer_dst: IpAddr,
    /// Outermost UDP source port (AWS derives it from a hash of the inner flow).
    pub outer_src_port: u16,
    /// VLAN tags on the outermost Ethernet header (0..=2).
    pub outer_vlans: u8,
    /// Tunnel headers removed (1 for plain VXLAN, 2 for GWLB Geneve then VXLAN).
    pub depth: u8,
    /// The VXLAN header had reserved flag bits or reserved bytes set (tolerated).
    pub vxlan_reserved_bits: bool,
    /// Options in the outermost Geneve header (all classes, AWS ones included).
    pub geneve_options: u8,
    /// AWS GWLB options found in the outermost Geneve header.
    pub aws: GeneveAws,
    /// What the mirrored frame starts with.
    pub inner: InnerKind,
    /// Bytes of the mirrored frame missing: what its IP header claims beyond those present (a
    /// copy AWS truncated to the MTU or the session's packet length), or what the innermost
    /// tunnel's UDP length claims beyond them (a frame cut after its outer headers by a snaplen
    /// capture, replayed), whichever is more; 0 when complete. Present bytes plus this is the
    /// original length.
    pub truncated_by: u32,
}
