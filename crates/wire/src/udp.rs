//! UDP datagram view: ports, length, checksum, and the payload bounded by the length field.
//!
//! Owns the 8-byte UDP header layout and the length rule (8 <= length <= bytes present, or
//! beyond them by at most what the IP header claims for a datagram cut by a snaplen).
//! Validation is two-step so callers can look at the ports before judging the length field:
//! [`UdpPacket::new_checked`] needs only the header, [`UdpPacket::payload`] checks the length.
//! Checksums are not verified.

use super::{be16, split_header, Error};

/// Byte offsets of the UDP header fields.
pub mod field {
    /// Source port, big-endian u16.
    pub const SRC_PORT: usize = 0;
    /// Destination port, big-endian u16.
    pub const DST_PORT: usize = 2;
    /// Length of header + payload, big-endian u16.
    pub const LENGTH: usize = 4;
    /// Checksum, big-endian u16 (0 = none over IPv4).
    pub const CHECKSUM: usize = 6;
    /// First payload byte.
    pub const PAYLOAD: usize = 8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of a UDP datagram whose 8-byte header is present.
///
/// `buf` given to [`new_checked`](Self::new_checked) should be the IP payload (already bounded by
/// the IP length), so the length field can be checked against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<'a> {
    header: &'a [u8; HEADER_LEN],
    rest: &'a [u8],
}

