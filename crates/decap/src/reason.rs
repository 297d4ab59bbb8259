//! The decap drop taxonomy: [`DropReason`], one counter per reason, with a stable metrics label
//! and one sentence of operator help each.

/// Why a received frame is not a decapsulated mirror copy. Each reason has its own counter.
///
/// New reasons are appended, so existing indices (counter slots) never move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Not tunnel traffic for us: an EtherType other than IPv4/IPv6 (after at most two VLAN
    /// tags), an upper layer other than UDP, a UDP port that is neither a VXLAN nor a Geneve
    /// port, more than two VLAN tags or eight IPv6 extension headers, or a Geneve OAM frame.
    NotMirror = 0,
    /// A header (Ethernet, VLAN tag, IP, IPv6 extension header, UDP, VXLAN, Geneve with its
    /// option area, or the mirrored frame's first header) is cut short.
    TruncatedHeader = 1,
    /// The outer IP header is inconsistent: IPv4 version, IHL or a total length below the
    /// header; IPv6 version or a zero payload length (jumbogram). A length beyond the bytes
    /// present is a frame cut after its headers, captured and counted as truncated.
    BadIpHeader = 2,
    /// The outer IP packet is a fragment (IPv4 MF/offset, or an IPv6 fragment header).
    OuterFragment = 3,
    /// A tunnel's UDP length field is below 8 or beyond the IP payload the IP length claims.
    BadUdpLength = 4,
    /// The VXLAN flags lack the I (VNI valid) bit.
    BadVxlanFlags = 5,
    /// A Geneve header with a version other than 0, or an option overrunning the option area.
    BadGeneveHeader = 6,
    /// A Geneve payload that is not Ethernet (0x6558), IPv4 or IPv6.
    UnsupportedPayload = 7,
    /// More nested tunnel headers than `DecapConfig::max_depth`.
    TunnelTooDeep = 8,
}

impl DropReason {
    /// Every reason, in declaration order (`ALL[r.index()] == r`).
    pub const ALL: [DropReason; 9] = [
        DropReason::NotMirror,
        DropReason::TruncatedHeader,
        DropReason::BadIpHeader,
        DropReason::OuterFragment,
        DropReason::BadUdpLength,
        DropReason::BadVxlanFlags,
        DropReason::BadGeneveHeader,
        DropReason::UnsupportedPayload,
        DropReason::TunnelTooDeep,
    ];

    /// Number of reasons, for sizing per-reason counter arrays.
    pub const COUNT: usize = Self::ALL.len();

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
            DropReason::BadGeneveHeader => "bad_geneve_header",
            DropReason::UnsupportedPayload => "unsupported_payload",
            DropReason::TunnelTooDeep => "tunnel_too_deep",
        }
    }

    /// One sentence for operators: what the reason means and what to do about it.
    pub fn help(self) -> &'static str {
        match self {
            DropReason::NotMirror => {
                "The frame is not VXLAN or Geneve to a configured port (not IPv4/IPv6 after at \
                 most two VLAN tags, not UDP, another UDP port, or a Geneve OAM message), so it is \
                 not mirror traffic; if this grows, find what else sends to the capture ENI or \
                 check that vxlan_ports/geneve_ports match the mirror target."
            }
            DropReason::TruncatedHeader => {
                "A header (Ethernet, VLAN tag, IP, IPv6 extension, UDP, VXLAN, Geneve options or \
                 the mirrored frame's first header) is cut short, which AWS never sends; check the \
                 sender and that the port MTU and mbuf size fit 9001-byte frames plus outer \
                 headers."
            }
            DropReason::BadIpHeader => {
                "The outer IP header is malformed (IPv4 version or IHL wrong, total length below \
                 the header, IPv6 payload length 0 as in GSO/BIG TCP captures); capture the raw \
                 port to identify the sender, since AWS mirroring never sends these."
            }
            DropReason::OuterFragment => {
                "The outer IP packet is a fragment (IPv4 MF/offset or an IPv6 fragment header), \
                 which mirrored traffic never is (AWS truncates instead); look for a hop with a \
                 smaller MTU between the source and this target, or a non-AWS sender."
            }
            DropReason::BadUdpLength => {
                "The tunnel's UDP length field is below 8 or larger than the IP payload (for \
                 example GSO/BIG TCP frames captured before segmentation); capture the raw port \
                 to identify the sender, since AWS mirroring never sends these."
            }
            DropReason::BadVxlanFlags => {
                "The packet on a VXLAN port lacks the VXLAN I flag (0x08), so it is not RFC 7348 \
                 VXLAN (perhaps VXLAN-GPE or another protocol); check what is sending to that port."
            }
            DropReason::BadGeneveHeader => {
                "The packet on a Geneve port has a Geneve version other than 0 or an option that \
                 overruns the option area, so it is not RFC 8926 Geneve as GWLB sends it; check \
                 what is sending to that port."
            }
            DropReason::UnsupportedPayload => {
                "The Geneve header announces a payload other than Ethernet (0x6558), IPv4 or IPv6, \
                 which a Gateway Load Balancer never sends; check what is sending to the Geneve \
                 port."
            }
            DropReason::TunnelTooDeep => {
                "The packet nests more tunnel headers than max_depth allows (GWLB mirroring needs \
                 2: Geneve then VXLAN); raise max_depth only if your path really adds more layers, \
                 else find the looping or hostile sender."
            }
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
