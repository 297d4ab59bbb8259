//! The index over generated frames (`mirrorcap-wire`'s builders, cut and damaged at random):
//! every term of every frame is found in its block, exactly (no other block), a term never
//! pushed finds nothing, `net` is the union of its hosts, and — the point of it all — every
//! frame that libpcap's own `host`, `port`, `ip proto`, `ip6 proto`, `vlan` or `ether proto`
//! matches is in a block the index gives for that term. Damaged index bytes are an error.

use mirrorcap_filter::{LinkType, PcapFilter};
use mirrorcap_index::{BlockSet, FlowIndex, FlowKey, IndexBuilder, IndexError, Term};
use mirrorcap_wire::test_encap::{ethernet, ipv4, ipv6, udp, Ipv4Spec, Ipv6Spec, Tag};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

const V4: [[u8; 4]; 4] = [
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [10, 0, 1, 1],
    [192, 168, 7, 7],
];
const V6: [&str; 3] = ["fd00::1", "fd00::2", "2001:db8::7"];
const PORTS: [u16; 5] = [0, 53, 443, 40000, 65535];
const PROTOS: [u8; 6] = [1, 6, 17, 47, 58, 132];
const VLANS: [u16; 3] = [1, 100, 4095];
const VNIS: [u32; 3] = [0, 7, 0x00ff_ffff];

fn v6(i: usize) -> [u8; 16] {
    match V6[i].parse::<IpAddr>().unwrap() {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => unreachable!(),
    }
}

#[derive(Clone, Debug)]
enum L3 {
    V4 {
        src: usize,
        dst: usize,
        proto: u8,
        ihl: u8,
        ff: u16,
    },
    V6 {
        src: usize,
        dst: usize,
        ext: Vec<(u8, u8)>,
        proto: u8,
    },
    Arp {
        spa: usize,
        tpa: usize,
    },
    Other(u16),
}

#[derive(Clone, Debug)]
struct Spec {
    meta: u32,
    tags: Vec<u16>,
    l3: L3,
    sport: u16,
    dport: u16,
    /// Keep this many bytes (as a fraction of 256 of the frame), when cut.
    cut: Option<u8>,
    /// XOR this byte into the frame at this position (a damaged header).
    flip: Option<(u16, u8)>,
}

fn l3() -> impl Strategy<Value = L3> {
    prop_oneof![
        4 => (0..V4.len(), 0..V4.len(), prop::sample::select(&PROTOS[..]), 5u8..8,
              prop::sample::select(&[0u16, 0x2000, 0x4000, 0x0010, 0x2003][..]))
            .prop_map(|(src, dst, proto, ihl, ff)| L3::V4 { src, dst, proto, ihl, ff }),
        3 => (0..V6.len(), 0..V6.len(),
              prop::collection::vec(prop::sample::select(&[(0u8, 0u8), (60, 1), (43, 0), (44, 0)][..]), 0..3),
              prop::sample::select(&PROTOS[..]))
            .prop_map(|(src, dst, ext, proto)| L3::V6 { src, dst, ext, proto }),
        1 => (0..V4.len(), 0..V4.len()).prop_map(|(spa, tpa)| L3::Arp { spa, tpa }),
        1 => prop::sample::select(&[0x88CCu16, 0x8035, 0x0800, 0x86DD][..]).prop_map(L3::Other),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            3 => (prop::sample::select(&VNIS[..]), 0u32..3).prop_map(|(v, s)| v | s << 24),
            1 => Just(255u32 << 24),
        ],
        prop::collection::vec(prop::sample::select(&VLANS[..]), 0..4),
        l3(),
        prop::sample::select(&PORTS[..]),
        prop::sample::select(&PORTS[..]),
        prop::option::weighted(0.2, any::<u8>()),
        prop::option::weighted(0.2, (any::<u16>(), 1u8..=255)),
    )
        .prop_map(|(meta, tags, l3, sport, dport, cut, flip)| Spec {
            meta,
            tags,
            l3,
            sport,
            dport,
            cut,
            flip,
        })
}

/// The L4 header: ports, then zeros (a 20-byte TCP-like header).
fn l4(s: &Spec) -> Vec<u8> {
    let mut b = udp(s.sport, s.dport, &[0; 12]);
    b[4..8].fill(0);
    b
}

