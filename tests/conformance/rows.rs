//! The conformance table: one row per corpus file (and run flags) or generated capture, with
//! what a person expects from it.

/// What a person expects from a file, read off `tshark -r FILE` and MANIFEST.md.
pub struct Hand {
    pub captured: u64,
    pub drops: &'static [(&'static str, u64)],
    /// None where a person cannot tell (random inner sizes).
    pub truncated: Option<u64>,
    /// VNI and frames captured with it.
    pub vnis: &'static [(u32, u64)],
    /// Captured frames whose VXLAN header has reserved bits set.
    pub reserved_bits: u64,
}

pub struct Row {
    /// A corpus file, or the name given to a generated capture.
    pub file: &'static str,
    /// If not empty, the input is not from the corpus but written by `mirrorcap gen -w FILE
    /// GEN...` (the project's generator covers what the corpus lacks: AWS truncation, GWLB
    /// nesting with AWS options, outer QinQ with an inner VLAN); the oracle is tshark all the same.
    /// A trailing [`SNAPLEN`] `N` is the test's, not gen's: the written file is then cut to `N`
    /// bytes a record, as a capture taken with `tcpdump -s N` holds it.
    pub gen: &'static [&'static str],
    /// Flags added to `mirrorcap run` (the oracle reads the same ones).
    pub args: &'static [&'static str],
    pub hand: Hand,
    /// Why the file yields what it yields (the table's note).
    pub note: &'static str,
}

/// See [`Row::gen`].
pub const SNAPLEN: &str = "(snaplen)";

pub const fn captured(n: u64, vnis: &'static [(u32, u64)]) -> Hand {
    Hand {
        captured: n,
        drops: &[],
        truncated: Some(0),
        vnis,
        reserved_bits: 0,
    }
}

pub const fn dropped(drops: &'static [(&'static str, u64)]) -> Hand {
    Hand {
        captured: 0,
        drops,
        truncated: Some(0),
        vnis: &[],
        reserved_bits: 0,
    }
}

