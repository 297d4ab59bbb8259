//! The new builder and key against the reference, on generated frames.

use super::*;
use crate::{FlowKey, IndexBuilder};
use proptest::prelude::*;

/// Few addresses and ports, so flows repeat within and across blocks.
const V4: [[u8; 4]; 3] = [[10, 0, 0, 1], [10, 0, 0, 2], [192, 168, 1, 1]];
const V6: [u8; 3] = [1, 2, 0xfe];
const PORTS: [u16; 4] = [0, 53, 443, 40000];

/// One frame: chosen headers in front of random bytes, then cut and damaged.
#[derive(Clone, Debug)]
struct F {
    meta: u32,
    tags: Vec<(u16, u16)>,
    ethertype: u16,
    /// IPv4 version/IHL byte, flags/fragment word, protocol (or IPv6 next header).
    vi: u8,
    ff: u16,
    proto: u8,
    src: usize,
    dst: usize,
    sport: u16,
    dport: u16,
    /// IPv6 extension headers: (type, length byte).
    ext: Vec<(u8, u8)>,
    tail: Vec<u8>,
    cut: Option<usize>,
    flip: Option<(usize, u8)>,
    /// Raw bytes instead of all the above.
    raw: Option<Vec<u8>>,
}

fn frame(f: &F) -> Vec<u8> {
    if let Some(r) = &f.raw {
        return r.clone();
    }
    let mut b = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for &(tpid, tci) in &f.tags {
        b.extend_from_slice(&tpid.to_be_bytes());
        b.extend_from_slice(&tci.to_be_bytes());
    }
    b.extend_from_slice(&f.ethertype.to_be_bytes());
    let ports = |b: &mut Vec<u8>| {
        b.extend_from_slice(&f.sport.to_be_bytes());
        b.extend_from_slice(&f.dport.to_be_bytes());
    };
    match f.ethertype {
        0x0800 => {
            b.extend_from_slice(&[f.vi, 0, 0, 60, 0, 1]);
            b.extend_from_slice(&f.ff.to_be_bytes());
            b.extend_from_slice(&[64, f.proto, 0, 0]);
            b.extend_from_slice(&V4[f.src % 3]);
            b.extend_from_slice(&V4[f.dst % 3]);
            let ihl = usize::from(f.vi & 0x0f) * 4;
            b.resize(b.len() + ihl.saturating_sub(20), 1);
            ports(&mut b);
        }
        0x86dd => {
            let first = f.ext.first().map_or(f.proto, |e| e.0);
            b.extend_from_slice(&[0x60, 0, 0, 0, 0, 40, first, 64]);
            for a in [f.src, f.dst] {
                let mut x = [0u8; 16];
                x[0] = 0xfd;
                x[15] = V6[a % 3];
                b.extend_from_slice(&x);
            }
            for (i, &(_, len)) in f.ext.iter().enumerate() {
                let next = f.ext.get(i + 1).map_or(f.proto, |e| e.0);
                b.extend_from_slice(&[next, len]);
                b.extend_from_slice(&f.ff.to_be_bytes());
                b.extend_from_slice(&[0; 4]);
                b.resize(b.len() + usize::from(len) * 8, 0);
            }
            ports(&mut b);
        }
        0x0806 | 0x8035 => {
            b.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1]);
            b.extend_from_slice(&V4[f.src % 3]);
            b.extend_from_slice(&[0; 6]);
            b.extend_from_slice(&V4[f.dst % 3]);
        }
        _ => {}
    }
    b.extend_from_slice(&f.tail);
    if let Some((at, x)) = f.flip {
        let i = at % b.len();
        b[i] ^= x;
    }
    if let Some(c) = f.cut {
        b.truncate(c % (b.len() + 1));
    }
    b
}

