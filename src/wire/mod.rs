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
pub mod ipv4;
pub mod udp;
pub mod vxlan;

pub use ethernet::EthernetFrame;
pub use ipv4::Ipv4Packet;
pub use udp::UdpPacket;
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

/// Test-only frame builder: writes outer Ethernet / IPv4 / UDP / VXLAN / inner frame byte by byte,
/// independently of the views, so tests do not check the parsers against themselves.
#[cfg(test)]
pub(crate) mod test_frames {
    /// Byte used for Ethernet padding after the IPv4 total length.
    pub(crate) const PAD: u8 = 0xEE;

    /// Every knob of a test frame; `Default` is a good VPC-mirroring-style VXLAN frame.
    #[derive(Clone, Debug)]
    pub(crate) struct FrameSpec {
        pub ethertype: u16,
        pub ip_version: u8,
        /// IPv4 header length in 32-bit words; options (IHL > 5) are filled with NOP (1).
        pub ihl: u8,
        pub dscp_ecn: u8,
        /// Overrides the computed IPv4 total length.
        pub tot_len: Option<u16>,
        pub ident: u16,
        pub flags_frag: u16,
        pub ttl: u8,
        pub protocol: u8,
        pub src: [u8; 4],
        pub dst: [u8; 4],
        pub src_port: u16,
        pub dst_port: u16,
        /// Overrides the computed UDP length.
        pub udp_len: Option<u16>,
        pub udp_checksum: u16,
        pub vxlan_flags: u8,
        pub vni: u32,
        /// Length of the encapsulated frame (a 14-byte Ethernet header then a byte pattern;
        /// shorter values give a cut header).
        pub inner_len: usize,
        /// Bytes of [`PAD`] appended after the IPv4 packet.
        pub padding: usize,
    }

    impl Default for FrameSpec {
        fn default() -> Self {
            FrameSpec {
                ethertype: 0x0800,
                ip_version: 4,
                ihl: 5,
                dscp_ecn: 0,
                tot_len: None,
                ident: 0,
                flags_frag: 0,
                ttl: 255,
                protocol: 17,
                src: [10, 0, 1, 23],
                dst: [10, 0, 2, 200],
                src_port: 40_123,
                dst_port: 4789,
                udp_len: None,
                udp_checksum: 0,
                vxlan_flags: 0x08,
                vni: 0x00AB_CDEF,
                inner_len: 98,
                padding: 0,
            }
        }
    }

    /// A built frame and where its inner frame lies.
    #[derive(Clone, Debug)]
    pub(crate) struct Built {
        pub bytes: Vec<u8>,
        pub inner_offset: usize,
        pub inner_len: usize,
    }

    impl Built {
        pub(crate) fn inner(&self) -> &[u8] {
            &self.bytes[self.inner_offset..self.inner_offset + self.inner_len]
        }
    }

    fn push16(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_be_bytes());
    }

    /// The encapsulated frame: inner Ethernet header (IPv4) then a recognisable pattern.
    pub(crate) fn inner_frame(len: usize) -> Vec<u8> {
        let mut f = vec![0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
        f.extend_from_slice(&[0x02, 0x66, 0x77, 0x88, 0x99, 0xAA]);
        push16(&mut f, 0x0800);
        f.extend((0..len.saturating_sub(14)).map(|i| (i * 7 + 3) as u8));
        f.truncate(len);
        f
    }

    impl FrameSpec {
        pub(crate) fn build(&self) -> Built {
            let mut f = vec![0x0A, 0x00, 0x00, 0x00, 0x00, 0x01];
            f.extend_from_slice(&[0x0A, 0x00, 0x00, 0x00, 0x00, 0x02]);
            push16(&mut f, self.ethertype);

            let hlen = usize::from(self.ihl) * 4;
            let inner = inner_frame(self.inner_len);
            let udp_total = 8 + 8 + inner.len();
            let ip_total = hlen.max(20) + udp_total;

            let ip_start = f.len();
            f.push((self.ip_version << 4) | (self.ihl & 0x0F));
            f.push(self.dscp_ecn);
            push16(
                &mut f,
                self.tot_len
                    .unwrap_or(u16::try_from(ip_total).expect("tot_len fits")),
            );
            push16(&mut f, self.ident);
            push16(&mut f, self.flags_frag);
            f.push(self.ttl);
            f.push(self.protocol);
            push16(&mut f, 0); // checksum, filled below
            f.extend_from_slice(&self.src);
            f.extend_from_slice(&self.dst);
            f.resize(ip_start + hlen.max(20), 0x01);
            let mut sum: u32 = f[ip_start..]
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .sum();
            while sum > 0xFFFF {
                sum = (sum & 0xFFFF) + (sum >> 16);
            }
            let csum = !(sum as u16);
            f[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());

            push16(&mut f, self.src_port);
            push16(&mut f, self.dst_port);
            push16(
                &mut f,
                self.udp_len
                    .unwrap_or(u16::try_from(udp_total).expect("udp len fits")),
            );
            push16(&mut f, self.udp_checksum);

            let v = self.vni.to_be_bytes();
            f.extend_from_slice(&[self.vxlan_flags, 0, 0, 0, v[1], v[2], v[3], 0]);
            let inner_offset = f.len();
            f.extend_from_slice(&inner);
            f.resize(f.len() + self.padding, PAD);
            Built {
                bytes: f,
                inner_offset,
                inner_len: inner.len(),
            }
        }
    }
}

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
