//! Geneve header view (RFC 8926): the 8-byte base header, the option TLVs, and the payload.
//!
//! Owns the Geneve layout (version, option length, O and C flags, protocol type, VNI), the option
//! TLV format (class, type with its critical bit, length) with a bounds-checked iterator, and the
//! AWS Gateway Load Balancer option class and types. Whether OAM frames, critical options or a
//! protocol type are acceptable is decided by `decap`.

use super::{be16, bytes, split_header, Error};

/// Byte offsets of the Geneve base header fields.
pub mod field {
    /// Version (high 2 bits) and option length in 4-byte units (low 6 bits).
    pub const VER_OPT_LEN: usize = 0;
    /// Flags: O (0x80, OAM), C (0x40, critical options present), 6 reserved bits.
    pub const FLAGS: usize = 1;
    /// Protocol type of the payload (an EtherType), big-endian u16.
    pub const PROTOCOL: usize = 2;
    /// Virtual network identifier, 24-bit big-endian.
    pub const VNI: usize = 4;
    /// 8 reserved bits.
    pub const RESERVED: usize = 7;
    /// First option byte (or first payload byte when there are no options).
    pub const OPTIONS: usize = 8;
}

/// Length of the Geneve base header (no options).
pub const BASE_LEN: usize = field::OPTIONS;

/// O flag: the payload is a control (OAM) message, not data.
pub const FLAG_OAM: u8 = 0x80;
/// C flag: at least one option has its critical bit set.
pub const FLAG_CRITICAL: u8 = 0x40;

/// IANA UDP destination port for Geneve, and the one AWS Gateway Load Balancer uses.
pub const UDP_PORT: u16 = 6081;

/// Protocol type of an Ethernet payload (Transparent Ethernet Bridging).
pub const PROTO_ETHERNET: u16 = 0x6558;
/// Protocol type of a bare IPv4 payload.
pub const PROTO_IPV4: u16 = 0x0800;
/// Protocol type of a bare IPv6 payload.
pub const PROTO_IPV6: u16 = 0x86DD;

/// Option class AWS Gateway Load Balancer uses for its metadata.
pub const AWS_CLASS: u16 = 0x0108;
/// AWS option type: GWLB endpoint ID (8 bytes).
pub const AWS_ENDPOINT_ID: u8 = 1;
/// AWS option type: attachment ID (8 bytes).
pub const AWS_ATTACHMENT_ID: u8 = 2;
/// AWS option type: flow cookie (4 bytes).
pub const AWS_FLOW_COOKIE: u8 = 3;

/// Largest VNI (24 bits).
pub const MAX_VNI: u32 = 0x00FF_FFFF;

/// A validated view of a Geneve header: version 0, base header and the whole option area
/// present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveHeader<'a> {
    header: &'a [u8; BASE_LEN],
    options: &'a [u8],
    payload: &'a [u8],
}

impl<'a> GeneveHeader<'a> {
    /// Builds a view over `buf`, which starts at the version byte and ends where the UDP payload
    /// ends.
    ///
    /// Errors, in the order checked:
    /// - [`Error::Truncated`]: fewer than 8 bytes;
    /// - [`Error::Malformed`]: version != 0 (the layout of later versions is unknown);
    /// - [`Error::Truncated`]: the option area (option length * 4 bytes) runs past `buf`.
    ///
    /// The options themselves are checked while iterating [`options`](Self::options).
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, rest) = split_header::<BASE_LEN>(buf).ok_or(Error::Truncated)?;
        if header[field::VER_OPT_LEN] >> 6 != 0 {
            return Err(Error::Malformed);
        }
        let opt_len = usize::from(header[field::VER_OPT_LEN] & 0x3F) * 4;
        let options = rest.get(..opt_len).ok_or(Error::Truncated)?;
        let payload = rest.get(opt_len..).ok_or(Error::Truncated)?;
        Ok(GeneveHeader {
            header,
            options,
            payload,
        })
    }

    /// Version (always 0 for a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.header[field::VER_OPT_LEN] >> 6
    }

    /// Length of the option area in bytes (0..=252).
    #[inline]
    pub fn options_len(&self) -> usize {
        self.options.len()
    }

    /// Length of the whole header, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        BASE_LEN + self.options.len()
    }

    /// The flags byte as sent.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.header[field::FLAGS]
    }

    /// O flag: a control (OAM) message.
    #[inline]
    pub fn oam(&self) -> bool {
        self.flags() & FLAG_OAM != 0
    }

    /// C flag: critical options present.
    #[inline]
    pub fn critical(&self) -> bool {
        self.flags() & FLAG_CRITICAL != 0
    }

    /// Protocol type of the payload (an EtherType; 0x6558 = Ethernet).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        be16(self.header, field::PROTOCOL)
    }

    /// The 24-bit virtual network identifier.
    #[inline]
    pub fn vni(&self) -> u32 {
        let [a, b, c] = bytes::<3, BASE_LEN>(self.header, field::VNI);
        u32::from_be_bytes([0, a, b, c])
    }

    /// The option TLVs, in order; see [`GeneveOptions`].
    #[inline]
    pub fn options(&self) -> GeneveOptions<'a> {
        GeneveOptions { rest: self.options }
    }

    /// The raw option area.
    #[inline]
    pub fn options_bytes(&self) -> &'a [u8] {
        self.options
    }

    /// Everything after the options: the tunnelled frame or packet.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// Byte offsets of a Geneve option's header fields.
