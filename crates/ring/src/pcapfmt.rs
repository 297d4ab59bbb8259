//! The classic pcap file format as the ring writes it: nanosecond-resolution magic,
//! little-endian, LINKTYPE_ETHERNET. Encoding and decoding of the 24-byte file header and the
//! 16-byte record header; nothing else.

/// Nanosecond-resolution pcap magic (written little-endian).
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Microsecond-resolution pcap magic (accepted when reading).
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
pub const FILE_HEADER_LEN: usize = 24;
pub const RECORD_HEADER_LEN: usize = 16;
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length written in every file header: larger than any frame the ring keeps.
pub const SNAPLEN: u32 = 262_144;

/// The 24-byte file header for a nanosecond, Ethernet pcap.
pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay 0
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// How a file header's timestamps are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Nanos,
    Micros,
}

/// Checks a file header written little-endian by us (or any little-endian writer).
pub fn parse_file_header(h: &[u8]) -> Option<Resolution> {
    let magic = u32::from_le_bytes(h.get(0..4)?.try_into().ok()?);
    let link = u32::from_le_bytes(h.get(20..24)?.try_into().ok()?);
    if link != LINKTYPE_ETHERNET {
        return None;
    }
    match magic {
        MAGIC_NANOS => Some(Resolution::Nanos),
        MAGIC_MICROS => Some(Resolution::Micros),
        _ => None,
    }
}

/// A record header: capture time in Unix nanoseconds, bytes kept, bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub ts_ns: u64,
    pub incl_len: u32,
    pub orig_len: u32,
}

impl RecordHeader {
    #[inline(always)]
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut h = [0u8; RECORD_HEADER_LEN];
        let sec = (self.ts_ns / 1_000_000_000) as u32;
        let ns = (self.ts_ns % 1_000_000_000) as u32;
        h[0..4].copy_from_slice(&sec.to_le_bytes());
        h[4..8].copy_from_slice(&ns.to_le_bytes());
        h[8..12].copy_from_slice(&self.incl_len.to_le_bytes());
        h[12..16].copy_from_slice(&self.orig_len.to_le_bytes());
        h
    }

    pub fn decode(h: &[u8], res: Resolution) -> Option<Self> {
        let f = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(h.get(i..i + 4)?.try_into().ok()?))
        };
        let frac = f(4)? as u64;
        let frac_ns = match res {
            Resolution::Nanos => frac,
            Resolution::Micros => frac * 1000,
        };
        Some(RecordHeader {
            ts_ns: f(0)? as u64 * 1_000_000_000 + frac_ns,
            incl_len: f(8)?,
            orig_len: f(12)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_header_round_trips() {
        let r = RecordHeader {
            ts_ns: 1_700_000_000_123_456_789,
            incl_len: 60,
            orig_len: 1514,
        };
        assert_eq!(
            RecordHeader::decode(&r.encode(), Resolution::Nanos),
            Some(r)
        );
    }

    #[test]
    fn file_header_is_nanosecond_ethernet() {
        assert_eq!(parse_file_header(&file_header()), Some(Resolution::Nanos));
        assert_eq!(parse_file_header(&[0u8; 24]), None);
        assert_eq!(parse_file_header(&[0u8; 3]), None);
    }
}
