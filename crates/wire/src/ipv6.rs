//! IPv6 packet view: the fixed 40-byte header, the payload bounded by the payload length, and
//! the generic extension header layout (hop-by-hop, routing, destination options).
//!
//! Owns the IPv6 header layout, its length rule (40 + payload length <= bytes present, or beyond
//! them for a packet cut after its header; bytes after that, Ethernet padding, are never payload), the next-header numbers decap dispatches on
//! and [`Ipv6ExtHeader`], the view of one `(next header, length in 8-octet units)` extension
//! header. Which extension headers may be skipped, and how many, is decided by `decap`.

use super::{be16, bytes, split_header, Error};
use std::net::Ipv6Addr;

/// Byte offsets of the IPv6 header fields.
pub mod field {
    /// Version (4 bits), traffic class (8 bits) and flow label (20 bits).
    pub const VER_TC_FLOW: usize = 0;
    /// Payload length (everything after the 40-byte header), big-endian u16.
    pub const PAYLOAD_LEN: usize = 4;
    /// Protocol number of the first extension header or the upper layer.
    pub const NEXT_HEADER: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address, 16 bytes.
    pub const SRC: usize = 8;
    /// Destination address, 16 bytes.
    pub const DST: usize = 24;
    /// First payload byte (first extension header, or the upper layer).
    pub const PAYLOAD: usize = 40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// Next header: hop-by-hop options.
pub const NH_HOP_BY_HOP: u8 = 0;
/// Next header: UDP.
pub const NH_UDP: u8 = 17;
/// Next header: routing header.
pub const NH_ROUTING: u8 = 43;
/// Next header: fragment header.
pub const NH_FRAGMENT: u8 = 44;
/// Next header: no next header.
pub const NH_NO_NEXT: u8 = 59;
/// Next header: destination options.
pub const NH_DEST_OPTS: u8 = 60;

/// A validated view of an IPv6 packet.
///
/// Guarantees: version 6, the 40-byte header is present, `40 + payload_len() <= buffer length`
/// unless built by [`Ipv6Packet::new_cut`], whose payload then ends with the buffer
/// ([`Ipv6Packet::missing`]).
/// A payload length of 0 (a jumbogram, or a BIG TCP capture) gives an empty payload; judging
/// that is the caller's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<'a> {
    header: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Builds a view over `buf`, which starts at the version nibble and may carry trailing bytes
    /// (Ethernet padding) after the payload.
    ///
    /// Errors, in the order checked:
    /// - [`Error::Truncated`]: fewer than 40 bytes;
    /// - [`Error::Malformed`]: version != 6, or 40 + payload length > the bytes present.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, rest) = split_header::<HEADER_LEN>(buf).ok_or(Error::Truncated)?;
        if header[field::VER_TC_FLOW] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        let payload = rest
            .get(..usize::from(be16(header, field::PAYLOAD_LEN)))
            .ok_or(Error::Malformed)?;
        Ok(Ipv6Packet { header, payload })
    }

    /// Like [`new_checked`](Self::new_checked), but a payload length beyond the bytes present
    /// is accepted: the packet was cut after its header (a capture taken with a snaplen), so the
    /// payload is the bytes that are there and [`missing`](Self::missing) tells how many are not.
    ///
    /// Errors: [`Error::Truncated`] for fewer than 40 bytes, [`Error::Malformed`] for
    /// version != 6.
    #[inline]
    pub fn new_cut(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, rest) = split_header::<HEADER_LEN>(buf).ok_or(Error::Truncated)?;
        if header[field::VER_TC_FLOW] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        let claimed = usize::from(be16(header, field::PAYLOAD_LEN));
        let payload = rest
            .get(..claimed.min(rest.len()))
            .ok_or(Error::Malformed)?;
        Ok(Ipv6Packet { header, payload })
    }

    /// Payload bytes the payload length claims beyond those present: 0 for a view from
    /// [`new_checked`](Self::new_checked), the cut for one from [`new_cut`](Self::new_cut).
    #[inline]
    pub fn missing(&self) -> usize {
        usize::from(self.payload_len()).saturating_sub(self.payload.len())
    }

    /// The length the packet claims (40 + payload length) if `buf` starts with a complete IPv6
    /// header, however many bytes follow; `None` when fewer than 40 bytes or not version 6.
    /// Used to detect truncated copies, whose header keeps the original length.
    #[inline]
    pub fn claimed_len(buf: &[u8]) -> Option<usize> {
        let (header, _) = split_header::<HEADER_LEN>(buf)?;
        (header[field::VER_TC_FLOW] >> 4 == 6)
            .then(|| HEADER_LEN + usize::from(be16(header, field::PAYLOAD_LEN)))
    }

    /// IP version (always 6 for a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.header[field::VER_TC_FLOW] >> 4
    }

    /// Traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        let hi = self.header[field::VER_TC_FLOW] & 0x0F;
        let lo = self.header[field::VER_TC_FLOW + 1] >> 4;
        (hi << 4) | lo
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        let [a, b, c] = bytes::<3, HEADER_LEN>(self.header, field::VER_TC_FLOW + 1);
        u32::from_be_bytes([0, a & 0x0F, b, c])
    }

    /// Payload length field: bytes after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.header, field::PAYLOAD_LEN)
    }

    /// Next header: the first extension header's or the upper layer's protocol number.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.header[field::NEXT_HEADER]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.header[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(bytes::<16, HEADER_LEN>(self.header, field::SRC))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(bytes::<16, HEADER_LEN>(self.header, field::DST))
    }

    /// Payload: the `payload_len()` bytes after the fixed header (extension headers first),
    /// excluding any padding.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// Byte offsets of the generic extension header fields (hop-by-hop, routing, destination
