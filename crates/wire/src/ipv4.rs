//! IPv4 packet view: the fixed 20-byte header, options, and the payload bounded by total length.
//!
//! Owns the IPv4 header layout, the length rules (version 4, IHL >= 5, IHL*4 <= total length <=
//! bytes present, or beyond them for a packet cut after its header) and fragment flag decoding. Bytes after `total_length` (Ethernet padding) are
//! never part of [`Ipv4Packet::payload`]. Options are skipped, not interpreted.

use super::{be16, bytes, split_header, Error};
use std::net::Ipv4Addr;

/// Byte offsets of the IPv4 header fields.
pub mod field {
    /// Version (high nibble) and IHL in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP (high 6 bits) and ECN (low 2 bits).
    pub const DSCP_ECN: usize = 1;
    /// Total length of header + payload, big-endian u16.
    pub const TOTAL_LEN: usize = 2;
    /// Identification, big-endian u16.
    pub const IDENT: usize = 4;
    /// Flags (3 bits: reserved, DF, MF) and fragment offset (13 bits, 8-byte units).
    pub const FLAGS_FRAG: usize = 6;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Payload protocol number.
    pub const PROTOCOL: usize = 9;
    /// Header checksum, big-endian u16.
    pub const CHECKSUM: usize = 10;
    /// Source address, 4 bytes.
    pub const SRC: usize = 12;
    /// Destination address, 4 bytes.
    pub const DST: usize = 16;
    /// First option byte (when IHL > 5), else first payload byte.
    pub const OPTIONS: usize = 20;
}

/// Length of the IPv4 header without options (IHL 5).
pub const MIN_HEADER_LEN: usize = field::OPTIONS;
/// Length of the IPv4 header with the most options (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

/// Protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Don't Fragment bit of the flags/fragment-offset field.
pub const FLAG_DF: u16 = 0x4000;
/// More Fragments bit of the flags/fragment-offset field.
pub const FLAG_MF: u16 = 0x2000;
/// Fragment offset mask of the flags/fragment-offset field.
pub const FRAG_OFFSET_MASK: u16 = 0x1FFF;