pub mod opt_field {
    /// Option class, big-endian u16.
    pub const CLASS: usize = 0;
    /// Type: critical bit (0x80) and 7-bit type.
    pub const TYPE: usize = 2;
    /// 3 reserved bits, then the data length in 4-byte units (5 bits).
    pub const LEN: usize = 3;
    /// First data byte.
    pub const DATA: usize = 4;
}

/// Length of an option header (class, type, length).
pub const OPT_HEADER_LEN: usize = opt_field::DATA;

/// The critical bit of an option's type.
pub const OPT_CRITICAL: u8 = 0x80;

/// One Geneve option TLV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    header: &'a [u8; OPT_HEADER_LEN],
    data: &'a [u8],
}

impl<'a> GeneveOption<'a> {
    /// Option class (namespace of the type; 0x0108 = AWS).
    #[inline]
    pub fn class(&self) -> u16 {
        be16(self.header, opt_field::CLASS)
    }

    /// The type byte as sent, critical bit included.
    #[inline]
    pub fn raw_type(&self) -> u8 {
        self.header[opt_field::TYPE]
    }

    /// The type without the critical bit.
    #[inline]
    pub fn option_type(&self) -> u8 {
        self.raw_type() & !OPT_CRITICAL
    }

    /// True when a receiver that does not understand the option must not process the packet.
    #[inline]
    pub fn critical(&self) -> bool {
        self.raw_type() & OPT_CRITICAL != 0
    }

    /// The option data (length field * 4 bytes).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The data as a big-endian u64 when it is exactly 8 bytes.
    #[inline]
    pub fn data_u64(&self) -> Option<u64> {
        <[u8; 8]>::try_from(self.data).ok().map(u64::from_be_bytes)
    }

    /// The data as a big-endian u32 when it is exactly 4 bytes.
    #[inline]
    pub fn data_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.data).ok().map(u32::from_be_bytes)
    }
}

