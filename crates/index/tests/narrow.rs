//! `Narrow::from_expr`: which tcpdump expressions narrow to which index terms, and which must
//! narrow nothing (libpcap could match in any block).
use mirrorcap_index::Narrow;
use mirrorcap_index::Narrow::{All, And, Or};

fn t(x: mirrorcap_index::Term) -> Narrow {
    Narrow::Term(x)
}

#[test]
fn narrows_the_documented_primitives() {
    let h = |s: &str| t(mirrorcap_index::Term::Host(s.parse().unwrap()));
    assert_eq!(Narrow::from_expr("host 10.0.0.1"), h("10.0.0.1"));
    assert_eq!(Narrow::from_expr("src host 10.0.0.1"), h("10.0.0.1"));
    assert_eq!(
        Narrow::from_expr("ip6 dst host ::1"),
        And(vec![t(mirrorcap_index::Term::EtherType(0x86dd)), h("::1")])
    );
    assert_eq!(
        Narrow::from_expr("net 10.1"),
        t(mirrorcap_index::Term::Net("10.1.0.0".parse().unwrap(), 16))
    );
    assert_eq!(
        Narrow::from_expr("net 10.0.0.0 mask 255.0.0.0"),
        t(mirrorcap_index::Term::Net("10.0.0.0".parse().unwrap(), 8))
    );
    assert_eq!(
        Narrow::from_expr("tcp dst port 80 or udp"),
        Or(vec![
            And(vec![
                t(mirrorcap_index::Term::Proto(6)),
                t(mirrorcap_index::Term::Port(80))
            ]),
            t(mirrorcap_index::Term::Proto(17))
        ])
    );
    assert_eq!(
        Narrow::from_expr("portrange 2000-1000"),
        t(mirrorcap_index::Term::PortRange(1000, 2000))
    );
    assert_eq!(
        Narrow::from_expr("ip proto 47"),
        t(mirrorcap_index::Term::Proto(47))
    );
    assert_eq!(
        Narrow::from_expr("src or dst port 53"),
        t(mirrorcap_index::Term::Port(53))
    );
    assert_eq!(
        Narrow::from_expr("vlan 7 and host 10.0.0.1"),
        And(vec![t(mirrorcap_index::Term::Vlan(7)), h("10.0.0.1")])
    );
}

#[test]
fn never_narrows_what_it_cannot_follow() {
    for e in [
        "not host 10.0.0.1",
        "! port 53",
        "host 10.0.0.1 or tcp[13] & 2 != 0",
        "port http",
        "ether host 1:2:3:4:5:6",
        "host 10.0.0.1 or 10.0.0.2",
        "len > 100 or port 1",
        "(tcp[13] & 2) != 0",
        "vlan or host 10.0.0.1",
        "vlan and vlan and vlan and host 10.0.0.1",
        "mpls and host 10.0.0.1",
        "port 010",
        "ip multicast or port 1",
    ] {
        assert_eq!(Narrow::from_expr(e), All, "{e}");
    }
    // An offset relation narrows nothing itself, and leaves the rest narrowing.
    assert_eq!(
        Narrow::from_expr("tcp[13] & 2 != 0 and port 80"),
        t(mirrorcap_index::Term::Port(80))
    );
    assert_eq!(
        Narrow::from_expr("not udp and port 80"),
        t(mirrorcap_index::Term::Port(80))
    );
}
