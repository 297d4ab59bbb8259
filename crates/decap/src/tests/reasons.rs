//! The drop taxonomy's table: indices, labels, help sentences, order stability.

use crate::DropReason;

#[test]
fn drop_reason_table() {
    assert_eq!(DropReason::ALL.len(), DropReason::COUNT);
    assert_eq!(DropReason::COUNT, 9);
    let labels = [
        "not_mirror",
        "truncated_header",
        "bad_ip_header",
        "outer_fragment",
        "bad_udp_length",
        "bad_vxlan_flags",
        "bad_geneve_header",
        "unsupported_payload",
        "tunnel_too_deep",
    ];
    for (i, r) in DropReason::ALL.into_iter().enumerate() {
        assert_eq!(r.index(), i);
        assert_eq!(r as u8 as usize, i);
        assert_eq!(r.as_str(), labels[i]);
        assert_eq!(r.to_string(), labels[i]);
        let help = r.help();
        assert!(help.len() > 40 && help.ends_with('.'), "{r:?}: {help}");
        assert_eq!(help.matches(". ").count(), 0, "one sentence: {help}");
        assert!(!help.contains("  "), "{r:?}: {help}");
    }
    // Appended, so the first six keep their counter slots.
    assert_eq!(DropReason::BadVxlanFlags.index(), 5);
    assert_eq!(DropReason::TunnelTooDeep.index(), DropReason::COUNT - 1);
}
