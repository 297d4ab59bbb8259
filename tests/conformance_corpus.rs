//! Conformance on the shared third-party corpus (`../shared/testdata/pcaps/`): one test per
//! file (and run flags), each replaying it through the real binary and comparing everything
//! with the tshark-based oracle (see `conformance/mod.rs`); and the check that every file of
//! the corpus has a row and a test.
mod conformance;
mod support;
use conformance::*;
use support::corpus;

#[test]
fn arkime_gre_erspan_vxlan() {
    check("arkime__gre-erspan-vxlan.pcap", &[]);
}
#[test]
fn flowtest_802_1q_tunneling() {
    check("flowtest__802.1Q_tunneling.pcap", &[]);
}
#[test]
fn flowtest_ipv4_udp_fragmented() {
    check("flowtest__ipv4-udp-fragmented.pcap", &[]);
}
#[test]
fn flowtest_ipv6_udp_fragmented() {
    check("flowtest__ipv6-udp-fragmented.pcap", &[]);
}
#[test]
fn suricata_vxlan_decoder_01() {
    check("suricata-verify__vxlan-decoder-01_input.pcap", &[]);
}
#[test]
fn suricata_vxlan_non_zero_reserved_fields() {
    check(
        "suricata-verify__vxlan-non-zero-reserved-fields_input.pcap",
        &[],
    );
}
#[test]
fn tcpdump_802_1ad_qinq() {
    check("tcpdump__802.1ad_QinQ.pcap", &[]);
}
#[test]
fn tcpdump_bigtcp_ipv4_vxlan_ipv4() {
    check("tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap", &[]);
}
#[test]
fn tcpdump_bigtcp_ipv6_vxlan_ipv6() {
    check("tcpdump__bigtcp-ipv6-vxlan-ipv6.pcap", &[]);
}
#[test]
fn tcpdump_geneve_gcp() {
    check("tcpdump__geneve-gcp.pcap", &[]);
}
#[test]
fn tcpdump_geneve() {
    check("tcpdump__geneve.pcap", &[]);
}
#[test]
fn tcpdump_gso_ipv4_vxlan_ipv6() {
    check("tcpdump__gso-ipv4-vxlan-ipv6.pcap", &[]);
}
#[test]
fn tcpdump_gso_ipv6_geneve_ipv6() {
    check("tcpdump__gso-ipv6-geneve-ipv6.pcap", &[]);
}
#[test]
fn tcpdump_gso_ipv6_vxlan_ipv4() {
    check("tcpdump__gso-ipv6-vxlan-ipv4.pcap", &[]);
}
#[test]
fn tcpdump_gso_ipv6_vxlan_ipv6() {
    check("tcpdump__gso-ipv6-vxlan-ipv6.pcap", &[]);
}
#[test]
fn tcpdump_nsh_over_vxlan_gpe() {
    check("tcpdump__nsh-over-vxlan-gpe.pcap", &[]);
}
#[test]
fn tcpdump_vxlan() {
    check("tcpdump__vxlan.pcap", &[]);
}
#[test]
fn tcpdump_vxlan_port_8472() {
    check("tcpdump__vxlan_port_8472.pcap", &[]);
}
#[test]
fn tcpdump_vxlan_port_8472_configured() {
    check("tcpdump__vxlan_port_8472.pcap", &["--vxlan-port", "8472"]);
}
#[test]
fn zeek_geneve_ipv6() {
    check("zeek__geneve-ipv6.pcap", &[]);
}
#[test]
fn zeek_geneve_many_options() {
    check("zeek__geneve-many-options.pcap", &[]);
}
#[test]
fn zeek_geneve_truncated_pcapng() {
    check("zeek__geneve-truncated.pcapng", &[]);
}
#[test]
fn zeek_http_vlan_0() {
    check("zeek__http-vlan-0.pcap", &[]);
}
#[test]
fn zeek_vxlan_encapsulated_http() {
    check("zeek__vxlan-encapsulated-http.pcap", &[]);
}
#[test]
fn zeek_vxlan_triple_v2() {
    check("zeek__vxlan-triple-v2.pcap", &[]);
}

/// Every capture in the corpus has a row and a test, and every row names a file that exists.
#[test]
fn every_corpus_file_has_a_row_and_a_test() {
    let dir = corpus("");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in {}", dir.display());
    // The tests of the rows live in two files; both are searched for each row's call.
    let me: String = [
        include_str!("conformance_corpus.rs"),
        include_str!("conformance_generated.rs"),
    ]
    .concat()
    .chars()
    .filter(|c| !c.is_whitespace())
    .collect();
    for f in &files {
        assert!(
            ROWS.iter().any(|r| r.file == f && r.gen.is_empty()),
            "{f} is in the corpus but has no row in ROWS"
        );
    }
    for r in ROWS {
        assert_eq!(
            files.iter().any(|f| f == r.file),
            r.gen.is_empty(),
            "{}: a corpus row must name a corpus file, a generated one must not",
            r.file
        );
        let call: String = format!("check(\"{}\",&{:?}", r.file, r.args)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        assert!(
            me.contains(&call),
            "no #[test] runs {} with {:?}",
            r.file,
            r.args
        );
    }
}
