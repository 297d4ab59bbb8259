//! Fuzzes the flow index (`mirrorcap-index`): arbitrary bytes as index bytes (as they are, and
//! behind a valid checksum so the structure checks are reached), as a tcpdump expression for
//! `Narrow`, and as frames for the builder. Parsing must never panic; lookups stay within the
//! block count; whatever the builder writes parses, and every frame's terms find its block.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mirrorcap_index::checksum::checksum;
use mirrorcap_index::{FlowIndex, FlowKey, IndexBuilder, Narrow, Term};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Terms to look up, some from the bytes themselves.
fn probes(data: &[u8]) -> Vec<Term> {
    let b = |i: usize| data.get(i).copied().unwrap_or(0);
    let w = |i: usize| u16::from_be_bytes([b(i), b(i + 1)]);
    let mut v6 = [0u8; 16];
    for (i, x) in v6.iter_mut().enumerate() {
        *x = b(i);
    }
    vec![
        Term::Vni(u32::from_le_bytes([b(0), b(1), b(2), b(3)])),
        Term::Untagged,
        Term::EtherType(w(0)),
        Term::Vlan(w(2)),
        Term::Proto(b(4)),
        Term::Port(w(5)),
        Term::PortRange(w(7), w(9)),
        Term::Host(IpAddr::V4(Ipv4Addr::new(b(0), b(1), b(2), b(3)))),
        Term::Net(IpAddr::V4(Ipv4Addr::new(b(0), b(1), b(2), b(3))), b(4)),
        Term::Host(IpAddr::V6(Ipv6Addr::from(v6))),
        Term::Net(IpAddr::V6(Ipv6Addr::from(v6)), b(16)),
    ]
}

/// Lookups on a parsed index stay within its blocks.
fn query(idx: &FlowIndex, data: &[u8]) {
    let n = idx.block_count();
    let mut terms: Vec<Term> = idx.terms().take(32).collect();
    terms.extend(probes(data));
    for t in &terms {
        let s = idx.blocks_with(*t);
        assert_eq!(s.block_count(), n);
        assert!(s.iter().all(|k| k < n));
    }
    let (a, b) = terms.split_at(terms.len() / 2);
    let s = idx.blocks_matching(&[a, b, &[]]);
    assert!(s.iter().all(|k| k < n));
    assert_eq!(idx.all_blocks().len(), n as usize);
}

fuzz_target!(|data: &[u8]| {
    // The bytes as an index, as they are (the checksum refuses nearly all) and checksummed.
    if let Ok(idx) = FlowIndex::parse(data) {
        query(&idx, data);
    }
    let mut signed = data.to_vec();
    signed.extend_from_slice(&checksum(data).to_le_bytes());
    let parsed = FlowIndex::parse(&signed);
    if let Ok(idx) = &parsed {
        query(idx, data);
    }

    // The bytes as frames: [length, metadata byte, frame ...] ..., four to a block.
    let mut b = IndexBuilder::new();
    let mut frames = Vec::new();
    let mut rest = data;
    while let [len, meta, tail @ ..] = rest {
        let (f, r) = tail.split_at(usize::from(*len).min(tail.len()));
        // Metadata: a VNI, or untagged (session 255) when the byte's top bit is set.
        let meta = if meta & 0x80 != 0 { 255 << 24 } else { u32::from(*meta) * 0x0001_0101 };
        let block = frames.len() as u32 / 4;
        b.push(block, f, meta);
        frames.push((block, f, meta));
        rest = r;
    }
    let idx = FlowIndex::parse(&b.finish()).expect("the builder's bytes parse");
    for (block, f, meta) in &frames {
        for t in FlowKey::extract(f, *meta).terms() {
            assert!(idx.blocks_with(t).contains(*block), "{t:?} not in block {block}");
        }
    }
    query(&idx, data);

    // The bytes as a tcpdump expression.
    let expr = String::from_utf8_lossy(data);
    let narrow = Narrow::from_expr(&expr);
    let _ = narrow.narrows();
    for i in [&idx].into_iter().chain(parsed.as_ref().ok()) {
        let s = narrow.blocks(i);
        assert!(s.iter().all(|k| k < i.block_count()));
    }
});