fn build(s: &Spec) -> Vec<u8> {
    let tags: Vec<Tag> = s
        .tags
        .iter()
        .enumerate()
        .map(|(i, &v)| Tag {
            tpid: if i == 0 && s.tags.len() > 1 {
                0x88A8
            } else {
                0x8100
            },
            tci: v,
        })
        .collect();
    let (ethertype, payload) = match &s.l3 {
        L3::V4 {
            src,
            dst,
            proto,
            ihl,
            ff,
        } => {
            let spec = Ipv4Spec {
                src: V4[*src],
                dst: V4[*dst],
                ihl: *ihl,
                flags_frag: *ff,
                tot_len: None,
            };
            (0x0800, ipv4(&spec, *proto, &l4(s)))
        }
        L3::V6 {
            src,
            dst,
            ext,
            proto,
        } => {
            let spec = Ipv6Spec {
                src: v6(*src),
                dst: v6(*dst),
                ext: ext.clone(),
                ..Ipv6Spec::default()
            };
            (0x86DD, ipv6(&spec, *proto, &l4(s)))
        }
        L3::Arp { spa, tpa } => {
            let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1];
            a.extend_from_slice(&V4[*spa]);
            a.extend_from_slice(&[0; 6]);
            a.extend_from_slice(&V4[*tpa]);
            (0x0806, a)
        }
        L3::Other(t) => (*t, vec![0x45; 30]),
    };
    let mut f = ethernet(&tags, ethertype, &payload);
    if let Some((at, x)) = s.flip {
        let i = usize::from(at) % f.len();
        f[i] ^= x;
    }
    if let Some(c) = s.cut {
        f.truncate(f.len() * usize::from(c) / 256);
    }
    f
}

/// Every candidate term and the libpcap expression meaning it (for the soundness check).
fn candidates() -> Vec<(Term, Vec<String>)> {
    let mut c = Vec::new();
    for a in V4 {
        let ip = IpAddr::from(a);
        c.push((Term::Host(ip), vec![format!("host {ip}")]));
    }
    for s in V6 {
        c.push((Term::Host(s.parse().unwrap()), vec![format!("host {s}")]));
    }
    for p in PORTS {
        c.push((Term::Port(p), vec![format!("port {p}")]));
    }
    for p in PROTOS {
        c.push((
            Term::Proto(p),
            vec![format!("ip proto {p}"), format!("ip6 proto {p}")],
        ));
    }
    for v in VLANS {
        c.push((Term::Vlan(v), vec![format!("vlan {v}")]));
    }
    for t in [0x0800u16, 0x86DD, 0x0806, 0x8035, 0x8100, 0x88A8, 0x88CC] {
        c.push((Term::EtherType(t), vec![format!("ether proto {t:#06x}")]));
    }
    c
}

/// Frames with their block numbers (ascending, several frames a block).
fn files() -> impl Strategy<Value = Vec<(u32, Spec)>> {
    prop::collection::vec((0u32..3, spec()), 1..40).prop_map(|v| {
        let mut block = 0;
        v.into_iter()
            .map(|(step, s)| {
                block += u32::from(step == 0);
                (block, s)
            })
            .collect()
    })
}

