//! VXLAN header view (RFC 7348): flags, 24-bit VNI, and the encapsulated Ethernet frame.
//!
//! Owns the 8-byte VXLAN header layout, the I flag and the default UDP port. Reserved bits are
//! ignored (RFC 7348: "MUST be ignored on receipt") but can be detected; whether a missing I flag
//! drops the packet is decided by `decap`, not here.

use super::{bytes, split_header, Error};

/// Byte offsets of the VXLAN header fields.
pub mod field {
    /// Flags byte (bit 0x08 = I, "VNI valid"; the rest reserved).
    pub const FLAGS: usize = 0;
    /// 24 reserved bits.
    pub const RESERVED1: usize = 1;
    /// VXLAN network identifier, 24-bit big-endian.
    pub const VNI: usize = 4;
    /// 8 reserved bits.
    pub const RESERVED2: usize = 7;
    /// First byte of the encapsulated Ethernet frame.
    pub const PAYLOAD: usize = 8;
}

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// The I flag: set when the VNI field is valid. RFC 7348 requires it.
pub const FLAG_I: u8 = 0x08;

/// IANA UDP destination port for VXLAN, and the one AWS VPC Traffic Mirroring uses.
pub const UDP_PORT: u16 = 4789;

/// Largest VNI (24 bits).
pub const MAX_VNI: u32 = 0x00FF_FFFF;

/// A validated view of a VXLAN header: at least [`HEADER_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanHeader<'a> {
    header: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> VxlanHeader<'a> {
    /// Builds a view over `buf`, which starts at the flags byte and ends where the UDP payload
    /// ends.
    ///
    /// Returns [`Error::Truncated`] if `buf` is shorter than 8 bytes. Flags are not checked.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, payload) = split_header::<HEADER_LEN>(buf).ok_or(Error::Truncated)?;
        Ok(VxlanHeader { header, payload })
    }

    /// The flags byte as sent.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.header[field::FLAGS]
    }

    /// True when the I flag (VNI valid) is set.
    #[inline]
    pub fn vni_valid(&self) -> bool {
        self.flags() & FLAG_I != 0
    }

    /// True when any bit other than the I flag is set in the flags byte or the reserved fields
    /// (RFC 7348 says to ignore them; some senders set them).
    #[inline]
    pub fn has_reserved_bits(&self) -> bool {
        // Every bit of the 8 bytes except the I flag and the VNI.
        const RESERVED: u64 = !((FLAG_I as u64) << 56 | (MAX_VNI as u64) << 8);
        u64::from_be_bytes(*self.header) & RESERVED != 0
    }

    /// The 24-bit VXLAN network identifier (the mirror session's VNI under AWS).
    #[inline]
    pub fn vni(&self) -> u32 {
        let [a, b, c] = bytes::<3, HEADER_LEN>(self.header, field::VNI);
        u32::from_be_bytes([0, a, b, c])
    }

    /// The encapsulated Ethernet frame (no length check here).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u8, vni: u32, reserved: u8) -> [u8; 12] {
        let v = vni.to_be_bytes();
        [
            flags, reserved, reserved, reserved, v[1], v[2], v[3], reserved, 0xA, 0xB, 0xC, 0xD,
        ]
    }

    #[test]
    fn good_header_fields() {
        let buf = header(FLAG_I, 100, 0);
        let vx = VxlanHeader::new_checked(&buf).expect("valid header");
        assert_eq!(vx.flags(), 0x08);
        assert!(vx.vni_valid());
        assert_eq!(vx.vni(), 100);
        assert_eq!(vx.payload(), &[0xA, 0xB, 0xC, 0xD]);
    }

    #[test]
    fn vni_is_24_bits_and_reserved_bits_are_ignored() {
        for vni in [0, 1, 37, 0x12_3456, MAX_VNI] {
            let buf = header(0xFF, vni, 0xFF);
            let vx = VxlanHeader::new_checked(&buf).expect("valid header");
            assert_eq!(vx.vni(), vni);
            assert!(vx.vni_valid());
        }
    }

    #[test]
    fn reserved_bits_detection() {
        assert!(!VxlanHeader::new_checked(&header(FLAG_I, 7, 0))
            .expect("valid header")
            .has_reserved_bits());
        assert!(!VxlanHeader::new_checked(&header(0, MAX_VNI, 0))
            .expect("valid header")
            .has_reserved_bits());
        for bit in 0..8 {
            let flags = FLAG_I | (1 << bit);
            let vx = header(flags, 7, 0);
            assert_eq!(
                VxlanHeader::new_checked(&vx)
                    .expect("valid header")
                    .has_reserved_bits(),
                flags != FLAG_I,
                "flags {flags:#x}"
            );
        }
        for at in [1usize, 2, 3, 7] {
            let mut vx = header(FLAG_I, 7, 0);
            vx[at] = 0x01;
            assert!(VxlanHeader::new_checked(&vx)
                .expect("valid header")
                .has_reserved_bits());
        }
    }

    #[test]
    fn i_flag_detection() {
        for flags in 0u8..=255 {
            let buf = header(flags, 7, 0);
            let vx = VxlanHeader::new_checked(&buf).expect("valid header");
            assert_eq!(vx.vni_valid(), flags & 0x08 != 0, "flags {flags:#x}");
        }
    }

    #[test]
    fn exactly_header_has_empty_payload() {
        let buf = header(FLAG_I, 5, 0);
        let vx = VxlanHeader::new_checked(&buf[..8]).expect("valid header");
        assert!(vx.payload().is_empty());
    }

    #[test]
    fn every_short_length_is_truncated() {
        let buf = header(FLAG_I, 100, 0);
        for len in 0..HEADER_LEN {
            assert_eq!(
                VxlanHeader::new_checked(&buf[..len]),
                Err(Error::Truncated),
                "len {len}"
            );
        }
    }
}
