//! Mirror sessions through the real appliance (`run --config`, net_pcap, one worker): what each
//! session captures equals what tcpdump selects with the same expression from the inner frames
//! of an unfiltered capture (computed independently), with its VNI, snaplen and 1-in-N
//! sampling applied; per-session counters and drop reasons account for every packet;
//! de-duplication drops exactly the copies mirrored twice; session names reach pcapng.
mod support;
use std::path::Path;
use std::time::Duration;
use support::*;

const VNIS: [u32; 3] = [100, 200, 300];
const WEB: &str = "src host 192.0.2.5 or len > 1200";
const DB: &str = "src net 192.0.2.0/28 and udp src portrange 10000-10010";
const OTHER: &str = "len < 200";

/// The generator's VNI for a captured inner frame (sequence number at byte 42).
fn vni_of(frame: &[u8]) -> u32 {
    VNIS[(u64::from_be_bytes(frame[42..50].try_into().unwrap()) % 3) as usize]
}

fn run_with_config(input: &Path, config: &str, dir: &Path) -> (std::path::PathBuf, String) {
    let cfg = dir.join("mirrorcap.toml");
    std::fs::write(&cfg, config).unwrap();
    let ring = dir.join("ring");
    let total = read_pcap(input).len() as f64;
    let app = Appliance::on_pcap(
        input,
        &ring,
        false,
        8,
        &["--config", cfg.to_str().unwrap(), "--exit-when-idle", "2s"],
    );
    let m = app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_rx_packets_total", &[]) == Some(total)
    });
    let (st, err) = app.wait(Duration::from_secs(30));
    assert!(st.success(), "{err}");
    (ring, m)
}

