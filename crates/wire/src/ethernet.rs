//! Ethernet II frame view: destination and source MAC, EtherType, payload.
//!
//! Owns the 14-byte Ethernet II header layout and the EtherType constants decap dispatches on.
//! A tagged frame shows its TPID (0x8100/0x88A8/0x9100) as the EtherType and the tag as the first
//! payload bytes; [`super::vlan`] reads the tags.

use super::{be16, bytes, split_header, Error};

/// Byte offsets of the Ethernet II header fields.
pub mod field {
    /// Destination MAC address, 6 bytes.
    pub const DST: usize = 0;
    /// Source MAC address, 6 bytes.
    pub const SRC: usize = 6;
    /// EtherType (or TPID of a VLAN tag), big-endian u16.
    pub const ETHERTYPE: usize = 12;
    /// First payload byte.
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet II header (no FCS, no VLAN tag).
pub const HEADER_LEN: usize = field::PAYLOAD;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// TPID of an 802.1Q VLAN tag (see [`super::vlan`] for all TPIDs).
pub const ETHERTYPE_VLAN: u16 = super::vlan::TPID_8021Q;

/// A validated view of an Ethernet II frame: at least [`HEADER_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetFrame<'a> {
    header: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// Builds a view over `buf`, which starts at the destination MAC.
    ///
    /// Returns [`Error::Truncated`] if `buf` is shorter than the 14-byte header.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, payload) = split_header::<HEADER_LEN>(buf).ok_or(Error::Truncated)?;
        Ok(EthernetFrame { header, payload })
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        bytes(self.header, field::DST)
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        bytes(self.header, field::SRC)
    }

    /// EtherType (or VLAN TPID) in host order.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.header, field::ETHERTYPE)
    }

    /// The 14 header bytes.
    #[inline]
    pub fn header(&self) -> &'a [u8; HEADER_LEN] {
        self.header
    }

    /// Everything after the header, including any Ethernet padding (the next layer's length
    /// field decides where its data ends).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::FrameSpec;
    use etherparse::Ethernet2HeaderSlice;

    #[test]
    fn good_frame_fields() {
        let built = FrameSpec::default().build();
        let eth = EthernetFrame::new_checked(&built.bytes).expect("valid frame");
        let oracle = Ethernet2HeaderSlice::from_slice(&built.bytes).expect("oracle parses");
        assert_eq!(eth.dst_addr(), oracle.destination());
        assert_eq!(eth.src_addr(), oracle.source());
        assert_eq!(eth.ethertype(), u16::from(oracle.ether_type()));
        assert_eq!(eth.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(&eth.header()[..], &built.bytes[..HEADER_LEN]);
        assert_eq!(eth.payload(), &built.bytes[HEADER_LEN..]);
    }

    #[test]
    fn fields_at_their_offsets() {
        let mut buf = [0u8; 20];
        buf[..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        buf[6..12].copy_from_slice(&[7, 8, 9, 10, 11, 12]);
        buf[12..14].copy_from_slice(&[0x86, 0xDD]);
        buf[14] = 0xAB;
        let eth = EthernetFrame::new_checked(&buf).expect("valid frame");
        assert_eq!(eth.dst_addr(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(eth.src_addr(), [7, 8, 9, 10, 11, 12]);
        assert_eq!(eth.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(eth.payload().len(), 6);
        assert_eq!(eth.payload()[0], 0xAB);
    }

    #[test]
    fn exactly_header_has_empty_payload() {
        let buf = [0xFFu8; HEADER_LEN];
        let eth = EthernetFrame::new_checked(&buf).expect("valid frame");
        assert!(eth.payload().is_empty());
        assert_eq!(eth.ethertype(), 0xFFFF);
    }

    #[test]
    fn every_short_length_is_truncated() {
        let built = FrameSpec::default().build();
        for len in 0..HEADER_LEN {
            assert_eq!(
                EthernetFrame::new_checked(&built.bytes[..len]),
                Err(Error::Truncated),
                "len {len}"
            );
        }
    }
}
