//! Conformance on captures `mirrorcap gen` writes at test time, for what the corpus lacks (AWS
//! truncation, GWLB nesting with AWS options, outer QinQ plus an inner VLAN, the depth limit);
//! tshark is their oracle all the same (see `conformance/mod.rs`).
mod conformance;
mod support;
use conformance::check;

#[test]
fn generated_gwlb_truncated() {
    check("gen-gwlb-truncated.pcap", &[]);
}
#[test]
fn generated_vxlan6_qinq_truncated() {
    check("gen-vxlan6-qinq-truncated.pcap", &[]);
}
#[test]
fn generated_vxlan_snaplen_200() {
    check("gen-vxlan-snaplen-200.pcap", &[]);
}
#[test]
fn generated_gwlb_depth_1() {
    check("gen-gwlb-depth-1.pcap", &["--max-depth", "1"]);
}
