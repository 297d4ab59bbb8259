//! Fuzzes every header view: building one over arbitrary bytes and reading all its fields
//! must never panic, and a view's payload must lie inside the buffer it was built over.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mirrorcap::wire::*;

fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = EthernetFrame::new_checked(data) {
        let _ = (e.dst_addr(), e.src_addr(), e.ethertype());
        assert!(inside(data, e.payload()));
    }
    if let Ok(ip) = Ipv4Packet::new_checked(data) {
        let _ = (ip.src_addr(), ip.dst_addr(), ip.protocol(), ip.ttl(), ip.is_fragment(), ip.options());
        assert!(inside(data, ip.payload()));
    }
    if let Ok(u) = UdpPacket::new_checked(data) {
        let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum());
        if let Ok(p) = u.payload() {
            assert!(inside(data, p));
        }
    }
    if let Ok(v) = VxlanHeader::new_checked(data) {
        let _ = (v.flags(), v.vni_valid(), v.vni());
        assert!(inside(data, v.payload()));
    }
});