fn session_metric(m: &str, session: &str, outcome: &str) -> f64 {
    metric(
        m,
        "mirrorcap_session_packets_total",
        &[("session", session), ("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

#[test]
fn sessions_capture_what_tcpdump_selects_from_the_inner_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        tmp.path(),
        "in.pcap",
        &[
            "--count",
            "4000",
            "--vni",
            "100",
            "--vni",
            "200",
            "--vni",
            "300",
            "--inner-size",
            "60-1500",
        ],
    );
    // The reference: everything, unfiltered.
    let reference = replay(&input, &[]);
    assert_eq!(
        reference.records.len(),
        4000,
        "the reference ring holds every frame"
    );
    let sel = |expr: &str| tcpdump_selects(&reference.export, expr, tmp.path());
    let (web_sel, db_sel, other_sel) = (sel(WEB), sel(DB), sel(OTHER));
    let web: Vec<Vec<u8>> = web_sel.into_iter().filter(|f| vni_of(f) == 100).collect();
    let db_all: Vec<Vec<u8>> = db_sel.into_iter().filter(|f| vni_of(f) == 200).collect();
    let other: Vec<Vec<u8>> = other_sel.into_iter().filter(|f| vni_of(f) == 300).collect();
    // db keeps every 2nd frame its filter selects, cut to 100 bytes.
    let db: Vec<&Vec<u8>> = db_all.iter().skip(1).step_by(2).collect();
    assert!(
        web.len() > 100 && db.len() > 10 && other.len() > 50,
        "{} {} {}",
        web.len(),
        db.len(),
        other.len()
    );

    let config = format!(
        r#"
[default]
filter = "{OTHER}"

[[session]]
name = "web"
vni = 100
filter = "{WEB}"

[[session]]
name = "db"
vni = [200]
filter = "{DB}"
sample = 2
snaplen = 100

[[session]]
name = "never"
vni = 200
source = ["198.18.0.0/15"]
"#
    );
    let (ring, m) = run_with_config(&input, &config, tmp.path());
    let out = tmp.path().join("sessions.pcapng");
    export_ring(&ring, &out, &["--format", "pcapng"]);
    assert_readable_by_tools(&out);
    let got = read_pcapng(&out);
    let mut want: Vec<(String, Vec<u8>, u32)> = Vec::new();
    // Reference order is arrival order (one worker): merge the three selections by it.
    for (f, _) in &reference.records {
        if web.contains(f) {
            want.push(("web".into(), f.clone(), f.len() as u32));
        } else if db.contains(&f) {
            want.push(("db".into(), f[..100.min(f.len())].to_vec(), f.len() as u32));
        } else if other.contains(f) {
            want.push(("vni-300".into(), f.clone(), f.len() as u32));
        }
    }
    assert_eq!(got.len(), want.len(), "captured count");
    for (i, (g, (iface, data, orig))) in got.iter().zip(&want).enumerate() {
        assert_eq!(&g.interface, iface, "record {i}");
        assert_eq!(&g.data, data, "record {i}");
        assert_eq!(g.orig_len, *orig, "record {i}");
    }

    // Counters: per session and per drop reason, every packet accounted for.
    let n = |vni: u32| {
        reference
            .records
            .iter()
            .filter(|(f, _)| vni_of(f) == vni)
            .count() as f64
    };
    assert_eq!(session_metric(&m, "web", "captured"), web.len() as f64);
    assert_eq!(
        session_metric(&m, "web", "filtered"),
        n(100) - web.len() as f64
    );
    assert_eq!(session_metric(&m, "db", "captured"), db.len() as f64);
    assert_eq!(
        session_metric(&m, "db", "sampled_out"),
        (db_all.len() - db.len()) as f64
    );
    assert_eq!(
        session_metric(&m, "default", "captured"),
        other.len() as f64
    );
    assert_eq!(
        metric(
            &m,
            "mirrorcap_session_matched_packets_total",
            &[("session", "db")]
        ),
        Some(n(200))
    );
    assert_eq!(
        metric(
            &m,
            "mirrorcap_session_matched_packets_total",
            &[("session", "never")]
        ),
        None
    );
    let drops = |r: &str| metric(&m, "mirrorcap_dropped_packets_total", &[("reason", r)]).unwrap();
    let captured = metric(&m, "mirrorcap_captured_packets_total", &[]).unwrap();
    assert_eq!(captured, want.len() as f64);
    assert_eq!(
        drops("filtered"),
        (n(100) - web.len() as f64)
            + (n(200) - db_all.len() as f64)
            + (n(300) - other.len() as f64)
    );
    assert_eq!(drops("sampled_out"), (db_all.len() - db.len()) as f64);
    assert_eq!(captured + drops("filtered") + drops("sampled_out"), 4000.0);
}

#[test]
fn dedup_drops_exactly_the_copies_mirrored_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let base = gen_fixture(tmp.path(), "base.pcap", &["--count", "2000", "--vni", "7"]);
    // Every 4th frame arrives a second time as the other ENI mirrors it: another outer source,
    // inner MACs rewritten by the VPC router, TTL one lower, another IP checksum.
    let frames = read_pcap(&base);
    let input = tmp.path().join("twice.pcap");
    let mut w = pcap_file::pcap::PcapWriter::with_header(
        std::fs::File::create(&input).unwrap(),
        pcap_file::pcap::PcapHeader {
            datalink: pcap_file::DataLink::ETHERNET,
            ts_resolution: pcap_file::TsResolution::NanoSecond,
            ..Default::default()
        },
    )
    .unwrap();
    let mut copies = 0;
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_micros(i as u64);
        w.write_packet(&pcap_file::pcap::PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
        if i % 4 == 0 {
            let mut c = f.clone();
            c[26..30].copy_from_slice(&[10, 9, 9, 9]); // outer source (its checksum is not checked)
            let inner = 50;
            c[inner..inner + 12].copy_from_slice(&[2, 0, 0, 0, 9, 9, 2, 0, 0, 0, 8, 8]);
            c[inner + 14 + 8] -= 1; // TTL
            c[inner + 14 + 10] ^= 0x5a; // IPv4 header checksum
            w.write_packet(&pcap_file::pcap::PcapPacket::new(ts, c.len() as u32, &c))
                .unwrap();
            copies += 1;
        }
    }
    drop(w);
    let config = "[[session]]\nname = \"both-ends\"\nvni = 7\ndedup = \"50ms\"\n";
    let (ring, m) = run_with_config(&input, config, tmp.path());
    assert_eq!(session_metric(&m, "both-ends", "duplicate"), copies as f64);
    assert_eq!(session_metric(&m, "both-ends", "captured"), 2000.0);
    let out = tmp.path().join("out.pcap");
    export_ring(&ring, &out, &[]);
    let got = read_pcap(&out);
    let want: Vec<Vec<u8>> = frames.iter().map(|f| f[50..].to_vec()).collect();
    assert!(
        got == want,
        "the first copy of each frame is kept, in order"
    );
}

#[test]
fn check_config_prints_a_configuration_that_reads_back_and_refuses_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("m.toml");
    let printed = check_config(
        tmp.path(),
        "m.toml",
        "[run]\nworkers = 2\nsegment_size = \"8MiB\"\n\n[[session]]\nname = \"web\"\nvni = [1, 2]\nfilter = \"tcp port 443\"\ndedup = \"1500us\"\n",
    );
    assert!(
        printed.contains("workers = 2") && printed.contains("name = \"web\""),
        "{printed}"
    );
    assert_eq!(
        check_config(tmp.path(), "again.toml", &printed),
        printed,
        "the printed configuration is a fixed point"
    );

    for (text, needle) in [
        (
            "[run]\nworkers = 0\n",
            ":2: run.workers: 0: must be 1 to 64",
        ),
        ("[run]\nsegmnets = 3\n", ":2: run.segmnets: unknown field"),
        ("[run]\nsegment_size = \"12XB\"\n", ":2: run.segment_size:"),
        ("[run]\nring_policy = \"keep\"\n", ":2: run.ring_policy:"),
        (
            "[run]\nmetrics_addr = \"localhost\"\n",
            ":2: run.metrics_addr:",
        ),
        (
            "[[session]]\nname = \"a\"\nvni = 1\nfilter = \"tcp prot 80\"\n",
            ":4: session[0].filter:",
        ),
        (
            "[[session]]\nname = \"a b\"\nvni = 1\n",
            ":2: session[0].name:",
        ),
        ("[default]\naction = \"keep\"\n", ":2: default.action:"),
        ("not toml at all", ":1:"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let (st, err) = mirrorcap(&["check-config", cfg.to_str().unwrap()]);
        assert_eq!(st.code(), Some(2), "{text}: {err}");
        assert_eq!(err.lines().count(), 1, "{text}: {err}");
        assert!(err.contains(needle), "{text}: {err}");
        let (st, err2) = mirrorcap(&[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--vdev",
            "net_null0",
        ]);
        assert_eq!(st.code(), Some(2), "run --config {text}: {err2}");
        assert_eq!(err2, err, "run refuses it the same way");
    }
}

#[test]
fn sighup_reloads_sessions_under_load_keeping_every_packet_accounted_for() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        tmp.path(),
        "in.pcap",
        &[
            "--count", "3000", "--vni", "100", "--vni", "200", "--vni", "300",
        ],
    );
    let cfg = tmp.path().join("m.toml");
    let a = "[default]\naction = \"drop\"\n\n[[session]]\nname = \"a100\"\nvni = 100\n";
    let b = "[default]\naction = \"drop\"\n\n[[session]]\nname = \"b200\"\nvni = 200\nfilter = \"len > 500\"\nsample = 3\n";
    std::fs::write(&cfg, a).unwrap();
    let ring = tmp.path().join("ring");
    let app = Appliance::looping(
        &input,
        &ring,
        64,
        &["--config", cfg.to_str().unwrap(), "--mbufs", "8191"],
    );
    let reloads = |n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while app.stderr().matches("mirrorcap: reloaded").count() < n {
            assert!(std::time::Instant::now() < deadline, "{}", app.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let captured = || {
        metric(
            &app.get("/metrics").1,
            "mirrorcap_captured_packets_total",
            &[],
        )
        .unwrap_or(0.0)
    };
    app.scrape_until(Duration::from_secs(30), |m| {
        metric(m, "mirrorcap_captured_packets_total", &[]).is_some_and(|v| v > 20_000.0)
    });
    for i in 1..=6 {
        std::fs::write(&cfg, if i % 2 == 1 { b } else { a }).unwrap();
        app.signal("HUP");
        reloads(i);
        let before = captured();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while captured() < before + 5_000.0 {
            assert!(
                std::time::Instant::now() < deadline,
                "capture goes on after reload {i}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A bad file: refused with its line, the running sessions kept.
    std::fs::write(
        &cfg,
        "[[session]]\nname = \"x\"\nvni = 1\nfilter = \"tcp prot 1\"\n",
    )
    .unwrap();
    app.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !app.stderr().contains("reload failed") {
        assert!(std::time::Instant::now() < deadline, "{}", app.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let m = app.scrape_until(Duration::from_secs(5), |_| true);
    // A last switch to the other configuration just before stopping: the ring keeps only its
    // newest segments, so its records of both configurations must come from around this one
    // transition (capture ran on under the first for an unknown time meanwhile). A few
    // thousand records of the second fit well inside the ring, so records from before the
    // switch remain.
    std::fs::write(&cfg, b).unwrap();
    app.signal("HUP");
    reloads(7);
    let before = captured();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while captured() < before + 2_000.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "capture goes on after the last reload"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    app.signal("TERM");
    let (st, err) = app.wait(Duration::from_secs(20));
    assert!(st.success(), "{err}");
    assert!(
        err.contains("reload failed, keeping the running sessions: ")
            && err.contains("m.toml:4: session[0].filter:"),
        "{err}"
    );
    let (rx, cap, drops) = stop_line(&err);
    assert!(rx > 100_000, "{err}");
    assert_eq!(
        rx,
        cap + drops,
        "every packet captured or counted as a drop: {err}"
    );
    for (s, o) in [
        ("a100", "captured"),
        ("b200", "captured"),
        ("b200", "filtered"),
        ("b200", "sampled_out"),
        ("default", "dropped"),
    ] {
        assert!(session_metric(&m, s, o) > 0.0, "{s} {o}: {m}");
    }
    // Records name their session.
    let out = tmp.path().join("all.pcapng");
    export_ring(&ring, &out, &["--format", "pcapng"]);
    let got = read_pcapng(&out);
    let mut seen = std::collections::BTreeSet::new();
    for p in &got {
        let want = match vni_of(&p.data) {
            100 => "a100",
            200 => "b200",
            v => panic!("VNI {v} is dropped by both configurations"),
        };
        assert_eq!(p.interface, want);
        seen.insert(p.interface.clone());
    }
    assert_eq!(
        seen.len(),
        2,
        "the ring holds records of both configurations"
    );
}
