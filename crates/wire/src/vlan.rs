//! VLAN tag view (IEEE 802.1Q / 802.1ad): priority, DEI, VLAN ID and the EtherType after the tag.
//!
//! Owns the 4-byte tag layout that follows a VLAN TPID and the set of TPIDs recognised as tags.
//! The TPID itself is the EtherType field of the header before the tag (Ethernet or an outer tag),
//! so a [`VlanTag`] view starts at the TCI. How many tags are allowed is decided by `decap`.

use super::{be16, split_header, Error};

/// Byte offsets of the VLAN tag fields, counted from the TCI (the TPID precedes the tag).
pub mod field {
    /// Tag control information: PCP (3 bits), DEI (1 bit), VLAN ID (12 bits), big-endian u16.
    pub const TCI: usize = 0;
    /// EtherType of what follows the tag (or the TPID of a further tag), big-endian u16.
    pub const ETHERTYPE: usize = 2;
    /// First payload byte.
    pub const PAYLOAD: usize = 4;
}

/// Length of a VLAN tag after its TPID.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// TPID of an IEEE 802.1Q customer tag.
pub const TPID_8021Q: u16 = 0x8100;
/// TPID of an IEEE 802.1ad service tag (QinQ outer tag).
pub const TPID_8021AD: u16 = 0x88A8;
/// Pre-standard QinQ TPID still used by some switches.
pub const TPID_9100: u16 = 0x9100;

/// True when `ethertype` is one of the TPIDs that introduce a VLAN tag.
#[inline(always)]
pub const fn is_tpid(ethertype: u16) -> bool {
    // Non-short-circuit `|`: three compares and no branches.
    (ethertype == TPID_8021Q) | (ethertype == TPID_8021AD) | (ethertype == TPID_9100)
}

/// A validated view of one VLAN tag: at least [`HEADER_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTag<'a> {
    header: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> VlanTag<'a> {
    /// Builds a view over `buf`, which starts at the TCI (right after the TPID).
    ///
    /// Returns [`Error::Truncated`] if `buf` is shorter than the 4-byte tag.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, payload) = split_header::<HEADER_LEN>(buf).ok_or(Error::Truncated)?;
        Ok(VlanTag { header, payload })
    }

    /// The whole tag control information field.
    #[inline]
    pub fn tci(&self) -> u16 {
        be16(self.header, field::TCI)
    }

    /// Priority code point (0..=7).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (0..=4095; 0 = priority tag only).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0FFF
    }

    /// EtherType after the tag (or the TPID of the next tag) in host order.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.header, field::ETHERTYPE)
    }

    /// Everything after the tag.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_encap::{ethernet, Tag};
    use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

    #[test]
    fn tag_fields_match_etherparse() {
        for (tpid, tci) in [
            (TPID_8021Q, 0x0064),
            (TPID_8021AD, 0xF00D),
            (TPID_9100, 0x1FFF),
            (TPID_8021Q, 0x0000),
        ] {
            let frame = ethernet(&[Tag { tpid, tci }], 0x0800, &[0xAB; 3]);
            let eth = Ethernet2HeaderSlice::from_slice(&frame).expect("oracle parses");
            assert_eq!(u16::from(eth.ether_type()), tpid);
            assert!(is_tpid(tpid));
            let tag = VlanTag::new_checked(&frame[14..]).expect("valid tag");
            let oracle = SingleVlanHeaderSlice::from_slice(&frame[14..]).expect("oracle parses");
            assert_eq!(tag.pcp(), oracle.priority_code_point().value());
            assert_eq!(tag.dei(), oracle.drop_eligible_indicator());
            assert_eq!(tag.vid(), oracle.vlan_identifier().value());
            assert_eq!(tag.tci(), tci);
            assert_eq!(tag.ethertype(), u16::from(oracle.ether_type()));
            assert_eq!(tag.ethertype(), 0x0800);
            assert_eq!(tag.payload(), &[0xAB; 3]);
        }
    }

    #[test]
    fn tpids() {
        for t in [0x8100u16, 0x88A8, 0x9100] {
            assert!(is_tpid(t), "{t:#x}");
        }
        for t in [0x0800u16, 0x86DD, 0x0806, 0x9200, 0x88A9, 0x0000, 0xFFFF] {
            assert!(!is_tpid(t), "{t:#x}");
        }
    }

    #[test]
    fn every_short_length_is_truncated() {
        let buf = [0x20, 0x64, 0x08, 0x00];
        for len in 0..HEADER_LEN {
            assert_eq!(
                VlanTag::new_checked(&buf[..len]),
                Err(Error::Truncated),
                "len {len}"
            );
        }
        let tag = VlanTag::new_checked(&buf).expect("exactly a tag");
        assert!(tag.payload().is_empty());
        assert_eq!((tag.pcp(), tag.dei(), tag.vid()), (1, false, 100));
    }
}