fn any_frame() -> impl Strategy<Value = F> {
    let head = (
        prop_oneof![
            3 => (prop::sample::select(&[0u32, 7, 0xff_ffff][..]), 0u32..3)
                .prop_map(|(v, s)| v | s << 24),
            1 => Just(255u32 << 24),
        ],
        prop::collection::vec(
            (
                prop::sample::select(&[0x8100u16, 0x88a8, 0x9100][..]),
                prop::sample::select(&[0u16, 1, 100, 0x1fff, 0xffff][..]),
            ),
            0..4,
        ),
        prop_oneof![
            3 => Just(0x0800u16),
            3 => Just(0x86dd),
            1 => Just(0x0806),
            1 => Just(0x8035),
            1 => any::<u16>(),
        ],
        prop::sample::select(&[0x45u8, 0x46, 0x4f, 0x41, 0x65, 0x40][..]),
        prop::sample::select(&[0u16, 0x4000, 0x2000, 0x0001, 0x1fff, 0xfff8, 0x0008][..]),
        prop::sample::select(&[6u8, 17, 132, 1, 58, 47, 0, 43, 44, 60, 51, 135][..]),
    );
    let rest = (
        0usize..3,
        0usize..3,
        prop::sample::select(&PORTS[..]),
        prop::sample::select(&PORTS[..]),
        prop::collection::vec(
            (
                prop::sample::select(&[0u8, 43, 60, 44, 51, 135][..]),
                0u8..3,
            ),
            0..10,
        ),
        prop::collection::vec(any::<u8>(), 0..24),
        prop::option::weighted(0.3, any::<usize>()),
        prop::option::weighted(0.2, (any::<usize>(), 1u8..=255)),
        prop::option::weighted(0.05, prop::collection::vec(any::<u8>(), 0..90)),
    );
    (head, rest).prop_map(
        |(
            (meta, tags, ethertype, vi, ff, proto),
            (src, dst, sport, dport, ext, tail, cut, flip, raw),
        )| F {
            meta,
            tags,
            ethertype,
            vi,
            ff,
            proto,
            src,
            dst,
            sport,
            dport,
            ext,
            tail,
            cut,
            flip,
            raw,
        },
    )
}

/// Records: (block step, repeat the previous frame, frame). A step of 0 stays in the
/// block, 1 and 2 move on, 3 goes back to block step / 2 (blocks out of order).
fn records() -> impl Strategy<Value = Vec<(u8, bool, F)>> {
    prop::collection::vec(
        (
            prop_oneof![12 => Just(0u8), 3 => Just(1), 1 => Just(2), 1 => Just(3)],
            prop::bool::weighted(0.3),
            any_frame(),
        ),
        0..120,
    )
}

fn sorted(mut v: Vec<crate::Term>) -> Vec<crate::Term> {
    v.sort();
    v.dedup();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The builder gives the previous builder's bytes, and each frame the previous key's
    /// terms and endpoints.
    #[test]
    fn same_bytes_as_the_reference(recs in records(), extra in 0u32..3) {
        let mut b = IndexBuilder::new();
        let mut r = RefBuilder::new();
        let mut block = 0u32;
        let mut prev: Option<Vec<u8>> = None;
        for (step, again, f) in &recs {
            block = match step {
                3 => block / 2,
                s => block + u32::from(*s),
            };
            let bytes = match (&prev, again) {
                (Some(p), true) => p.clone(),
                _ => frame(f),
            };
            let (k, rk) = (FlowKey::extract(&bytes, f.meta), RefKey::extract(&bytes, f.meta));
            prop_assert_eq!(sorted(k.terms()), sorted(rk.terms()));
            prop_assert_eq!(k.endpoints(), rk.endpoints());
            prop_assert_eq!(k.vni(), rk.vni());
            b.push(block, &bytes, f.meta);
            r.push(block, &bytes, f.meta);
            prev = Some(bytes);
        }
        let blocks = block + extra;
        b.set_block_count(blocks);
        r.set_block_count(blocks);
        prop_assert_eq!(b.finish(), r.finish());
    }

    /// Raw random frames, as the fuzzer would give them.
    #[test]
    fn random_frames_give_the_reference_terms(
        frames in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..120), any::<u32>()), 0..40)
    ) {
        let mut b = IndexBuilder::new();
        let mut r = RefBuilder::new();
        for (i, (f, meta)) in frames.iter().enumerate() {
            let block = i as u32 / 8;
            prop_assert_eq!(
                sorted(FlowKey::extract(f, *meta).terms()),
                sorted(RefKey::extract(f, *meta).terms())
            );
            b.push(block, f, *meta);
            r.push(block, f, *meta);
        }
        prop_assert_eq!(b.finish(), r.finish());
    }
}

/// Two directions, equal keys (both builders); the words tell keys apart exactly as `==`.
#[test]
fn words_are_the_key() {
    let mut frames = Vec::new();
    for src in 0..3 {
        for dst in 0..3 {
            for ethertype in [0x0800u16, 0x86dd, 0x0806] {
                for cut in [None, Some(30), Some(36), Some(50), Some(56), Some(60)] {
                    let f = F {
                        meta: 7,
                        tags: vec![],
                        ethertype,
                        vi: 0x45,
                        ff: 0,
                        proto: 6,
                        src,
                        dst,
                        sport: PORTS[src % 2],
                        dport: PORTS[dst % 2 + 2],
                        ext: vec![],
                        tail: vec![],
                        cut,
                        flip: None,
                        raw: None,
                    };
                    frames.push(FlowKey::extract(&frame(&f), f.meta));
                }
            }
        }
    }
    for a in &frames {
        for b in &frames {
            assert_eq!(a == b, a.words() == b.words(), "{a:?} {b:?}");
        }
    }
}