/// A validated view of an IPv4 packet.
///
/// Guarantees: version 4, IHL >= 5, the whole header (with options) is present,
/// `header_len() <= total_len()`, and `total_len() <= buffer length` unless built by
/// [`Ipv4Packet::new_cut`], whose payload then ends with the buffer ([`Ipv4Packet::missing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    header: &'a [u8; MIN_HEADER_LEN],
    options: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Builds a view over `buf`, which starts at the version/IHL byte and may carry trailing
    /// bytes (Ethernet padding) after `total_length`.
    ///
    /// Errors, in the order checked:
    /// - [`Error::Truncated`]: fewer than 20 bytes;
    /// - [`Error::Malformed`]: version != 4 or IHL < 5;
    /// - [`Error::Truncated`]: fewer than IHL*4 bytes;
    /// - [`Error::Malformed`]: total length < IHL*4 or > the bytes present.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, _) = split_header::<MIN_HEADER_LEN>(buf).ok_or(Error::Truncated)?;
        let ver_ihl = header[field::VER_IHL];
        let ihl = usize::from(ver_ihl & 0x0F);
        if ver_ihl >> 4 != 4 || ihl < 5 {
            return Err(Error::Malformed);
        }
        let header_len = ihl * 4;
        if buf.len() < header_len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(be16(header, field::TOTAL_LEN));
        if total_len < header_len || total_len > buf.len() {
            return Err(Error::Malformed);
        }
        let options = buf
            .get(MIN_HEADER_LEN..header_len)
            .ok_or(Error::Truncated)?;
        let payload = buf.get(header_len..total_len).ok_or(Error::Malformed)?;
        Ok(Ipv4Packet {
            header,
            options,
            payload,
        })
    }

    /// Like [`new_checked`](Self::new_checked), but a total length beyond the bytes present is
    /// accepted: the packet was cut after its header (a capture taken with a snaplen), so the
    /// payload is the bytes that are there and [`missing`](Self::missing) tells how many are not.
    ///
    /// Errors, in the order checked: [`Error::Truncated`] for fewer than 20 bytes,
    /// [`Error::Malformed`] for version != 4 or IHL < 5, [`Error::Truncated`] for fewer than
    /// IHL*4 bytes, [`Error::Malformed`] for a total length < IHL*4.
    #[inline]
    pub fn new_cut(buf: &'a [u8]) -> Result<Self, Error> {
        let (header, _) = split_header::<MIN_HEADER_LEN>(buf).ok_or(Error::Truncated)?;
        let ver_ihl = header[field::VER_IHL];
        let ihl = usize::from(ver_ihl & 0x0F);
        if ver_ihl >> 4 != 4 || ihl < 5 {
            return Err(Error::Malformed);
        }
        let header_len = ihl * 4;
        if buf.len() < header_len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(be16(header, field::TOTAL_LEN));
        if total_len < header_len {
            return Err(Error::Malformed);
        }
        let options = buf
            .get(MIN_HEADER_LEN..header_len)
            .ok_or(Error::Truncated)?;
        let payload = buf
            .get(header_len..total_len.min(buf.len()))
            .ok_or(Error::Malformed)?;
        Ok(Ipv4Packet {
            header,
            options,
            payload,
        })
    }

    /// Payload bytes the total length claims beyond those present: 0 for a view from
    /// [`new_checked`](Self::new_checked), the cut for one from [`new_cut`](Self::new_cut).
    #[inline]
    pub fn missing(&self) -> usize {
        usize::from(self.total_len()).saturating_sub(self.header_len() + self.payload.len())
    }

    /// The length the packet claims (its total length field) if `buf` starts with a complete
    /// 20-byte IPv4 header, however many bytes follow; `None` when fewer than 20 bytes or not
    /// version 4. Used to detect truncated copies, whose header keeps the original length.
    #[inline]
    pub fn claimed_len(buf: &[u8]) -> Option<usize> {
        let (header, _) = split_header::<MIN_HEADER_LEN>(buf)?;
        (header[field::VER_IHL] >> 4 == 4).then(|| usize::from(be16(header, field::TOTAL_LEN)))
    }

    /// IP version (always 4 for a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.header[field::VER_IHL] >> 4
    }

    /// Header length in 32-bit words (5..=15).
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.header[field::VER_IHL] & 0x0F
    }

    /// Header length in bytes, options included (20..=60).
    #[inline]
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len()
    }

    /// Differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.header[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.header[field::DSCP_ECN] & 0x03
    }

    /// Total length field: header + payload in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.header, field::TOTAL_LEN)
    }

    /// Identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.header, field::IDENT)
    }

    /// Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16(self.header, field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.header, field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.header, field::FLAGS_FRAG) & FRAG_OFFSET_MASK
    }

    /// True when this packet is any fragment of a larger datagram (MF set or offset != 0).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be16(self.header, field::FLAGS_FRAG) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.header[field::TTL]
    }

    /// Payload protocol number (17 = UDP).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.header[field::PROTOCOL]
    }

    /// Header checksum field as sent (not verified).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.header, field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::<4, MIN_HEADER_LEN>(self.header, field::SRC))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::<4, MIN_HEADER_LEN>(self.header, field::DST))
    }

    /// Option bytes (empty when IHL is 5), uninterpreted.
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        self.options
    }

    /// Payload: the bytes from the end of the header to `total_len`, excluding any padding.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::FrameSpec;
    use etherparse::Ipv4HeaderSlice;

    const ETH: usize = crate::ethernet::HEADER_LEN;

    fn ip_bytes(spec: &FrameSpec) -> Vec<u8> {
        spec.build().bytes[ETH..].to_vec()
    }

    #[test]
    fn good_packet_fields_match_etherparse() {
        let spec = FrameSpec {
            dscp_ecn: 0xB9,
            ident: 0xBEEF,
            flags_frag: FLAG_DF,
            ttl: 255,
            ..FrameSpec::default()
        };
        let buf = ip_bytes(&spec);
        let ip = Ipv4Packet::new_checked(&buf).expect("valid packet");
        let oracle = Ipv4HeaderSlice::from_slice(&buf).expect("oracle parses");
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.ihl(), oracle.ihl());
        assert_eq!(ip.header_len(), 20);
        assert_eq!(ip.dscp(), oracle.dcp().value());
        assert_eq!(ip.ecn(), oracle.ecn().value());
        assert_eq!(ip.total_len(), oracle.total_len());
        assert_eq!(ip.ident(), oracle.identification());
        assert!(ip.dont_frag() && oracle.dont_fragment());
        assert!(!ip.more_frags());
        assert_eq!(ip.frag_offset(), 0);
        assert!(!ip.is_fragment());
        assert_eq!(ip.ttl(), oracle.ttl());
        assert_eq!(ip.protocol(), oracle.protocol().0);
        assert_eq!(ip.protocol(), PROTO_UDP);
        assert_eq!(ip.checksum(), oracle.header_checksum());
        assert_eq!(
            ip.checksum(),
            oracle.to_header().calc_header_checksum(),
            "helper writes a correct checksum"
        );
        assert_eq!(ip.src_addr(), oracle.source_addr());
        assert_eq!(ip.dst_addr(), oracle.destination_addr());
        assert!(ip.options().is_empty());
        assert_eq!(ip.payload(), &buf[20..]);
    }

    #[test]
    fn options_are_skipped_for_every_ihl() {
        for ihl in 5u8..=15 {
            let spec = FrameSpec {
                ihl,
                ..FrameSpec::default()
            };
            let buf = ip_bytes(&spec);
            let hlen = usize::from(ihl) * 4;
            let ip = Ipv4Packet::new_checked(&buf).expect("valid packet");
            let oracle = Ipv4HeaderSlice::from_slice(&buf).expect("oracle parses");
            assert_eq!(ip.ihl(), ihl);
            assert_eq!(ip.header_len(), hlen);
            assert_eq!(ip.options(), oracle.options());
            assert_eq!(ip.options(), &buf[20..hlen]);
            assert_eq!(ip.payload(), &buf[hlen..]);
            assert_eq!(ip.payload()[..2], spec.src_port.to_be_bytes());
        }
    }

    #[test]
    fn padding_after_total_len_is_not_payload() {
        let spec = FrameSpec {
            padding: 23,
            ..FrameSpec::default()
        };
        let buf = ip_bytes(&spec);
        let ip = Ipv4Packet::new_checked(&buf).expect("valid packet");
        let tot = usize::from(ip.total_len());
        assert_eq!(tot + 23, buf.len());
        assert_eq!(ip.payload(), &buf[20..tot]);
        assert!(buf[tot..].iter().all(|&b| b == crate::test_frames::PAD));
    }

    #[test]
    fn total_len_exactly_header_gives_empty_payload() {
        let mut buf = ip_bytes(&FrameSpec::default());
        buf[2..4].copy_from_slice(&20u16.to_be_bytes());
        let ip = Ipv4Packet::new_checked(&buf).expect("valid packet");
        assert!(ip.payload().is_empty());
    }

    #[test]
    fn every_short_length_is_an_error_and_short_headers_are_truncated() {
        for ihl in 5u8..=15 {
            let buf = ip_bytes(&FrameSpec {
                ihl,
                ..FrameSpec::default()
            });
            let hlen = usize::from(ihl) * 4;
            for len in 0..hlen {
                assert_eq!(
                    Ipv4Packet::new_checked(&buf[..len]),
                    Err(Error::Truncated),
                    "ihl {ihl} len {len}"
                );
            }
            // Header complete but total length points past the cut: malformed, not truncated.
            for len in hlen..buf.len() {
                assert_eq!(
                    Ipv4Packet::new_checked(&buf[..len]),
                    Err(Error::Malformed),
                    "ihl {ihl} len {len}"
                );
            }
            assert!(Ipv4Packet::new_checked(&buf).is_ok());
        }
    }

    #[test]
    fn claimed_len_reads_total_length_of_cut_packets() {
        let buf = ip_bytes(&FrameSpec::default());
        let tot = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        for len in 0..MIN_HEADER_LEN {
            assert_eq!(Ipv4Packet::claimed_len(&buf[..len]), None, "len {len}");
        }
        for len in MIN_HEADER_LEN..=buf.len() {
            assert_eq!(Ipv4Packet::claimed_len(&buf[..len]), Some(tot), "len {len}");
        }
        let mut b = buf;
        b[0] = 0x65;
        assert_eq!(Ipv4Packet::claimed_len(&b), None);
    }

    #[test]
    fn wrong_version_is_malformed() {
        for version in [0u8, 1, 5, 6, 15] {
            let mut buf = ip_bytes(&FrameSpec::default());
            buf[0] = (version << 4) | 5;
            assert_eq!(
                Ipv4Packet::new_checked(&buf),
                Err(Error::Malformed),
                "v{version}"
            );
        }
    }

    #[test]
    fn ihl_below_five_is_malformed() {
        for ihl in 0u8..5 {
            let mut buf = ip_bytes(&FrameSpec::default());
            buf[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::new_checked(&buf),
                Err(Error::Malformed),
                "ihl {ihl}"
            );
        }
    }

    #[test]
    fn total_len_out_of_range_is_malformed() {
        let buf = ip_bytes(&FrameSpec {
            ihl: 7,
            ..FrameSpec::default()
        });
        for tot in [0u16, 1, 19, 20, 27] {
            let mut b = buf.clone();
            b[2..4].copy_from_slice(&tot.to_be_bytes());
            assert_eq!(
                Ipv4Packet::new_checked(&b),
                Err(Error::Malformed),
                "tot {tot}"
            );
        }
        let mut b = buf.clone();
        let too_long = u16::try_from(buf.len() + 1).expect("fits");
        b[2..4].copy_from_slice(&too_long.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&b), Err(Error::Malformed));
        let mut b = buf.clone();
        b[2..4].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&b), Err(Error::Malformed));
        let mut b = buf;
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        assert!(Ipv4Packet::new_checked(&b).is_ok(), "tot == IHL*4 is fine");
    }

    #[test]
    fn fragment_flags() {
        let cases: [(u16, bool, bool, u16, bool); 6] = [
            (0, false, false, 0, false),
            (FLAG_DF, true, false, 0, false),
            (FLAG_MF, false, true, 0, true),
            (1, false, false, 1, true),
            (FLAG_MF | 0x1FFF, false, true, 0x1FFF, true),
            (0x8000, false, false, 0, false), // reserved bit alone is not a fragment
        ];
        for (ff, df, mf, off, frag) in cases {
            let buf = ip_bytes(&FrameSpec {
                flags_frag: ff,
                ..FrameSpec::default()
            });
            let ip = Ipv4Packet::new_checked(&buf).expect("valid packet");
            let oracle = Ipv4HeaderSlice::from_slice(&buf).expect("oracle parses");
            assert_eq!(ip.dont_frag(), df, "{ff:#x}");
            assert_eq!(ip.more_frags(), mf, "{ff:#x}");
            assert_eq!(ip.frag_offset(), off, "{ff:#x}");
            assert_eq!(ip.is_fragment(), frag, "{ff:#x}");
            assert_eq!(ip.is_fragment(), oracle.is_fragmenting_payload(), "{ff:#x}");
        }
    }

    #[test]
    fn new_cut_keeps_the_bytes_present_and_counts_the_rest() {
        for ihl in [5u8, 9, 15] {
            let buf = ip_bytes(&FrameSpec {
                ihl,
                ..FrameSpec::default()
            });
            let hlen = usize::from(ihl) * 4;
            for len in 0..hlen {
                assert_eq!(Ipv4Packet::new_cut(&buf[..len]), Err(Error::Truncated));
            }
            for len in hlen..=buf.len() {
                let ip = Ipv4Packet::new_cut(&buf[..len]).expect("header complete");
                assert_eq!(ip.payload(), &buf[hlen..len], "ihl {ihl} len {len}");
                assert_eq!(ip.missing(), buf.len() - len, "ihl {ihl} len {len}");
                assert_eq!(usize::from(ip.total_len()), buf.len());
            }
        }
        // Padding: bounded by the total length, nothing missing.
        let buf = ip_bytes(&FrameSpec {
            padding: 9,
            ..FrameSpec::default()
        });
        let ip = Ipv4Packet::new_cut(&buf).expect("valid");
        assert_eq!((ip.payload().len() + 20 + 9, ip.missing()), (buf.len(), 0));
        // A total length below the header stays malformed.
        for tot in [0u16, 19] {
            let mut b = buf.clone();
            b[2..4].copy_from_slice(&tot.to_be_bytes());
            assert_eq!(Ipv4Packet::new_cut(&b), Err(Error::Malformed), "tot {tot}");
        }
    }
}