impl<'a> UdpPacket<'a> {
    /// Builds a view over `buf`, which starts at the source port.
    ///
    /// Returns [`Error::Truncated`] if `buf` is shorter than 8 bytes. The length field is not
    /// checked here; [`payload`](Self::payload) does that.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, rest) = split_header::<HEADER_LEN>(buf).ok_or(Error::Truncated)?;
        Ok(UdpPacket { header, rest })
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.header, field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.header, field::DST_PORT)
    }

    /// Length field: header + payload in bytes, as sent.
    #[inline]
    pub fn len(&self) -> u16 {
        be16(self.header, field::LENGTH)
    }

    /// True when the length field says there is no payload (it is exactly the header length).
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    /// Checksum field as sent (not verified).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.header, field::CHECKSUM)
    }

    /// Payload bounded by the length field.
    ///
    /// Returns [`Error::Malformed`] if the length field is below 8 or larger than the bytes the
    /// view was built over. Bytes past the length field are never included.
    #[inline]
    pub fn payload(&self) -> Result<&'a [u8], Error> {
        let payload_len = usize::from(self.len())
            .checked_sub(HEADER_LEN)
            .ok_or(Error::Malformed)?;
        self.rest.get(..payload_len).ok_or(Error::Malformed)
    }

    /// Payload bounded by the length field, when the datagram may have been cut: the enclosing
    /// IP header claims `beyond` more bytes than the view was built over. Returns the payload
    /// bytes present and how many the length field claims beyond them.
    ///
    /// Returns [`Error::Malformed`] if the length field is below 8 or larger than the bytes
    /// present plus `beyond`.
    #[inline]
    pub fn payload_cut(&self, beyond: usize) -> Result<(&'a [u8], usize), Error> {
        let payload_len = usize::from(self.len())
            .checked_sub(HEADER_LEN)
            .ok_or(Error::Malformed)?;
        if payload_len > self.rest.len().saturating_add(beyond) {
            return Err(Error::Malformed);
        }
        let present = payload_len.min(self.rest.len());
        let payload = self.rest.get(..present).ok_or(Error::Malformed)?;
        Ok((payload, payload_len - present))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::FrameSpec;
    use etherparse::UdpHeaderSlice;

    /// UDP datagram bytes as carried in the IP payload of a test frame.
    fn udp_bytes(spec: &FrameSpec) -> Vec<u8> {
        let built = spec.build();
        let start = crate::ethernet::HEADER_LEN + usize::from(spec.ihl) * 4;
        let end = built.bytes.len() - spec.padding;
        built.bytes[start..end].to_vec()
    }

    #[test]
    fn good_datagram_fields_match_etherparse() {
        let spec = FrameSpec {
            src_port: 45149,
            udp_checksum: 0x1234,
            ..FrameSpec::default()
        };
        let buf = udp_bytes(&spec);
        let udp = UdpPacket::new_checked(&buf).expect("valid header");
        let oracle = UdpHeaderSlice::from_slice(&buf).expect("oracle parses");
        assert_eq!(udp.src_port(), oracle.source_port());
        assert_eq!(udp.src_port(), 45149);
        assert_eq!(udp.dst_port(), oracle.destination_port());
        assert_eq!(udp.dst_port(), 4789);
        assert_eq!(udp.len(), oracle.length());
        assert_eq!(usize::from(udp.len()), buf.len());
        assert_eq!(udp.checksum(), oracle.checksum());
        assert!(!udp.is_empty());
        assert_eq!(udp.payload(), Ok(&buf[8..]));
    }

    #[test]
    fn payload_is_bounded_by_length_field() {
        let mut buf = udp_bytes(&FrameSpec::default());
        buf.extend_from_slice(&[0xEE; 5]);
        let udp = UdpPacket::new_checked(&buf).expect("valid header");
        assert_eq!(udp.payload().map(<[u8]>::len), Ok(buf.len() - 5 - 8));
    }

    #[test]
    fn header_only_datagram() {
        let buf = [0x12, 0x34, 0x12, 0xB5, 0, 8, 0, 0];
        let udp = UdpPacket::new_checked(&buf).expect("valid header");
        assert!(udp.is_empty());
        assert_eq!(udp.payload(), Ok(&[][..]));
        assert_eq!(udp.dst_port(), 4789);
    }

    #[test]
    fn every_short_length_is_truncated() {
        let buf = udp_bytes(&FrameSpec::default());
        for len in 0..HEADER_LEN {
            assert_eq!(
                UdpPacket::new_checked(&buf[..len]),
                Err(Error::Truncated),
                "len {len}"
            );
        }
    }

    #[test]
    fn bad_length_field_is_malformed() {
        let buf = udp_bytes(&FrameSpec::default());
        let present = u16::try_from(buf.len()).expect("fits");
        for bad in [0u16, 1, 7, present + 1, u16::MAX] {
            let mut b = buf.clone();
            b[4..6].copy_from_slice(&bad.to_be_bytes());
            let udp = UdpPacket::new_checked(&b).expect("header present");
            assert_eq!(udp.len(), bad);
            assert_eq!(udp.payload(), Err(Error::Malformed), "len field {bad}");
        }
        let mut b = buf;
        b[4..6].copy_from_slice(&present.to_be_bytes());
        assert!(UdpPacket::new_checked(&b)
            .expect("header present")
            .payload()
            .is_ok());
    }

    #[test]
    fn payload_cut_allows_what_the_ip_header_claims() {
        let buf = udp_bytes(&FrameSpec::default());
        let full = buf.len();
        for len in HEADER_LEN..=full {
            let udp = UdpPacket::new_checked(&buf[..len]).expect("header present");
            let beyond = full - len;
            assert_eq!(
                udp.payload_cut(beyond),
                Ok((&buf[HEADER_LEN..len], beyond)),
                "len {len}"
            );
            assert_eq!(udp.payload_cut(beyond + 100).map(|(_, m)| m), Ok(beyond));
            if beyond > 0 {
                assert_eq!(udp.payload_cut(beyond - 1), Err(Error::Malformed));
                assert_eq!(udp.payload(), Err(Error::Malformed));
            }
        }
        // Below 8 stays malformed whatever the IP header claims.
        let mut b = buf;
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        let udp = UdpPacket::new_checked(&b).expect("header present");
        assert_eq!(udp.payload_cut(usize::MAX), Err(Error::Malformed));
    }
}
