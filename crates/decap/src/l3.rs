//! The L3 step: an IPv4 or IPv6 header (IPv6 extension headers walked) that must carry an
//! unfragmented UDP datagram, giving the addresses and the datagram bounded by the IP length,
//! or by the bytes present when the packet was cut after its headers (a snaplen capture).

use super::{reason, DropReason};
use mirrorcap_wire::{self as wire, ethernet, ipv4, ipv6, Ipv4Packet, Ipv6ExtHeader, Ipv6Packet};
use std::net::IpAddr;

/// The IP header the addresses are read from, kept as a view: building `IpAddr`s (17 bytes,
/// byte-aligned) only once, at the end, keeps them out of the intermediate results.
#[derive(Clone, Copy, Debug)]
pub(super) enum IpHeader<'a> {
    V4(Ipv4Packet<'a>),
    V6(Ipv6Packet<'a>),
}

impl IpHeader<'_> {
    /// Source address.
    #[inline(always)]
    pub fn src(&self) -> IpAddr {
        match self {
            IpHeader::V4(ip) => IpAddr::V4(ip.src_addr()),
            IpHeader::V6(ip) => IpAddr::V6(ip.src_addr()),
        }
    }

    /// Destination address.
    #[inline(always)]
    pub fn dst(&self) -> IpAddr {
        match self {
            IpHeader::V4(ip) => IpAddr::V4(ip.dst_addr()),
            IpHeader::V6(ip) => IpAddr::V6(ip.dst_addr()),
        }
    }
}

/// Most IPv6 extension headers (hop-by-hop, routing, destination options) walked before UDP.
pub(super) const MAX_IPV6_EXT_HEADERS: u8 = 8;

/// An IP header carrying UDP.
#[derive(Clone, Copy, Debug)]
pub(super) struct L3<'a> {
    /// The header, for the addresses.
    pub ip: IpHeader<'a>,
    /// Bytes of IP header, options and extension headers before the UDP header.
    pub header_len: usize,
    /// The UDP datagram: the IP payload after extension headers, excluding Ethernet padding;
    /// only the bytes present when the packet was cut.
    pub payload: &'a [u8],
    /// Bytes the IP length claims beyond `payload` (0 unless the packet was cut).
    pub missing: usize,
}

/// Reads the IP header that `ethertype` announces at the start of `buf`.
///
/// `beyond` is how many bytes past the end of `buf` the enclosing header says there were
/// (`usize::MAX` for the received frame, which nothing encloses): an IP length claiming more
/// than the bytes present is a cut packet, and is accepted up to `beyond`.
///
/// `NotMirror` for other EtherTypes, other upper layers, or too many extension headers;
/// `TruncatedHeader` / `BadIpHeader` for a short / inconsistent header (an IP length beyond
/// `beyond` included); `OuterFragment` for an IPv4 fragment or any IPv6 fragment header.
#[inline(always)]
pub(super) fn parse(ethertype: u16, buf: &[u8], beyond: usize) -> Result<L3<'_>, DropReason> {
    match ethertype {
        ethernet::ETHERTYPE_IPV4 => parse_ipv4(buf, beyond),
        ethernet::ETHERTYPE_IPV6 => parse_ipv6(buf, beyond),
        _ => Err(DropReason::NotMirror),
    }
}

#[inline(always)]
fn parse_ipv4(buf: &[u8], beyond: usize) -> Result<L3<'_>, DropReason> {
    // The whole packet is there nearly always: check that first, the cut only when it is not.
    let (ip, missing) = match Ipv4Packet::new_checked(buf) {
        Ok(ip) => (ip, 0),
        Err(wire::Error::Malformed) => cut_ipv4(buf, beyond)?,
        Err(e) => return Err(reason(e, DropReason::BadIpHeader)),
    };
    if ip.is_fragment() {
        return Err(DropReason::OuterFragment);
    }
    if ip.protocol() != ipv4::PROTO_UDP {
        return Err(DropReason::NotMirror);
    }
    Ok(L3 {
        header_len: ip.header_len(),
        payload: ip.payload(),
        missing,
        ip: IpHeader::V4(ip),
    })
}

/// An IPv4 packet `new_checked` refused as malformed: a cut one, if its total length is beyond
/// the bytes present by at most `beyond`, else a bad header.
#[cold]
#[inline(never)]
fn cut_ipv4(buf: &[u8], beyond: usize) -> Result<(Ipv4Packet<'_>, usize), DropReason> {
    let ip = Ipv4Packet::new_cut(buf).map_err(|e| reason(e, DropReason::BadIpHeader))?;
    match ip.missing() {
        0 => Err(DropReason::BadIpHeader),
        m if m > beyond => Err(DropReason::BadIpHeader),
        m => Ok((ip, m)),
    }
}

#[inline]
fn parse_ipv6(buf: &[u8], beyond: usize) -> Result<L3<'_>, DropReason> {
    let (ip, missing) = match Ipv6Packet::new_checked(buf) {
        Ok(ip) => (ip, 0),
        Err(wire::Error::Malformed) => cut_ipv6(buf, beyond)?,
        Err(e) => return Err(reason(e, DropReason::BadIpHeader)),
    };
    if ip.payload_len() == 0 {
        // A jumbogram, or a BIG TCP / GSO frame captured before segmentation.
        return Err(DropReason::BadIpHeader);
    }
    let mut next = ip.next_header();
    let mut rest = ip.payload();
    let mut header_len = ipv6::HEADER_LEN;
    let mut walked = 0u8;
    loop {
        match next {
            ipv6::NH_UDP => {
                return Ok(L3 {
                    ip: IpHeader::V6(ip),
                    header_len,
                    payload: rest,
                    missing,
                })
            }
            ipv6::NH_FRAGMENT => return Err(DropReason::OuterFragment),
            ipv6::NH_HOP_BY_HOP | ipv6::NH_ROUTING | ipv6::NH_DEST_OPTS => {
                if walked == MAX_IPV6_EXT_HEADERS {
                    return Err(DropReason::NotMirror);
                }
                walked += 1;
                let ext =
                    Ipv6ExtHeader::new_checked(rest).map_err(|_| DropReason::TruncatedHeader)?;
                next = ext.next_header();
                rest = ext.payload();
                header_len += ext.header_len();
            }
            _ => return Err(DropReason::NotMirror),
        }
    }
}

/// An IPv6 packet `new_checked` refused as malformed: a cut one, if its payload length is
/// beyond the bytes present by at most `beyond`, else a bad header.
#[cold]
#[inline(never)]
fn cut_ipv6(buf: &[u8], beyond: usize) -> Result<(Ipv6Packet<'_>, usize), DropReason> {
    let ip = Ipv6Packet::new_cut(buf).map_err(|e| reason(e, DropReason::BadIpHeader))?;
    match ip.missing() {
        0 => Err(DropReason::BadIpHeader),
        m if m > beyond => Err(DropReason::BadIpHeader),
        m => Ok((ip, m)),
    }
}