pub const ROWS: &[Row] = &[
    Row {
        file: "arkime__gre-erspan-vxlan.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 7)]),
        note: "outer IPv4 carries GRE/ERSPAN (protocol 47), not UDP; the VXLAN inside is on 4790 anyway",
    },
    Row {
        file: "flowtest__802.1Q_tunneling.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 10)]),
        note: "two 802.1Q tags are accepted, but the IPv4 payload is ICMP, not UDP",
    },
    Row {
        file: "flowtest__ipv4-udp-fragmented.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 4), ("outer_fragment", 4)]),
        note: "4 IPv4 fragments (MF or offset set); the 4 whole datagrams go to UDP 6363",
    },
    Row {
        file: "flowtest__ipv6-udp-fragmented.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 2), ("outer_fragment", 4)]),
        note: "4 packets carry an IPv6 fragment header; the 2 others go to UDP 6363",
    },
    Row {
        file: "suricata-verify__vxlan-decoder-01_input.pcap",
        gen: &[],
        args: &[],
        hand: Hand {
            drops: &[("not_mirror", 2)],
            ..captured(1, &[(37, 1)])
        },
        note: "1 VXLAN VNI 37 (inner frame bounded by the UDP length, not the Ethernet padding); 2 plain UDP to 12345/32021",
    },
    Row {
        file: "suricata-verify__vxlan-non-zero-reserved-fields_input.pcap",
        gen: &[],
        args: &[],
        hand: Hand {
            reserved_bits: 10,
            ..captured(10, &[(11, 10)])
        },
        note: "VXLAN flags 0xff01 (I set, GBP and reserved bits too): tolerated and counted",
    },
    Row {
        file: "tcpdump__802.1ad_QinQ.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 2)]),
        note: "802.1ad + 802.1Q tags are accepted, but the payload is ARP",
    },
    Row {
        file: "tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("oversize_frame", 1)]),
        note: "80 KB BIG TCP frame: more than one mbuf, dropped before decap (decap alone says bad_ip_header: total length 0)",
    },
    Row {
        file: "tcpdump__bigtcp-ipv6-vxlan-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("oversize_frame", 1)]),
        note: "80 KB BIG TCP frame: more than one mbuf, dropped before decap (decap alone says bad_ip_header: payload length 0)",
    },
    Row {
        file: "tcpdump__geneve-gcp.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(0, 1)]),
        note: "Geneve with GCP (0x0132) options carrying bare IPv4/TCP: synthetic Ethernet header added",
    },
    Row {
        file: "tcpdump__geneve.pcap",
        gen: &[],
        args: &[],
        hand: captured(39, &[(10, 19), (11, 20)]),
        note: "OVS Geneve carrying Ethernet; the C bit and critical options are ignored (we capture, not forward)",
    },
    Row {
        file: "tcpdump__gso-ipv4-vxlan-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(5001, 1)]),
        note: "4.2 KB VXLAN frame, IPv4 outer, IPv6 inner: fits one mbuf",
    },
    Row {
        file: "tcpdump__gso-ipv6-geneve-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(5001, 1)]),
        note: "7 KB Geneve over IPv6 carrying Ethernet/IPv6/TCP",
    },
    Row {
        file: "tcpdump__gso-ipv6-vxlan-ipv4.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(5001, 1)]),
        note: "7 KB VXLAN frame, IPv6 outer, IPv4 inner",
    },
    Row {
        file: "tcpdump__gso-ipv6-vxlan-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: captured(1, &[(5001, 1)]),
        note: "4.2 KB VXLAN frame, IPv6 outer and inner",
    },
    Row {
        file: "tcpdump__nsh-over-vxlan-gpe.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 1)]),
        note: "VXLAN-GPE/NSH on UDP 4790, not a configured port",
    },
    Row {
        file: "tcpdump__vxlan.pcap",
        gen: &[],
        args: &[],
        hand: captured(10, &[(100, 10)]),
        note: "canonical VXLAN VNI 100: 8 ICMP and 2 ARP frames",
    },
    Row {
        file: "tcpdump__vxlan_port_8472.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 10)]),
        note: "VXLAN on UDP 8472, not the default port 4789",
    },
    Row {
        file: "tcpdump__vxlan_port_8472.pcap",
        gen: &[],
        args: &["--vxlan-port", "8472"],
        hand: captured(10, &[(100, 10)]),
        note: "the same with --vxlan-port 8472 (the oracle has tshark decode 8472 as VXLAN)",
    },
    Row {
        file: "zeek__geneve-ipv6.pcap",
        gen: &[],
        args: &[],
        hand: captured(2, &[(0x12_3456, 2)]),
        note: "Geneve protocol 0x86DD: bare IPv6/UDP to 40000/40001 (not a tunnel port), synthetic Ethernet header added",
    },
    Row {
        file: "zeek__geneve-many-options.pcap",
        gen: &[],
        args: &[],
        hand: captured(10, &[(0x0c_012e, 10)]),
        note: "Geneve with 76 bytes of Linux-class options, Ethernet payload",
    },
    Row {
        file: "zeek__geneve-truncated.pcapng",
        gen: &[],
        args: &[],
        hand: dropped(&[("truncated_header", 1)]),
        note: "pcapng; Geneve header and options but no payload (UDP length 24)",
    },
    Row {
        file: "zeek__http-vlan-0.pcap",
        gen: &[],
        args: &[],
        hand: dropped(&[("not_mirror", 14)]),
        note: "VLAN-0 priority tag accepted, but the payload is TCP",
    },
    Row {
        file: "zeek__vxlan-encapsulated-http.pcap",
        gen: &[],
        args: &[],
        hand: captured(12, &[(1, 12)]),
        note: "VXLAN VNI 1, an HTTP session; one 9100-byte frame (still one mbuf)",
    },
    Row {
        file: "zeek__vxlan-triple-v2.pcap",
        gen: &[],
        args: &[],
        hand: Hand {
            reserved_bits: 1,
            ..captured(1, &[(1, 1)])
        },
        note: "VXLAN in VXLAN in VXLAN: the walk stops at the first (VNI 1, flags 0x0c: reserved bit)",
    },
    // Generated inputs (not corpus files), for what the corpus lacks. Noise: one frame after
    // every N mirrored ones, cycling plain UDP, ARP, IPv6 UDP, VXLAN without the I flag, VXLAN
    // cut short, IPv4 fragment, IPv6 fragment.
    Row {
        file: "gen-gwlb-truncated.pcap",
        gen: &[
            "--encap", "gwlb", "--count", "60", "--inner-size", "1000", "--truncate", "200",
            "--noise-every", "4", "--seed", "7",
        ],
        args: &[],
        hand: Hand {
            drops: &[
                ("not_mirror", 7),
                ("bad_vxlan_flags", 2),
                ("truncated_header", 2),
                ("outer_fragment", 4),
            ],
            truncated: Some(60),
            ..captured(60, &[(100, 20), (200, 20), (300, 20)])
        },
        note: "generated: GWLB Geneve (AWS options) → IPv4 → VXLAN, depth 2; 1000-byte frames cut to 200 (truncated); 15 noise frames",
    },
    Row {
        file: "gen-vxlan6-qinq-truncated.pcap",
        gen: &[
            "--encap", "vxlan6", "--count", "40", "--outer-vlans", "2", "--inner-vlan", "7",
            "--inner-size", "60-1500", "--truncate", "300", "--noise-every", "3", "--seed", "3",
        ],
        args: &[],
        hand: Hand {
            drops: &[
                ("not_mirror", 6),
                ("bad_vxlan_flags", 2),
                ("truncated_header", 2),
                ("outer_fragment", 3),
            ],
            truncated: None,
            ..captured(40, &[(100, 14), (200, 13), (300, 13)])
        },
        note: "generated: VXLAN over IPv6 behind 802.1ad+802.1Q, inner 802.1Q tag, random sizes cut to 300; 13 noise frames",
    },
    Row {
        file: "gen-vxlan-snaplen-200.pcap",
        gen: &[
            "--encap", "vxlan", "--count", "40", "--vni", "100", "--inner-size", "60-3000",
            "--noise-every", "5", "--seed", "11", SNAPLEN, "200",
        ],
        args: &[],
        hand: Hand {
            drops: &[
                ("not_mirror", 4),
                ("bad_vxlan_flags", 1),
                ("truncated_header", 1),
                ("outer_fragment", 2),
            ],
            truncated: None,
            ..captured(40, &[(100, 40)])
        },
        note: "generated, then cut to 200 bytes a record (a `tcpdump -s 200` capture, replayed): every mirrored frame captured with the bytes present and the outer UDP length's original length; 8 noise frames",
    },
    Row {
        file: "gen-gwlb-depth-1.pcap",
        gen: &["--encap", "gwlb", "--count", "10", "--seed", "5"],
        args: &["--max-depth", "1"],
        hand: dropped(&[("tunnel_too_deep", 10)]),
        note: "generated: GWLB Geneve → VXLAN with --max-depth 1",
    },
];
