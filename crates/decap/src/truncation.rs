//! Truncation detection on the mirrored frame: AWS cuts copies larger than the target MTU (or
//! the session's packet length) but leaves the inner IP header's length, so the shortfall is
//! visible; a capture replayed from a file taken with a snaplen was cut after the outer headers,
//! whose lengths still say how long the mirrored frame was. Measured, never "fixed" and never a
//! drop.

use super::{l2, InnerKind};
use mirrorcap_wire::{ethernet, Ipv4Packet, Ipv6Packet};

/// Bytes of the mirrored frame missing from `frame`: the larger of `missing` (what the
/// innermost tunnel's UDP length claims beyond the bytes present) and what the mirrored frame's
/// own IP header claims beyond them (IPv4 total length, or 40 + IPv6 payload length, minus the
/// bytes from the IP header to the end of `frame`; 0 when not IPv4/IPv6 after at most two VLAN
/// tags, or its IP header is short). Both count from the end of `frame`, so the larger one is
/// the longer of the two original lengths the headers give.
#[inline]
pub(super) fn truncated_by(frame: &[u8], missing: usize, inner: InnerKind) -> u32 {
    let by_ip = ip_truncated_by(frame, inner);
    if missing == 0 {
        return by_ip;
    }
    u32::try_from(missing).unwrap_or(u32::MAX).max(by_ip)
}

/// What the mirrored frame's own IP header claims beyond the bytes present.
#[inline]
fn ip_truncated_by(frame: &[u8], inner: InnerKind) -> u32 {
    let (ethertype, ip) = match inner {
        InnerKind::Ethernet => match l2::parse(frame) {
            Ok(l2) => (l2.ethertype, l2.payload),
            Err(_) => return 0,
        },
        InnerKind::Ipv4 => (ethernet::ETHERTYPE_IPV4, frame),
        InnerKind::Ipv6 => (ethernet::ETHERTYPE_IPV6, frame),
    };
    let claimed = match ethertype {
        ethernet::ETHERTYPE_IPV4 => Ipv4Packet::claimed_len(ip),
        ethernet::ETHERTYPE_IPV6 => Ipv6Packet::claimed_len(ip),
        _ => None,
    };
    claimed.map_or(0, |c| {
        u32::try_from(c.saturating_sub(ip.len())).unwrap_or(u32::MAX)
    })
}
