//! Fuzzes `decap` with every configuration knob: arbitrary bytes must never panic, and a
//! decapsulated range must lie inside the frame and hold at least what its kind needs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mirrorcap_decap::{decap, DecapConfig, InnerKind};

fuzz_target!(|data: &[u8]| {
    let configs = [
        DecapConfig::default(),
        DecapConfig {
            vxlan_ports: vec![4789, 8472],
            geneve_ports: vec![6081],
            max_depth: 8,
        },
        DecapConfig {
            vxlan_ports: vec![4789],
            geneve_ports: vec![6081],
            max_depth: 1,
        },
    ];
    for cfg in &configs {
        if let Ok(d) = decap(data, cfg) {
            assert!(
                d.inner_offset + d.inner_len <= data.len(),
                "inner range outside the frame"
            );
            assert_eq!(d.inner(data).len(), d.inner_len);
            assert!(d.meta.depth >= 1 && d.meta.depth <= cfg.max_depth);
            let min = match d.meta.inner {
                InnerKind::Ethernet => 14,
                InnerKind::Ipv4 | InnerKind::Ipv6 => 1,
            };
            assert!(
                d.inner_len >= min,
                "inner frame shorter than its kind allows"
            );
        }
    }
});