fn index_of(frames: &[(u32, Vec<u8>, u32)]) -> (Vec<u8>, FlowIndex) {
    let mut b = IndexBuilder::new();
    for (block, f, meta) in frames {
        b.push(*block, f, *meta);
    }
    let bytes = b.finish();
    let idx = FlowIndex::parse(&bytes).expect("a fresh index parses");
    (bytes, idx)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_term_is_found_in_exactly_its_blocks_and_libpcap_agrees(file in files()) {
        let frames: Vec<(u32, Vec<u8>, u32)> =
            file.iter().map(|(b, s)| (*b, build(s), s.meta)).collect();
        let (_, idx) = index_of(&frames);
        let blocks = frames.last().map_or(0, |f| f.0 + 1);
        prop_assert_eq!(idx.block_count(), blocks);

        // Exact per block, against the extraction itself.
        let mut want: BTreeMap<Term, BTreeSet<u32>> = BTreeMap::new();
        for (b, f, meta) in &frames {
            for t in FlowKey::extract(f, *meta).terms() {
                want.entry(t).or_default().insert(*b);
            }
        }
        let got: Vec<Term> = idx.terms().collect();
        prop_assert_eq!(&got, &want.keys().copied().collect::<Vec<_>>(), "dictionary round trip");
        for (t, bs) in &want {
            prop_assert_eq!(idx.blocks_with(*t).iter().collect::<BTreeSet<_>>(), bs.clone(), "{:?}", t);
        }
        // Terms never pushed find no block (a damaged frame may have made one of these up).
        for t in [Term::Port(1), Term::Host("10.9.9.9".parse().unwrap()), Term::Vni(12345),
                  Term::Proto(99), Term::Vlan(7), Term::EtherType(0x1234),
                  Term::Host("fd00::99".parse().unwrap())] {
            prop_assert_eq!(idx.blocks_with(t).is_empty(), !want.contains_key(&t), "{:?}", t);
        }
        // A net is the union of its hosts.
        for (net, p) in [("10.0.0.0", 24u8), ("10.0.0.0", 16), ("0.0.0.0", 0), ("fd00::", 16), ("::", 0)] {
            let net_ip: IpAddr = net.parse().unwrap();
            let mut u = BlockSet::none(blocks);
            for (t, bs) in &want {
                if let Term::Host(h) = t {
                    let inside = match (h, net_ip) {
                        (IpAddr::V4(h), IpAddr::V4(n)) =>
                            p == 0 || u32::from(*h) >> (32 - u32::from(p)) == u32::from(n) >> (32 - u32::from(p)),
                        (IpAddr::V6(h), IpAddr::V6(n)) =>
                            p == 0 || u128::from(*h) >> (128 - u32::from(p)) == u128::from(n) >> (128 - u32::from(p)),
                        _ => false,
                    };
                    if inside {
                        for b in bs { u.insert(*b); }
                    }
                }
            }
            prop_assert_eq!(idx.blocks_with(Term::Net(net_ip, p)), u, "net {}/{}", net, p);
        }
        // libpcap: whatever its filter matches, the index finds in that frame's block.
        for (term, exprs) in candidates() {
            let set = idx.blocks_with(term);
            for e in exprs {
                let filter = PcapFilter::new(&e, LinkType::Ethernet).expect("compiles");
                for (b, f, _) in &frames {
                    if filter.matches(f) {
                        prop_assert!(set.contains(*b), "libpcap `{}` matches {:02x?} in block {} but the index says {:?}", e, f, b, set);
                    }
                }
            }
        }
        // VNI terms, as the metadata words say.
        for (b, _, meta) in &frames {
            let t = if meta >> 24 == 255 { Term::Untagged } else { Term::Vni(meta & 0xff_ffff) };
            prop_assert!(idx.blocks_with(t).contains(*b));
        }
    }

    #[test]
    fn any_damage_is_an_error(file in files(), at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let frames: Vec<(u32, Vec<u8>, u32)> =
            file.iter().map(|(b, s)| (*b, build(s), s.meta)).collect();
        let (bytes, _) = index_of(&frames);
        let i = at.index(bytes.len());
        let mut bad = bytes.clone();
        bad[i] ^= x;
        prop_assert!(FlowIndex::parse(&bad).is_err());
        prop_assert!(FlowIndex::parse(&bytes[..i]).is_err());
        let mut longer = bytes.clone();
        longer.insert(i, x);
        prop_assert!(FlowIndex::parse(&longer).is_err());
    }
}

#[test]
fn every_byte_flipped_is_an_error_and_the_errors_name_the_check() {
    let mut b = IndexBuilder::new();
    let f = ethernet(
        &[],
        0x0800,
        &ipv4(&Ipv4Spec::default(), 17, &udp(1, 2, &[])),
    );
    for k in 0..100 {
        b.push(k / 10, &f, k);
    }
    let bytes = b.finish();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            assert!(FlowIndex::parse(&bad).is_err(), "byte {i} bit {bit}");
        }
    }
    assert_eq!(
        FlowIndex::parse(&bytes[..10]).unwrap_err(),
        IndexError::Short(10)
    );
    let mut bad = bytes.clone();
    bad[0] ^= 1;
    assert_eq!(FlowIndex::parse(&bad).unwrap_err(), IndexError::Checksum);
}