/// options; the fragment header shares the first byte and its fixed 8-byte size).
pub mod ext_field {
    /// Protocol number of the header after this one.
    pub const NEXT_HEADER: usize = 0;
    /// Length in 8-octet units, not counting the first 8 octets.
    pub const LEN: usize = 1;
}

/// Smallest extension header (length field 0).
pub const EXT_MIN_LEN: usize = 8;

/// A validated view of one extension header in the `(next header, length)` format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6ExtHeader<'a> {
    header: &'a [u8; EXT_MIN_LEN],
    len: usize,
    payload: &'a [u8],
}

impl<'a> Ipv6ExtHeader<'a> {
    /// Builds a view over `buf`, which starts at the extension header's next-header byte.
    ///
    /// Returns [`Error::Truncated`] when `buf` is shorter than 8 bytes or than the length the
    /// header declares ((length + 1) * 8 bytes).
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, _) = split_header::<EXT_MIN_LEN>(buf).ok_or(Error::Truncated)?;
        let len = (usize::from(header[ext_field::LEN]) + 1) * EXT_MIN_LEN;
        let payload = buf.get(len..).ok_or(Error::Truncated)?;
        Ok(Ipv6ExtHeader {
            header,
            len,
            payload,
        })
    }

    /// Protocol number of the header after this one.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.header[ext_field::NEXT_HEADER]
    }

    /// Length of this header in bytes (8..=2048).
    #[inline]
    pub fn header_len(&self) -> usize {
        self.len
    }

    /// Everything after this header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_encap::{ipv6, Ipv6Spec};
    use etherparse::{Ipv6HeaderSlice, Ipv6RawExtHeaderSlice};

    fn spec(ext: Vec<(u8, u8)>) -> Ipv6Spec {
        Ipv6Spec {
            ext,
            traffic_class: 0xB8,
            flow_label: 0xA_BCDE,
            hop_limit: 64,
            ..Ipv6Spec::default()
        }
    }

    #[test]
    fn good_packet_fields_match_etherparse() {
        let buf = ipv6(&spec(vec![]), NH_UDP, &[0x5A; 30]);
        let ip = Ipv6Packet::new_checked(&buf).expect("valid packet");
        let oracle = Ipv6HeaderSlice::from_slice(&buf).expect("oracle parses");
        assert_eq!(ip.version(), 6);
        assert_eq!(ip.traffic_class(), oracle.traffic_class());
        assert_eq!(ip.traffic_class(), 0xB8);
        assert_eq!(ip.flow_label(), oracle.flow_label().value());
        assert_eq!(ip.flow_label(), 0xA_BCDE);
        assert_eq!(ip.payload_len(), oracle.payload_length());
        assert_eq!(ip.payload_len(), 30);
        assert_eq!(ip.next_header(), oracle.next_header().0);
        assert_eq!(ip.hop_limit(), oracle.hop_limit());
        assert_eq!(ip.src_addr(), oracle.source_addr());
        assert_eq!(ip.dst_addr(), oracle.destination_addr());
        assert_eq!(ip.payload(), &[0x5A; 30]);
        assert_eq!(Ipv6Packet::claimed_len(&buf), Some(70));
    }

    #[test]
    fn extension_headers_match_etherparse() {
        let exts = vec![(NH_HOP_BY_HOP, 0), (NH_ROUTING, 2), (NH_DEST_OPTS, 255)];
        let buf = ipv6(&spec(exts.clone()), NH_UDP, &[0x5A; 12]);
        let ip = Ipv6Packet::new_checked(&buf).expect("valid packet");
        assert_eq!(ip.next_header(), NH_HOP_BY_HOP);
        let mut rest = ip.payload();
        let mut nexts = exts.iter().skip(1).map(|e| e.0).chain([NH_UDP]);
        for (_, len8) in &exts {
            let ext = Ipv6ExtHeader::new_checked(rest).expect("valid ext header");
            let oracle = Ipv6RawExtHeaderSlice::from_slice(rest).expect("oracle parses");
            assert_eq!(ext.header_len(), (usize::from(*len8) + 1) * 8);
            assert_eq!(ext.header_len(), oracle.slice().len());
            assert_eq!(ext.next_header(), oracle.next_header().0);
            assert_eq!(Some(ext.next_header()), nexts.next());
            assert_eq!(ext.payload(), &rest[ext.header_len()..]);
            rest = ext.payload();
        }
        assert_eq!(rest, &[0x5A; 12]);
    }

    #[test]
    fn padding_after_payload_is_not_payload() {
        let mut buf = ipv6(&spec(vec![]), NH_UDP, &[1, 2, 3]);
        buf.extend_from_slice(&[0xEE; 20]);
        let ip = Ipv6Packet::new_checked(&buf).expect("valid packet");
        assert_eq!(ip.payload(), &[1, 2, 3]);
    }

    #[test]
    fn zero_payload_length_gives_an_empty_payload() {
        let mut buf = ipv6(&spec(vec![]), NH_UDP, &[1, 2, 3]);
        buf[4..6].copy_from_slice(&[0, 0]);
        let ip = Ipv6Packet::new_checked(&buf).expect("valid view");
        assert_eq!(ip.payload_len(), 0);
        assert!(ip.payload().is_empty());
    }

    #[test]
    fn short_or_inconsistent_packets() {
        let buf = ipv6(&spec(vec![]), NH_UDP, &[0x5A; 16]);
        for len in 0..HEADER_LEN {
            assert_eq!(
                Ipv6Packet::new_checked(&buf[..len]),
                Err(Error::Truncated),
                "len {len}"
            );
            assert_eq!(Ipv6Packet::claimed_len(&buf[..len]), None);
        }
        for len in HEADER_LEN..buf.len() {
            assert_eq!(
                Ipv6Packet::new_checked(&buf[..len]),
                Err(Error::Malformed),
                "len {len}"
            );
            assert_eq!(Ipv6Packet::claimed_len(&buf[..len]), Some(56));
        }
        for version in [0u8, 4, 7, 15] {
            let mut b = buf.clone();
            b[0] = (version << 4) | (b[0] & 0x0F);
            assert_eq!(Ipv6Packet::new_checked(&b), Err(Error::Malformed));
            assert_eq!(Ipv6Packet::claimed_len(&b), None);
        }
    }

    #[test]
    fn short_extension_headers_are_truncated() {
        let ext = [NH_UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xAA];
        for len in 0..16 {
            assert_eq!(
                Ipv6ExtHeader::new_checked(&ext[..len]),
                Err(Error::Truncated),
                "len {len}"
            );
        }
        let e = Ipv6ExtHeader::new_checked(&ext).expect("complete");
        assert_eq!(
            (e.next_header(), e.header_len(), e.payload()),
            (17, 16, &[0xAA][..])
        );
        let e = Ipv6ExtHeader::new_checked(&ext[..16]).expect("complete");
        assert!(e.payload().is_empty());
    }

    #[test]
    fn new_cut_keeps_the_bytes_present_and_counts_the_rest() {
        let buf = ipv6(&spec(vec![]), NH_UDP, &[0x5A; 16]);
        for len in 0..HEADER_LEN {
            assert_eq!(Ipv6Packet::new_cut(&buf[..len]), Err(Error::Truncated));
        }
        for len in HEADER_LEN..=buf.len() {
            let ip = Ipv6Packet::new_cut(&buf[..len]).expect("header complete");
            assert_eq!(ip.payload(), &buf[HEADER_LEN..len], "len {len}");
            assert_eq!(ip.missing(), buf.len() - len, "len {len}");
        }
        let mut padded = buf.clone();
        padded.extend_from_slice(&[0xEE; 7]);
        let ip = Ipv6Packet::new_cut(&padded).expect("valid");
        assert_eq!((ip.payload().len(), ip.missing()), (16, 0));
        let mut b = buf;
        b[0] = 0x40;
        assert_eq!(Ipv6Packet::new_cut(&b), Err(Error::Malformed));
    }
}
