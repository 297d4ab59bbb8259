//! `mirrorcap gen` over DPDK, checked from the outside: captures written through net_pcap's
//! tx_pcap hold exactly the frames asked for (count, sizes, VNIs, flows, protocols), read back
//! with the `pcap-file` crate and the project's decap; tshark decodes them as VXLAN/Geneve with
//! valid checksums and no expert warning; every frame's stamp has per-flow sequence numbers
//! from 0, the run id of the report, and TX times that never go back within a queue.
mod support;
use mirrorcap_decap::{decap, DecapConfig};
use mirrorcap_stamp::{read_stamp, Stamp};
use std::collections::BTreeMap;
use std::path::Path;
use support::*;

/// One generated frame, taken apart.
#[derive(Debug)]
struct Frame {
    len: usize,
    vni: u32,
    inner_len: usize,
    tcp: bool,
    src_ip: [u8; 4],
    sport: u16,
    stamp: Option<Stamp>,
}

fn take_apart(f: &[u8]) -> Frame {
    let d = decap(f, &DecapConfig::default()).expect("decapsulates");
    let inner = d.inner(f);
    let p = etherparse::SlicedPacket::from_ethernet(inner).expect("inner frame parses");
    let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
        panic!("inner IPv4")
    };
    let src_ip = ip.header().source();
    let (tcp, sport, payload) = match &p.transport {
        Some(etherparse::TransportSlice::Udp(u)) => (false, u.source_port(), u.payload()),
        Some(etherparse::TransportSlice::Tcp(t)) => (true, t.source_port(), t.payload()),
        other => panic!("inner UDP or TCP, got {other:?}"),
    };
    Frame {
        len: f.len(),
        vni: d.meta.vni,
        inner_len: inner.len(),
        tcp,
        src_ip,
        sport,
        stamp: read_stamp(payload),
    }
}

fn gen_ok(args: &[&str]) -> String {
    let (st, err) = mirrorcap(args);
    assert!(st.success(), "gen {args:?}: {err}");
    err
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("report is JSON")
}

/// tshark with every checksum check on: returns the verbose dissection.
fn tshark_verbose(p: &Path) -> String {
    let (ok, out, err) = tool(
        "tshark",
        &[
            "-n",
            "-V",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-r",
            p.to_str().unwrap(),
        ],
    );
    assert!(ok, "tshark: {err}");
    for bad in [
        "[Expert Info",
        "Malformed",
        "[incorrect",
        "Bad]",
        "[Checksum Status: Bad",
    ] {
        assert!(
            !out.contains(bad),
            "tshark shows {bad:?} in {}",
            p.display()
        );
    }
    out
}

fn unix_ns() -> u64 {
    (unix_now() * 1e9) as u64
}

