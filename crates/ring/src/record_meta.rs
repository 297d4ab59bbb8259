//! Per-record session metadata kept beside the pcap records: one 32-bit word per record in the
//! segment's index file (`seg-NNN.idx`), word `i` describing record `i`. Classic pcap has no
//! room for it, and the mirror session (the VNI) is what users select captures by.
//!
//! ```text
//! bits 0..24   VNI of the mirror session (VXLAN VNI, else the innermost Geneve VNI)
//! bits 24..32  session id: 0 = no configured session (named vni-<n>),
//!              1..=254 = a configured session, 255 = untagged (no tunnel: captured as is)
//! ```

/// The session id of records that came without a tunnel (or were written without metadata).
pub const UNTAGGED_SESSION_ID: u8 = 255;
/// Bytes of one index word.
pub const META_LEN: usize = 4;

/// One record's metadata word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordMeta(pub u32);

impl RecordMeta {
    /// A record that came without a tunnel.
    pub const UNTAGGED: RecordMeta = RecordMeta((UNTAGGED_SESSION_ID as u32) << 24);

    /// A decapsulated record of VNI `vni` (low 24 bits kept) in session id `session`
    /// (0 when no session is configured for it).
    #[inline(always)]
    pub fn tunnel(vni: u32, session: u8) -> Self {
        let session = session.min(UNTAGGED_SESSION_ID - 1);
        RecordMeta((vni & 0x00ff_ffff) | (session as u32) << 24)
    }

    /// The VNI, or None for an untagged record.
    #[inline]
    pub fn vni(self) -> Option<u32> {
        (self.session() != UNTAGGED_SESSION_ID).then_some(self.0 & 0x00ff_ffff)
    }

    #[inline]
    pub fn session(self) -> u8 {
        (self.0 >> 24) as u8
    }

    /// The name readers give the record's session: `vni-<n>`, or `untagged`. Configured
    /// sessions (ids 1..=254) are named by the caller, which knows their names.
    pub fn default_name(self) -> String {
        match self.vni() {
            Some(v) => format!("vni-{v}"),
            None => "untagged".to_string(),
        }
    }

    pub fn to_le_bytes(self) -> [u8; META_LEN] {
        self.0.to_le_bytes()
    }

    pub fn from_le_bytes(b: [u8; META_LEN]) -> Self {
        RecordMeta(u32::from_le_bytes(b))
    }
}

/// Decodes the first `n` words of an index file's bytes; words the bytes do not hold (an index
/// file missing or short) are untagged.
pub fn decode_index(bytes: &[u8], n: usize) -> Vec<RecordMeta> {
    (0..n)
        .map(|i| {
            bytes
                .get(i * META_LEN..(i + 1) * META_LEN)
                .map_or(RecordMeta::UNTAGGED, |b| {
                    RecordMeta::from_le_bytes(b.try_into().expect("4 bytes"))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_name_their_session() {
        let m = RecordMeta::tunnel(0x12_3456, 0);
        assert_eq!(m.vni(), Some(0x12_3456));
        assert_eq!(m.session(), 0);
        assert_eq!(m.default_name(), "vni-1193046");
        assert_eq!(RecordMeta::tunnel(0xff12_3456, 7).vni(), Some(0x12_3456));
        assert_eq!(RecordMeta::tunnel(5, 255).session(), 254);
        assert_eq!(RecordMeta::UNTAGGED.vni(), None);
        assert_eq!(RecordMeta::UNTAGGED.default_name(), "untagged");
        assert_eq!(RecordMeta::from_le_bytes(m.to_le_bytes()), m);
    }

    #[test]
    fn a_short_index_leaves_records_untagged() {
        let bytes = [RecordMeta::tunnel(9, 0).to_le_bytes(), [1, 0, 0, 0]].concat();
        let got = decode_index(&bytes[..6], 3);
        assert_eq!(
            got,
            vec![
                RecordMeta::tunnel(9, 0),
                RecordMeta::UNTAGGED,
                RecordMeta::UNTAGGED
            ]
        );
    }
}