/// Iterator over the option TLVs of a [`GeneveHeader`].
///
/// Yields `Err(Error::Malformed)` once, then stops, when an option (its header or its data)
/// overruns the option area.
#[derive(Clone, Debug)]
pub struct GeneveOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for GeneveOptions<'a> {
    type Item = Result<GeneveOption<'a>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((header, after)) = split_header::<OPT_HEADER_LEN>(self.rest) else {
            self.rest = &[];
            return Some(Err(Error::Malformed));
        };
        let data_len = usize::from(header[opt_field::LEN] & 0x1F) * 4;
        match (after.get(..data_len), after.get(data_len..)) {
            (Some(data), Some(rest)) => {
                self.rest = rest;
                Some(Ok(GeneveOption { header, data }))
            }
            _ => {
                self.rest = &[];
                Some(Err(Error::Malformed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_encap::{geneve, GeneveOpt, GeneveSpec};

    fn opts() -> Vec<GeneveOpt> {
        vec![
            GeneveOpt::new(
                AWS_CLASS,
                AWS_ENDPOINT_ID,
                &0x1122_3344_5566_7788u64.to_be_bytes(),
            ),
            GeneveOpt::new(0x0132, 0x81, &[9; 12]),
            GeneveOpt::new(AWS_CLASS, AWS_FLOW_COOKIE, &[0xC0, 0x0C, 0x1E, 0x5A]),
            GeneveOpt::new(0xFFFF, 0x7F, &[]),
        ]
    }

    #[test]
    fn base_header_fields() {
        let spec = GeneveSpec {
            vni: 0x12_3456,
            flags: FLAG_CRITICAL,
            options: opts(),
            ..GeneveSpec::default()
        };
        let buf = geneve(&spec, PROTO_ETHERNET, &[0xAB; 20]);
        let g = GeneveHeader::new_checked(&buf).expect("valid header");
        assert_eq!(g.version(), 0);
        assert_eq!(g.options_len(), 12 + 16 + 8 + 4);
        assert_eq!(g.header_len(), 8 + 40);
        assert!(!g.oam());
        assert!(g.critical());
        assert_eq!(g.flags(), FLAG_CRITICAL);
        assert_eq!(g.protocol_type(), PROTO_ETHERNET);
        assert_eq!(g.vni(), 0x12_3456);
        assert_eq!(g.options_bytes(), &buf[8..48]);
        assert_eq!(g.payload(), &[0xAB; 20]);
    }

    #[test]
    fn options_iterate_in_order() {
        let spec = GeneveSpec {
            options: opts(),
            ..GeneveSpec::default()
        };
        let buf = geneve(&spec, PROTO_IPV4, &[]);
        let g = GeneveHeader::new_checked(&buf).expect("valid header");
        let got: Vec<_> = g.options().collect::<Result<_, _>>().expect("options fit");
        assert_eq!(got.len(), 4);
        assert_eq!(
            (got[0].class(), got[0].option_type(), got[0].critical()),
            (AWS_CLASS, 1, false)
        );
        assert_eq!(got[0].data_u64(), Some(0x1122_3344_5566_7788));
        assert_eq!(got[0].data_u32(), None);
        assert_eq!(
            (got[1].class(), got[1].raw_type(), got[1].option_type()),
            (0x0132, 0x81, 1)
        );
        assert!(got[1].critical());
        assert_eq!(got[1].data(), &[9; 12]);
        assert_eq!(got[2].data_u32(), Some(0xC00C_1E5A));
        assert_eq!(got[2].data_u64(), None);
        assert_eq!((got[3].class(), got[3].option_type()), (0xFFFF, 0x7F));
        assert!(got[3].data().is_empty());
        assert!(g.payload().is_empty());
    }

    #[test]
    fn oam_flag_and_vni_extremes() {
        for vni in [0, 1, MAX_VNI] {
            let spec = GeneveSpec {
                vni,
                flags: FLAG_OAM | 0x3F,
                ..GeneveSpec::default()
            };
            let buf = geneve(&spec, PROTO_IPV6, &[1]);
            let g = GeneveHeader::new_checked(&buf).expect("valid header");
            assert!(g.oam());
            assert!(!g.critical());
            assert_eq!(g.vni(), vni);
            assert_eq!(g.protocol_type(), PROTO_IPV6);
            assert_eq!(g.options().count(), 0);
        }
    }

    #[test]
    fn version_other_than_zero_is_malformed() {
        for version in 1u8..=3 {
            let spec = GeneveSpec {
                version,
                ..GeneveSpec::default()
            };
            let buf = geneve(&spec, PROTO_ETHERNET, &[0; 14]);
            assert_eq!(GeneveHeader::new_checked(&buf), Err(Error::Malformed));
        }
    }

    #[test]
    fn short_base_header_or_option_area_is_truncated() {
        let spec = GeneveSpec {
            options: opts(),
            ..GeneveSpec::default()
        };
        let buf = geneve(&spec, PROTO_ETHERNET, &[]);
        for len in 0..buf.len() {
            assert_eq!(
                GeneveHeader::new_checked(&buf[..len]),
                Err(Error::Truncated),
                "len {len}"
            );
        }
        assert!(GeneveHeader::new_checked(&buf).is_ok());
    }

    #[test]
    fn an_option_overrunning_the_area_is_malformed() {
        // Option area of 8 bytes; the option says 8 bytes of data (length 2) after its header.
        let mut buf = vec![0x02, 0, 0x65, 0x58, 0, 0, 1, 0];
        buf.extend_from_slice(&[0x01, 0x08, 0x01, 0x02, 0, 0, 0, 0]);
        buf.extend_from_slice(&[0xAA; 14]);
        let g = GeneveHeader::new_checked(&buf).expect("option area present");
        let mut it = g.options();
        assert_eq!(it.next(), Some(Err(Error::Malformed)));
        assert_eq!(it.next(), None);
        // A length field of exactly the area is fine; the reserved bits are not length bits.
        buf[11] = 0xE1;
        let g = GeneveHeader::new_checked(&buf).expect("option area present");
        let o: Vec<_> = g.options().collect();
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].map(|o| o.data().len()), Ok(4));
    }
}