#[test]
fn a_vxlan_capture_holds_exactly_the_frames_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("tx.pcap");
    let rep = dir.path().join("r.json");
    let before = unix_ns();
    gen_ok(&[
        "gen",
        "--vdev",
        &format!("net_pcap0,tx_pcap={}", cap.display()),
        "--count",
        "240",
        "--flows",
        "8",
        "--vni",
        "11",
        "--vni",
        "22",
        "--inner-size",
        "300",
        "--proto",
        "mix",
        "--tcp-share",
        "25",
        "--progress",
        "0",
        "--report-json",
        rep.to_str().unwrap(),
    ]);
    let after = unix_ns();
    let r = report(&rep);
    let frames: Vec<Frame> = read_pcap(&cap).iter().map(|f| take_apart(f)).collect();
    assert_eq!(frames.len(), 240);
    assert_eq!(r["sent_packets"], 240);
    assert_eq!(
        r["bytes"].as_u64().unwrap(),
        frames.iter().map(|f| f.len as u64).sum::<u64>()
    );
    let run = r["run_id"].as_u64().unwrap() as u32;
    let mut per_flow: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut per_vni: BTreeMap<u32, u64> = BTreeMap::new();
    let mut last_ts = 0;
    for f in &frames {
        assert_eq!(f.inner_len, 300);
        let s = f.stamp.expect("a 300-byte frame carries the whole stamp");
        let flow = s.flow.unwrap();
        assert!(flow < 8);
        assert_eq!(s.run, Some(run));
        assert_eq!(f.sport, 10_000 + flow as u16, "flow id names the 5-tuple");
        assert_eq!(f.src_ip, [192, 0, 2, flow as u8 + 1]);
        assert_eq!(
            f.vni,
            [11, 22][flow as usize % 2],
            "VNIs round-robin over flows"
        );
        // 25% of 8 flows are TCP: flows 3 and 7.
        assert_eq!(f.tcp, flow == 3 || flow == 7, "flow {flow}");
        let ts = s.tx_ns.unwrap();
        assert!(ts >= last_ts, "TX times never go back in one queue");
        assert!(ts + 5_000_000_000 >= before && ts <= after + 5_000_000_000);
        last_ts = ts;
        per_flow.entry(flow).or_default().push(s.seq);
        *per_vni.entry(f.vni).or_default() += 1;
    }
    assert_eq!(per_flow.len(), 8);
    for (flow, seqs) in &per_flow {
        assert_eq!(seqs, &(0..30).collect::<Vec<u64>>(), "flow {flow}");
    }
    assert_eq!(per_vni, BTreeMap::from([(11, 120), (22, 120)]));
    let vnis = r["vnis"].as_array().unwrap();
    assert_eq!(vnis[0]["vni"], 11);
    assert_eq!(vnis[0]["packets"], 120);
    let out = tshark_verbose(&cap);
    assert_eq!(
        out.matches("Virtual eXtensible Local Area Network").count(),
        240
    );
    assert_eq!(
        out.matches("Transmission Control Protocol, Src Port")
            .count(),
        60
    );
    assert_readable_by_tools(&cap);
}

#[test]
fn sizes_fixed_range_and_imix() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = |arg: &str, count: &str| -> Vec<usize> {
        let cap = dir.path().join(format!("{}.pcap", arg.replace('-', "_")));
        gen_ok(&[
            "gen",
            "--vdev",
            &format!("net_pcap0,tx_pcap={}", cap.display()),
            "--count",
            count,
            "--inner-size",
            arg,
            "--progress",
            "0",
        ]);
        read_pcap(&cap)
            .iter()
            .map(|f| take_apart(f).inner_len)
            .collect()
    };
    let imix = sizes("imix", "1200");
    assert_eq!(imix.len(), 1200);
    let n = |s: usize| imix.iter().filter(|&&x| x == s).count();
    assert_eq!((n(60), n(566), n(1514)), (700, 400, 100));

    let range = sizes("100-200", "500");
    assert_eq!(range.len(), 500);
    assert!(range.iter().all(|s| (100..=200).contains(s)));
    let distinct: std::collections::BTreeSet<_> = range.iter().collect();
    assert!(distinct.len() > 50, "drawn over the range: {distinct:?}");

    let jumbo = sizes("9019", "20");
    assert!(jumbo.iter().all(|&s| s == 9019));
    let small = sizes("60", "20");
    assert!(small.iter().all(|&s| s == 60));
}

#[test]
fn geneve_gwlb_and_vxlan6_decode_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for (encap, layer) in [
        ("gwlb", "Generic Network Virtualization Encapsulation"),
        ("vxlan6", "Internet Protocol Version 6"),
    ] {
        let cap = dir.path().join(format!("{encap}.pcap"));
        gen_ok(&[
            "gen",
            "--vdev",
            &format!("net_pcap0,tx_pcap={}", cap.display()),
            "--encap",
            encap,
            "--count",
            "60",
            "--proto",
            "mix",
            "--inner-size",
            "64-1514",
            "--vni",
            "4242",
            "--progress",
            "0",
        ]);
        let frames = read_pcap(&cap);
        assert_eq!(frames.len(), 60);
        for f in &frames {
            let t = take_apart(f);
            assert_eq!(t.vni, 4242, "{encap}");
        }
        let out = tshark_verbose(&cap);
        assert_eq!(out.matches(layer).count(), 60, "{encap}: {layer}");
        assert_eq!(
            out.matches("Virtual eXtensible Local Area Network").count(),
            60,
            "{encap}"
        );
        if encap == "vxlan6" {
            // The outer UDP checksum is mandatory over IPv6: computed, and tshark agrees.
            assert!(out.matches("[Checksum Status: Good]").count() >= 120);
        }
    }
}