#[test]
fn empty_and_declared_blocks() {
    let bytes = IndexBuilder::new().finish();
    let idx = FlowIndex::parse(&bytes).unwrap();
    assert_eq!((idx.block_count(), idx.term_count()), (0, 0));
    assert!(idx.blocks_with(Term::Port(1)).is_empty());
    let mut b = IndexBuilder::new();
    b.set_block_count(5);
    b.push(2, &[0; 14], 7);
    let idx = FlowIndex::parse(&b.finish()).unwrap();
    assert_eq!(idx.block_count(), 5);
    assert_eq!(
        idx.blocks_with(Term::Vni(7)).iter().collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(
        idx.blocks_with(Term::EtherType(0))
            .iter()
            .collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(idx.all_blocks().len(), 5);
}

#[test]
fn and_or_of_terms_and_every_posting_encoding() {
    // 200 blocks: VNI 1 in all (posting "all"), port 80 in every other (bitmap), port 443 in
    // three (list), frames out of block order too.
    let mut b = IndexBuilder::new();
    let web = |p: u16| {
        ethernet(
            &[],
            0x0800,
            &ipv4(&Ipv4Spec::default(), 6, &udp(40000, p, &[0; 12])),
        )
    };
    for k in (0..200u32).rev() {
        b.push(k, &web(if k % 2 == 0 { 80 } else { 8080 }), 1);
        if [3, 100, 199].contains(&k) {
            b.push(k, &web(443), 2);
        }
    }
    let idx = FlowIndex::parse(&b.finish()).unwrap();
    assert_eq!(idx.blocks_with(Term::Vni(1)).len(), 200);
    assert_eq!(idx.blocks_with(Term::Port(80)).len(), 100);
    let tls = idx.blocks_with(Term::Port(443));
    assert_eq!(tls.iter().collect::<Vec<_>>(), vec![3, 100, 199]);
    let q = idx.blocks_with(Term::Port(80)).and(&tls);
    assert_eq!(q.iter().collect::<Vec<_>>(), vec![100]);
    let q = idx
        .blocks_with(Term::Vni(2))
        .or(&idx.blocks_with(Term::Port(8080)));
    assert_eq!(q.len(), 100 + 1);
    assert_eq!(idx.blocks_with(Term::PortRange(80, 443)).len(), 100 + 2);
    assert_eq!(idx.blocks_with(Term::PortRange(81, 443)), tls);
    assert_eq!(idx.blocks_with(Term::PortRange(0, 65535)).len(), 200);
    assert!(idx.blocks_with(Term::PortRange(443, 80)).is_empty());
    assert!(idx.blocks_with(Term::PortRange(444, 8079)).is_empty());
    // (port 80 and vni 2) or (port 8080 and vni 1) or (port 443 and port 22).
    let q = idx.blocks_matching(&[
        &[Term::Port(80), Term::Vni(2)],
        &[Term::Port(8080), Term::Vni(1)],
        &[Term::Port(443), Term::Port(22)],
    ]);
    assert_eq!(q.len(), 1 + 100);
    assert!(q.contains(100) && q.contains(3) && !q.contains(2));
    assert_eq!(
        idx.blocks_matching(&[&[]]).len(),
        200,
        "a clause not narrowed: all"
    );
    assert!(idx.blocks_matching(&[]).is_empty());
}

/// `bytes` with a correct trailing checksum (the store index's function, which the index uses).
fn sealed(mut body: Vec<u8>) -> Vec<u8> {
    let c = mirrorcap_store::checksum::checksum(&body);
    body.extend_from_slice(&c.to_le_bytes());
    body
}

/// Whatever `parse` accepts answers every lookup within its block count, without panicking.
fn lookups_are_sane(idx: &FlowIndex) {
    let n = idx.block_count();
    let terms: Vec<Term> = idx.terms().collect();
    for t in terms.iter().take(3).copied().chain([
        Term::Net("0.0.0.0".parse().unwrap(), 0),
        Term::Net("::".parse().unwrap(), 0),
        Term::PortRange(0, 65535),
    ]) {
        let s = idx.blocks_with(t);
        assert_eq!(s.block_count(), n);
        assert!(s.iter().all(|b| b < n));
    }
    for w in terms.windows(2) {
        assert!(w[0] < w[1] || matches!((w[0], w[1]), (Term::Host(_), Term::Host(_))));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Structure checks behind the checksum: random bodies under a valid header and checksum
    /// are refused or parse into an index whose lookups stay in range; nothing panics.
    #[test]
    fn checksummed_garbage_is_refused_or_sane(
        blocks in 0u32..200,
        terms in 0u32..40,
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut b = b"MCFLOWIX".to_vec();
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&blocks.to_le_bytes());
        b.extend_from_slice(&terms.to_le_bytes());
        b.extend_from_slice(&body);
        if let Ok(idx) = FlowIndex::parse(&sealed(b)) {
            lookups_are_sane(&idx);
        }
    }

    /// Valid indexes with one byte changed and the checksum made right again: the structure
    /// checks alone refuse it, or it is a different but sane index.
    #[test]
    fn damage_behind_a_recomputed_checksum_is_refused_or_sane(
        file in files(), at in any::<prop::sample::Index>(), x in 1u8..=255,
    ) {
        let frames: Vec<(u32, Vec<u8>, u32)> =
            file.iter().map(|(b, s)| (*b, build(s), s.meta)).collect();
        let (bytes, _) = index_of(&frames);
        let mut body = bytes[..bytes.len() - 8].to_vec();
        let i = at.index(body.len());
        body[i] ^= x;
        if let Ok(idx) = FlowIndex::parse(&sealed(body)) {
            lookups_are_sane(&idx);
        }
    }
}
