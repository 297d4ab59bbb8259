//! Fuzzes every header view: building one over arbitrary bytes and reading all its fields
//! must never panic, and a view's payload must lie inside the buffer it was built over.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mirrorcap_wire::*;

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
        let _ = (
            ip.src_addr(),
            ip.dst_addr(),
            ip.protocol(),
            ip.ttl(),
            ip.is_fragment(),
            ip.options(),
        );
        assert!(inside(data, ip.payload()));
    }
    if let Ok(u) = UdpPacket::new_checked(data) {
        let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum());
        if let Ok(p) = u.payload() {
            assert!(inside(data, p));
        }
    }
    if let Ok(t) = VlanTag::new_checked(data) {
        let _ = (t.tci(), t.pcp(), t.dei(), t.vid(), t.ethertype());
        assert!(inside(data, t.payload()));
    }
    if let Ok(ip) = Ipv6Packet::new_checked(data) {
        let _ = (
            ip.version(),
            ip.traffic_class(),
            ip.flow_label(),
            ip.next_header(),
            ip.hop_limit(),
            ip.src_addr(),
            ip.dst_addr(),
        );
        assert!(inside(data, ip.payload()));
        assert!(ip.payload().len() <= ip.payload_len() as usize);
    }
    let _ = (Ipv4Packet::claimed_len(data), Ipv6Packet::claimed_len(data));
    if let Ok(x) = Ipv6ExtHeader::new_checked(data) {
        let _ = x.next_header();
        assert!(x.header_len() <= data.len());
        assert!(inside(data, x.payload()));
    }
    if let Ok(g) = GeneveHeader::new_checked(data) {
        let _ = (
            g.version(),
            g.flags(),
            g.oam(),
            g.critical(),
            g.protocol_type(),
            g.vni(),
        );
        assert!(g.header_len() <= data.len());
        assert!(inside(data, g.options_bytes()) && inside(data, g.payload()));
        for o in g.options().flatten() {
            let _ = (
                o.class(),
                o.raw_type(),
                o.option_type(),
                o.critical(),
                o.data_u64(),
                o.data_u32(),
            );
            assert!(inside(data, o.data()));
        }
    }
    if let Ok(v) = VxlanHeader::new_checked(data) {
        let _ = (v.flags(), v.vni_valid(), v.vni());
        assert!(inside(data, v.payload()));
    }
});