#[test]
fn several_tx_queues_each_send_their_own_flows_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("q0.pcap"), dir.path().join("q1.pcap"));
    let rep = dir.path().join("r.json");
    gen_ok(&[
        "gen",
        "--vdev",
        &format!("net_pcap0,tx_pcap={},tx_pcap={}", a.display(), b.display()),
        "--tx-queues",
        "2",
        "--flows",
        "6",
        "--count",
        "601",
        "--rate",
        "50kpps",
        "--inner-size",
        "200",
        "--progress",
        "0",
        "--report-json",
        rep.to_str().unwrap(),
    ]);
    let r = report(&rep);
    assert_eq!(r["sent_packets"], 601);
    for (q, path) in [(0u32, &a), (1, &b)] {
        let frames: Vec<Frame> = read_pcap(path).iter().map(|f| take_apart(f)).collect();
        assert_eq!(frames.len(), [301, 300][q as usize]);
        assert_eq!(r["queues"][q as usize]["packets"], frames.len());
        let mut last_ts = 0;
        let mut next: BTreeMap<u32, u64> = BTreeMap::new();
        for f in &frames {
            let s = f.stamp.unwrap();
            let flow = s.flow.unwrap();
            assert_eq!(flow % 2, q, "flow {flow} on queue {q}");
            let want = next.entry(flow).or_insert(0);
            assert_eq!(s.seq, *want, "flow {flow}: contiguous from 0");
            *want += 1;
            assert!(s.tx_ns.unwrap() >= last_ts);
            last_ts = s.tx_ns.unwrap();
        }
        assert_eq!(next.len(), 3);
    }
}

#[test]
fn outer_options_vlans_and_truncation_reach_the_frames() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("t.pcap");
    gen_ok(&[
        "gen",
        "--vdev",
        &format!("net_pcap0,tx_pcap={}", cap.display()),
        "--count",
        "20",
        "--inner-size",
        "500",
        "--truncate",
        "100",
        "--outer-vlans",
        "2",
        "--inner-vlan",
        "7",
        "--outer-src-ip",
        "10.1.2.3",
        "--outer-dst-ip",
        "10.9.8.7",
        "--outer-dst-mac",
        "0e:11:22:33:44:55",
        "--vxlan-port",
        "4790",
        "--progress",
        "0",
    ]);
    let frames = read_pcap(&cap);
    assert_eq!(frames.len(), 20);
    let cfg = DecapConfig {
        vxlan_ports: vec![4790],
        ..DecapConfig::default()
    };
    for f in &frames {
        assert_eq!(&f[..6], &[0x0e, 0x11, 0x22, 0x33, 0x44, 0x55]);
        let d = decap(f, &cfg).expect("decapsulates on the chosen port");
        assert_eq!(d.meta.outer_vlans, 2);
        assert_eq!(
            d.meta.outer_src,
            "10.1.2.3".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!(
            d.meta.outer_dst,
            "10.9.8.7".parse::<std::net::IpAddr>().unwrap()
        );
        let inner = d.inner(f);
        assert_eq!(inner.len(), 100, "cut as AWS cuts");
        assert_eq!(&inner[12..16], &[0x81, 0x00, 0x00, 0x07]);
        assert_eq!(
            d.meta.truncated_by, 400,
            "the inner IP length still says 500"
        );
        // The stamp sits after the tagged headers (18 + 20 + 8 bytes).
        assert!(read_stamp(&inner[46..]).is_some());
    }
}

