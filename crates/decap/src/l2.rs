//! The L2 step: an Ethernet header and up to [`MAX_VLAN_TAGS`] VLAN tags, giving the EtherType
//! of what follows. Used for the outer frame, for an Ethernet frame inside Geneve, and for the
//! mirrored frame's truncation check.

use super::DropReason;
use mirrorcap_wire::{ethernet, vlan, EthernetFrame, VlanTag};

/// Most VLAN tags accepted before the EtherType (802.1Q, or QinQ with an 802.1ad outer tag).
pub(super) const MAX_VLAN_TAGS: u8 = 2;

/// An Ethernet header and its VLAN tags.
#[derive(Clone, Copy, Debug)]
pub(super) struct L2<'a> {
    /// EtherType after the last tag.
    pub ethertype: u16,
    /// VLAN tags read (0..=2).
    pub tags: u8,
    /// Bytes of Ethernet header and tags.
    pub header_len: usize,
    /// Everything after the last tag.
    pub payload: &'a [u8],
}

/// Reads the Ethernet header and VLAN tags at the start of `frame`.
///
/// `TruncatedHeader` when the Ethernet header or a tag is cut short, `NotMirror` on a third tag.
#[inline(always)]
pub(super) fn parse(frame: &[u8]) -> Result<L2<'_>, DropReason> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| DropReason::TruncatedHeader)?;
    let mut l2 = L2 {
        ethertype: eth.ethertype(),
        tags: 0,
        header_len: ethernet::HEADER_LEN,
        payload: eth.payload(),
    };
    while vlan::is_tpid(l2.ethertype) {
        if l2.tags == MAX_VLAN_TAGS {
            return Err(DropReason::NotMirror);
        }
        let tag = VlanTag::new_checked(l2.payload).map_err(|_| DropReason::TruncatedHeader)?;
        l2.ethertype = tag.ethertype();
        l2.payload = tag.payload();
        l2.tags += 1;
        l2.header_len += vlan::HEADER_LEN;
    }
    Ok(l2)
}
