//! Flow records survive Parquet: every field, optional ones absent or present, times to the
//! microsecond; a file that is not ours, or damaged anywhere, is an error and never rows.

use mirrorcap_flows::{decode, encode, FlowRecord};
use proptest::prelude::*;
use std::net::IpAddr;

fn record() -> impl Strategy<Value = FlowRecord> {
    let addr = prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from)
    ];
    (
        (
            0u64..1 << 60,
            0u64..1 << 40,
            proptest::option::of(0u32..1 << 24),
            any::<u8>(),
        ),
        (
            any::<u16>(),
            proptest::option::of(0u16..4096),
            proptest::option::of(any::<u8>()),
        ),
        (
            proptest::option::of(addr.clone()),
            proptest::option::of(addr),
        ),
        proptest::option::of((any::<u16>(), any::<u16>())),
        (1u64..1 << 40, 0u64..1 << 50, any::<u8>(), 0u64..1000),
    )
        .prop_map(
            |((t, d, vni, sid), (et, vlan, proto), (s, dst), ports, (p, b, fl, tr))| FlowRecord {
                first_ts_ns: t / 1000 * 1000,
                last_ts_ns: (t + d) / 1000 * 1000,
                vni,
                session_id: sid,
                ether_type: et,
                vlan,
                ip_version: proto.map(|_| 4),
                protocol: proto,
                src_addr: s,
                dst_addr: dst,
                src_port: ports.map(|p| p.0),
                dst_port: ports.map(|p| p.1),
                packets: p,
                bytes: b,
                captured_bytes: b / 2,
                tcp_flags: fl,
                truncated: tr,
            },
        )
}

proptest! {
    #[test]
    fn rows_round_trip(rows in proptest::collection::vec(record(), 0..50)) {
        prop_assert_eq!(decode(encode(&rows).unwrap()).unwrap(), rows);
    }
}

#[test]
fn damaged_or_foreign_bytes_are_errors() {
    let mut t = mirrorcap_flows::FlowTable::new();
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x06]);
    t.push(5_000, &f, 60, 1);
    let good = encode(&t.take()).unwrap();
    assert_eq!(decode(good.clone()).unwrap().len(), 1);
    assert!(decode(good[..good.len() - 9].to_vec()).is_err());
    assert!(decode(b"PAR1 not parquet".to_vec()).is_err());
    // Every byte is sealed: any one changed, the file is refused before a page is decoded
    // (the parquet crate's decoders can panic on damaged pages).
    for at in 0..good.len() {
        let mut flipped = good.clone();
        flipped[at] ^= 0x41;
        assert!(
            decode(flipped).is_err(),
            "byte {at} of {} changed",
            good.len()
        );
    }
}