#[test]
fn noise_comes_on_top_of_the_count_and_decap_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("n.pcap");
    let rep = dir.path().join("r.json");
    gen_ok(&[
        "gen",
        "--vdev",
        &format!("net_pcap0,tx_pcap={}", cap.display()),
        "--count",
        "70",
        "--noise-every",
        "10",
        "--burst",
        "8",
        "--inner-size",
        "128",
        "--progress",
        "0",
        "--report-json",
        rep.to_str().unwrap(),
    ]);
    let frames = read_pcap(&cap);
    assert_eq!(
        frames.len(),
        77,
        "70 mirrored, a noise frame after every 10th"
    );
    let r = report(&rep);
    assert_eq!(r["sent_packets"], 77);
    assert_eq!(r["noise_packets"], 7);
    for (n, f) in frames.iter().enumerate() {
        let is_noise = n % 11 == 10;
        assert_eq!(
            decap(f, &DecapConfig::default()).is_err(),
            is_noise,
            "frame {n}"
        );
    }
}

#[test]
fn several_queues_over_net_null_account_for_every_packet() {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let err = gen_ok(&[
        "gen",
        "--vdev",
        "net_null0",
        "--tx-queues",
        "2",
        "--count",
        "100001",
        "--inner-size",
        "imix",
        "--progress",
        "0",
        "--report-json",
        rep.to_str().unwrap(),
    ]);
    let r = report(&rep);
    assert_eq!(r["sent_packets"], 100_001);
    let q = r["queues"].as_array().unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0]["packets"], 50_001);
    assert_eq!(q[1]["packets"], 50_000);
    let vni_sum: u64 = r["vnis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(vni_sum, 100_001);
    assert_eq!(
        r["wire_bits"].as_u64().unwrap(),
        (r["bytes"].as_u64().unwrap() + 24 * 100_001) * 8
    );
    let line = err
        .lines()
        .find(|l| l.contains("gen sent"))
        .expect("final line");
    assert_eq!(number_after(line, "gen sent "), 100_001);
}

/// A network namespace with a veth pair (vga ↔ vgb), deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("mcgen{}", std::process::id());
        let ns = Netns(name.clone());
        let sh = |args: &[&str]| {
            let (ok, _, err) = tool("ip", args);
            assert!(ok, "ip {args:?}: {err}");
        };
        sh(&["netns", "add", &name]);
        let ex = |args: &[&str]| {
            let mut v = vec!["netns", "exec", &name];
            v.extend_from_slice(args);
            sh(&v);
        };
        // No IPv6 neighbour discovery or router solicitations on the pair.
        ex(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ex(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        ex(&[
            "ip", "link", "add", "vga", "mtu", "9100", "type", "veth", "peer", "name", "vgb",
            "mtu", "9100",
        ]);
        ex(&["ip", "link", "set", "vga", "up"]);
        ex(&["ip", "link", "set", "vgb", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = tool("ip", &["netns", "del", &self.0]);
    }
}

#[test]
fn af_packet_puts_the_frames_on_a_veth_where_tcpdump_sees_them() {
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("veth.pcap");
    let mut dump = std::process::Command::new("ip")
        .args([
            "netns", "exec", &ns.0, "tcpdump", "-i", "vgb", "-U", "-c", "50", "-w",
        ])
        .arg(&cap)
        .args(["udp", "port", "4789"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tcpdump");
    // tcpdump says "listening on" once its socket is open.
    let mut err = std::io::BufReader::new(dump.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("listening on vgb"), "{line}");
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            bin(),
            "gen",
            "--vdev",
            "net_af_packet0,iface=vga",
        ])
        .args([
            "--count",
            "50",
            "--inner-size",
            "1500",
            "--vni",
            "9",
            "--progress",
            "0",
        ])
        .output()
        .expect("gen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = dump.wait().expect("tcpdump exits after 50 packets");
    assert!(status.success());
    let frames = read_pcap(&cap);
    assert_eq!(frames.len(), 50);
    for f in &frames {
        let t = take_apart(f);
        assert_eq!((t.vni, t.inner_len), (9, 1500));
    }
}
