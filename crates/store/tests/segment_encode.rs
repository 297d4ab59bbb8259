//! The spooler's encoder (`segment::encode`, from a segment read whole into aligned memory) and
//! the record-at-a-time `BlockWriter` must make the same file and the same index for the same
//! records, in both modes, whatever the record sizes, block size and starting record (the
//! rest of a segment stored before), and from a microsecond pcap too.

use mirrorcap_ring::pcapfmt::{file_header, RecordHeader, FILE_HEADER_LEN, MAGIC_MICROS};
use mirrorcap_ring::reader::{parse_spans_checked, RecordSpan, SegmentBuf, Visit};
use mirrorcap_store::flowidx::FlowIndexWriter;
use mirrorcap_store::odirect::AlignedBuf;
use mirrorcap_store::segment::Encoder;
use mirrorcap_store::{BlockWriter, Compression, RecordMeta, StoreIndex, StoreOptions, ALIGN};
use proptest::prelude::*;

/// A segment's bytes: file header, then records with these data lengths; micros when asked.
fn segment(lens: &[usize], micros: bool) -> Vec<u8> {
    let mut b = file_header().to_vec();
    if micros {
        b[..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
    }
    for (i, &n) in lens.iter().enumerate() {
        let ts_ns = 1_700_000_000_000_000_000 + i as u64 * 1_234_567_000;
        let mut h = RecordHeader {
            ts_ns,
            incl_len: n as u32,
            orig_len: n as u32 + (i % 3) as u32,
        }
        .encode();
        if micros {
            let us = ((ts_ns % 1_000_000_000) / 1000) as u32;
            h[4..8].copy_from_slice(&us.to_le_bytes());
        }
        b.extend_from_slice(&h);
        b.extend((0..n).map(|k| (k * 31 + i * 7) as u8 % 11));
    }
    b
}

/// BlockWriter's file and index bytes for `spans[skip..]` of `bytes`.
fn reference(bytes: &[u8], spans: &[RecordSpan], opts: StoreOptions) -> (Vec<u8>, Vec<u8>) {
    let mut w = BlockWriter::new(opts).unwrap();
    let mut file = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        w.push(s.ts_ns, s.orig_len, s.data(bytes), RecordMeta(i as u32))
            .unwrap();
        while let Some(b) = w.pop_ready() {
            assert_eq!(b.offset as usize, file.len());
            file.extend_from_slice(&b.bytes);
        }
    }
    let fin = w.finish().unwrap();
    for b in fin.tail {
        assert_eq!(b.offset as usize, file.len());
        file.extend_from_slice(&b.bytes);
    }
    (file, fin.index_bytes)
}

fn check(lens: &[usize], skip: usize, block_size: usize, zstd: bool, micros: bool, feed: bool) {
    let bytes = segment(lens, micros);
    let mut spans = Vec::new();
    let (end, torn, canonical) = parse_spans_checked(&bytes, &mut spans);
    assert_eq!((end, torn, canonical), (bytes.len(), 0, !micros));
    let skip = skip.min(spans.len());
    let opts = StoreOptions {
        compression: if zstd {
            Compression::Zstd { level: 1 }
        } else {
            Compression::None
        },
        block_size,
    };
    let (want_file, want_index) = reference(&bytes, &spans[skip..], opts);

    let mut seg = AlignedBuf::new().unwrap();
    seg.space(bytes.len()).unwrap().copy_from_slice(&bytes);
    let metas: Vec<RecordMeta> = (0..spans.len() - skip)
        .map(|i| RecordMeta(i as u32))
        .collect();
    let mut c = zstd::bulk::Compressor::new(1).unwrap();
    c.include_checksum(true).unwrap();
    let mut out = AlignedBuf::new().unwrap();
    let mut c2 = zstd::bulk::Compressor::new(1).unwrap();
    c2.include_checksum(true).unwrap();
    // Fed as the reader would (bytes arriving in pieces), or not at all.
    let mut enc = Encoder::new(opts).with_flow_index(true);
    if feed {
        for cut in [
            FILE_HEADER_LEN - 1,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len(),
        ] {
            let cut = cut.min(bytes.len());
            let mut part = Vec::new();
            let (_, _, canon) = parse_spans_checked(&bytes[..cut], &mut part);
            let part_metas: Vec<RecordMeta> = (0..part.len())
                .map(|i| RecordMeta(i.saturating_sub(skip) as u32))
                .collect();
            let v = Visit {
                seq: 7,
                bytes: &seg.bytes()[..cut],
                spans: &part,
                metas: &part_metas,
                canonical: canon,
            };
            enc.feed(&v, skip == 0, zstd.then_some(&mut c2), &mut out);
        }
    }
    let e = enc
        .finish(
            &mut seg,
            canonical,
            &spans[skip..],
            &metas,
            zstd.then_some(&mut c),
            &mut out,
        )
        .unwrap();
    let buf = if e.in_place { &seg } else { &out };
    assert_eq!(e.in_place, !zstd);
    assert_eq!(e.write_len % ALIGN, 0);
    assert!(e.write_len as u64 >= e.data_len && (e.write_len as u64) < e.data_len + ALIGN as u64);
    let got = &buf.bytes()[..e.data_len as usize];
    assert_eq!(got.len(), want_file.len(), "file length");
    assert!(got == want_file.as_slice(), "file bytes differ");
    assert!(
        buf.bytes()[e.data_len as usize..e.write_len]
            .iter()
            .all(|&b| b == 0),
        "padding past the data is zeros"
    );
    assert_eq!(e.index_bytes, want_index, "index bytes");
    // The flow index: each record with its block number, as the reference's blocks hold them.
    let index = StoreIndex::decode(&want_index).unwrap();
    let mut w = FlowIndexWriter::new();
    let mut at = 0;
    for (k, b) in index.blocks.iter().enumerate() {
        for i in at..at + b.records as usize {
            w.push(k, spans[skip + i].data(&bytes), metas[i]);
        }
        at += b.records as usize;
    }
    assert!(
        e.fidx_bytes.as_deref() == Some(&w.finish(index.blocks.len())[..]),
        "flow index"
    );
    if !zstd {
        assert_eq!(&got[..FILE_HEADER_LEN], &file_header()[..]);
    }
}

#[test]
fn the_same_file_as_the_block_writer_for_typical_segments() {
    let lens: Vec<usize> = (0..3000).map(|i| [60, 1500, 9001, 128, 0][i % 5]).collect();
    for zstd in [false, true] {
        for skip in [0, 1, 777] {
            for feed in [false, true] {
                check(&lens, skip, 1 << 20, zstd, false, feed);
                check(&lens, skip, 64 << 10, zstd, false, feed);
            }
        }
        check(&lens, 0, 1 << 20, zstd, true, true);
        check(&[], 0, 1 << 20, zstd, false, true);
        check(&lens, lens.len(), 1 << 20, zstd, false, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn the_same_file_as_the_block_writer(
        lens in prop::collection::vec(prop_oneof![0usize..100, 1000usize..1600, 8000usize..20000], 0..200),
        skip in 0usize..50,
        block_size in prop_oneof![Just(4096usize), 4096usize..70000, Just(1 << 20)],
        zstd: bool,
        micros: bool,
        feed: bool,
    ) {
        check(&lens, skip, block_size, zstd, micros, feed);
    }
}
