//! Zero-copy header views over `&[u8]`, in the style of smoltcp's `wire` module.
//!
//! This module owns the byte layout of every header mirrorcap parses: field offset constants,
//! `new_checked` constructors that validate lengths once, and cheap field accessors after that.
//! Views borrow the packet bytes; nothing here allocates, copies payloads or panics on any input.
//! Deciding what a packet *means* (mirror traffic or not, which drop counter) is `decap`'s job.
//!
//! Each view stores its fixed-size header as `&[u8; N]`, so field reads index a fixed-size array
//! with constant offsets and need no runtime bounds checks once `new_checked` has succeeded.

#![forbid(unsafe_code)]

pub mod ethernet;
pub mod geneve;
pub mod ipv4;
pub mod ipv6;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use ethernet::EthernetFrame;
pub use geneve::{GeneveHeader, GeneveOption, GeneveOptions};
pub use ipv4::Ipv4Packet;
pub use ipv6::{Ipv6ExtHeader, Ipv6Packet};
pub use udp::UdpPacket;
pub use vlan::VlanTag;
pub use vxlan::VxlanHeader;

/// Why a view could not be built over a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header (or than a length the header itself declares
    /// for the header, such as IPv4's IHL).
    Truncated,
    /// The bytes are present but a field is inconsistent (wrong version, a length field that
    /// is too small or points past the end of the buffer).
    Malformed,
}

impl Error {
    /// Short snake_case label, for logs and tests.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::Malformed => "malformed",
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Error {}

/// Splits `buf` into a fixed-size header reference and the bytes after it, or `None` when
/// `buf` is shorter than `N`.
#[inline(always)]
pub(crate) fn split_header<const N: usize>(buf: &[u8]) -> Option<(&[u8; N], &[u8])> {
    let head = buf.get(..N)?;
    let rest = buf.get(N..)?;
    let head = <&[u8; N]>::try_from(head).ok()?;
    Some((head, rest))
}

/// Reads a big-endian `u16` at constant offset `at` of a fixed-size header.
///
/// `at + 1 < N` holds for every call site (they use the field constants); the fallback to `0`
/// only exists so that this function has no panic path even if that were ever violated.
#[inline(always)]
pub(crate) fn be16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    match (h.get(at), h.get(at.wrapping_add(1))) {
        (Some(&hi), Some(&lo)) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

/// Copies `M` bytes starting at constant offset `at` out of a fixed-size header (addresses).
/// Bytes past the end of `h` read as zero, which the field constants never request.
#[inline(always)]
pub(crate) fn bytes<const M: usize, const N: usize>(h: &[u8; N], at: usize) -> [u8; M] {
    let mut out = [0u8; M];
    for (o, b) in out.iter_mut().zip(h.iter().skip(at)) {
        *o = *b;
    }
    out
}

/// Builder of plain VXLAN frames with every field a knob, for tests (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod test_frames;

/// Builder of layered encapsulations (VLAN, IPv4/IPv6, UDP, VXLAN, Geneve), for tests
/// (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod test_encap;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_header_lengths() {
        let buf = [1u8, 2, 3, 4, 5];
        assert_eq!(split_header::<5>(&buf), Some((&[1, 2, 3, 4, 5], &[][..])));
        assert_eq!(split_header::<2>(&buf), Some((&[1, 2], &[3, 4, 5][..])));
        assert_eq!(split_header::<6>(&buf), None);
        assert_eq!(split_header::<1>(&[]), None);
        assert_eq!(split_header::<0>(&[]), Some((&[], &[][..])));
    }

    #[test]
    fn be16_and_bytes_read_fields_and_never_panic() {
        let h = [0x12u8, 0x34, 0x56];
        assert_eq!(be16(&h, 0), 0x1234);
        assert_eq!(be16(&h, 1), 0x3456);
        assert_eq!(be16(&h, 2), 0);
        assert_eq!(be16(&h, usize::MAX), 0);
        assert_eq!(bytes::<2, 3>(&h, 1), [0x34, 0x56]);
        assert_eq!(bytes::<2, 3>(&h, 2), [0x56, 0]);
        assert_eq!(bytes::<2, 3>(&h, usize::MAX), [0, 0]);
    }

    #[test]
    fn error_labels() {
        assert_eq!(Error::Truncated.to_string(), "truncated");
        assert_eq!(Error::Malformed.as_str(), "malformed");
    }
}
