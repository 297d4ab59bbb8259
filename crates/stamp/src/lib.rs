//! The stamp at the start of every generated inner frame's L4 payload, shared by `gen` (which
//! writes it) and the appliance (which reads it to find loss, reordering and latency).
//! Big-endian, cut at the end of the frame when the frame is small: a reader uses the fields
//! wholly present.
//!
//! | bytes  | field                                                     |
//! |--------|-----------------------------------------------------------|
//! | 0..8   | sequence number (u64), per flow, from 0 in each gen run   |
//! | 8..12  | the tag `MCAP`                                            |
//! | 12..16 | flow id (u32), 0..flows-1                                 |
//! | 16..24 | TX timestamp, ns since the Unix epoch                     |
//! | 24..28 | run id (u32, random per gen run)                          |
//!
//! A payload shorter than 12 bytes carries no stamp.
#![forbid(unsafe_code)]
/// The tag after the sequence number that marks a stamped payload.
pub const SEQ_TAG: &[u8; 4] = b"MCAP";

/// Bytes of a whole stamp.
pub const STAMP_LEN: usize = 28;
/// Bytes needed for the sequence number and the tag (the least a stamp is).
pub const STAMP_MIN: usize = 12;
const FLOW_END: usize = 16;
const TS_END: usize = 24;

/// One frame's stamp; the optional fields are `None` when the frame was too small for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub flow: Option<u32>,
    pub tx_ns: Option<u64>,
    pub run: Option<u32>,
}

/// Writes the fields of `s` that fit wholly in `payload` (none if it is shorter than
/// [`STAMP_MIN`]); a `None` field is left as it is. Returns the bytes written through.
#[inline]
pub fn write_stamp(payload: &mut [u8], s: &Stamp) -> usize {
    if payload.len() < STAMP_MIN {
        return 0;
    }
    payload[..8].copy_from_slice(&s.seq.to_be_bytes());
    payload[8..12].copy_from_slice(SEQ_TAG);
    let mut end = STAMP_MIN;
    if payload.len() >= FLOW_END {
        if let Some(f) = s.flow {
            payload[12..FLOW_END].copy_from_slice(&f.to_be_bytes());
        }
        end = FLOW_END;
    }
    if payload.len() >= TS_END {
        if let Some(t) = s.tx_ns {
            payload[FLOW_END..TS_END].copy_from_slice(&t.to_be_bytes());
        }
        end = TS_END;
    }
    if payload.len() >= STAMP_LEN {
        if let Some(r) = s.run {
            payload[TS_END..STAMP_LEN].copy_from_slice(&r.to_be_bytes());
        }
        end = STAMP_LEN;
    }
    end
}

/// The stamp at the start of `payload`, or `None` when it does not start with a sequence
/// number and the tag.
#[inline]
pub fn read_stamp(payload: &[u8]) -> Option<Stamp> {
    if payload.len() < STAMP_MIN || &payload[8..12] != SEQ_TAG {
        return None;
    }
    let u32_at = |a: usize| {
        payload
            .get(a..a + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |a: usize| {
        payload.get(a..a + 8).map(|b| {
            let mut w = [0u8; 8];
            w.copy_from_slice(b);
            u64::from_be_bytes(w)
        })
    };
    Some(Stamp {
        seq: u64_at(0)?,
        flow: u32_at(12),
        tx_ns: u64_at(FLOW_END),
        run: u32_at(TS_END),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_is_big_endian_at_the_contract_offsets() {
        let mut p = [0u8; 40];
        let s = Stamp {
            seq: 0x0102_0304_0506_0708,
            flow: Some(0x0a0b_0c0d),
            tx_ns: Some(0x1112_1314_1516_1718),
            run: Some(0x2122_2324),
        };
        assert_eq!(write_stamp(&mut p, &s), 28);
        assert_eq!(&p[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&p[8..12], b"MCAP");
        assert_eq!(&p[12..16], &[0x0a, 0x0b, 0x0c, 0x0d]);
        assert_eq!(
            &p[16..24],
            &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
        );
        assert_eq!(&p[24..28], &[0x21, 0x22, 0x23, 0x24]);
        assert_eq!(&p[28..], &[0u8; 12], "nothing past the stamp");
    }

    #[test]
    fn cut_stamps_keep_the_whole_fields_only() {
        let s = Stamp {
            seq: 9,
            flow: Some(3),
            tx_ns: Some(77),
            run: Some(5),
        };
        for (len, want) in [
            (11, None),
            (12, Some((None, None, None))),
            (15, Some((None, None, None))),
            (16, Some((Some(3), None, None))),
            (23, Some((Some(3), None, None))),
            (24, Some((Some(3), Some(77), None))),
            (27, Some((Some(3), Some(77), None))),
            (28, Some((Some(3), Some(77), Some(5)))),
        ] {
            let mut p = vec![0xeeu8; len];
            write_stamp(&mut p, &s);
            let got = read_stamp(&p).map(|r| {
                assert_eq!(r.seq, 9);
                (r.flow, r.tx_ns, r.run)
            });
            assert_eq!(got, want, "payload of {len} bytes");
            // Bytes of a partial field are left alone.
            let end = match len {
                12..=15 => 12,
                16..=23 => 16,
                24..=27 => 24,
                _ => len,
            };
            assert!(p[end.min(len)..].iter().all(|&b| b == 0xee), "{len}: {p:?}");
        }
    }

    #[test]
    fn no_tag_no_stamp() {
        assert_eq!(read_stamp(&[0u8; 28]), None);
        assert_eq!(read_stamp(b"12345678MCA"), None);
    }

    proptest! {
        #[test]
        fn round_trips_what_fits(seq: u64, flow: u32, ts: u64, run: u32, len in 0usize..64) {
            let s = Stamp { seq, flow: Some(flow), tx_ns: Some(ts), run: Some(run) };
            let mut p = vec![0u8; len];
            let n = write_stamp(&mut p, &s);
            let r = read_stamp(&p);
            if len < STAMP_MIN {
                prop_assert_eq!(n, 0);
                prop_assert_eq!(r, None);
            } else {
                let r = r.unwrap();
                prop_assert_eq!(r.seq, seq);
                prop_assert_eq!(r.flow, (len >= 16).then_some(flow));
                prop_assert_eq!(r.tx_ns, (len >= 24).then_some(ts));
                prop_assert_eq!(r.run, (len >= 28).then_some(run));
                prop_assert_eq!(n, [12, 16, 24, 28].into_iter().filter(|&e| e <= len).max().unwrap());
            }
        }
    }
}
