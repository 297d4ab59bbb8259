//! Running one row: the oracle's decision per packet, the library on the same bytes, the real
//! binary on a net_pcap vdev (scraped while it runs), and the export; every mismatch collected.
use super::*;
use crate::support::*;
use mirrorcap::pipeline::Drop;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// The test of one row: every mismatch at once.
pub fn check(file: &str, args: &[&str]) {
    let row = ROWS
        .iter()
        .find(|r| r.file == file && r.args == args)
        .unwrap_or_else(|| panic!("no row for {file} {args:?}"));
    let rep = run_row(row);
    assert!(
        rep.failures.is_empty(),
        "{file} {args:?}: {} mismatch(es):\n  {}",
        rep.failures.len(),
        rep.failures.join("\n  ")
    );
}

/// Run-level counts, as the oracle predicts them or as /metrics shows them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub captured: u64,
    pub captured_bytes: u64,
    /// Non-zero drop counters by reason label.
    pub drops: BTreeMap<String, u64>,
    pub truncated: u64,
    pub reserved_bits: u64,
    /// VNI → (captured frames, truncated frames).
    pub vnis: BTreeMap<u32, (u64, u64)>,
}

pub struct Report {
    pub observed: Summary,
    pub failures: Vec<String>,
}

/// Records `what` as a failure unless `got == want`.
pub fn expect_eq<T: PartialEq + Debug>(
    f: &mut Vec<String>,
    what: impl AsRef<str>,
    got: T,
    want: T,
) {
    if got != want {
        f.push(format!(
            "{}: mirrorcap {got:?}, expected {want:?}",
            what.as_ref()
        ));
    }
}

pub fn run_row(row: &Row) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let input = if row.gen.is_empty() {
        corpus(row.file)
    } else {
        let p = dir.path().join(row.file);
        let (gen, snaplen) = match row.gen {
            [g @ .., s, n] if *s == SNAPLEN => (g, Some(n.parse::<usize>().unwrap())),
            g => (g, None),
        };
        let mut a = vec!["gen", "-w", p.to_str().unwrap()];
        a.extend_from_slice(gen);
        let (st, err) = mirrorcap(&a);
        assert!(st.success(), "mirrorcap {a:?}: {err}");
        if let Some(n) = snaplen {
            cut_records(&p, n);
        }
        p
    };
    assert!(input.exists(), "{} is missing", input.display());
    let cfg = Config::from_args(row.args);
    let mut f = Vec::new();

    // 1. The oracle's decision for every packet.
    let packets = read_capture(&input);
    let dissections = pdml(&input, &cfg.decode_as());
    assert_eq!(
        dissections.len(),
        packets.len(),
        "{}: tshark and pcap-file disagree on the packet count",
        row.file
    );
    let mut decisions = Vec::new();
    for (i, (d, bytes)) in dissections.iter().zip(&packets).enumerate() {
        assert_eq!(
            d.cap_len,
            bytes.data.len(),
            "{} #{}: captured length",
            row.file,
            i + 1
        );
        let o = Oracle {
            d,
            cfg: &cfg,
            ctx: format!("{} packet #{}", row.file, i + 1),
        };
        let decided = o.decap();
        // 2. The library's decap agrees packet by packet (metrics only give counts).
        check_library(&mut f, &o.ctx, &bytes.data, &cfg, &decided);
        decisions.push((o.pipeline(decided.clone()), decided));
    }
    let expected = expected_summary(&packets, &decisions);

    // 3. The real binary on a net_pcap vdev, scraped while it runs.
    let ring = dir.path().join("ring");
    let out = dir.path().join("out.pcap");
    let mut run_args = vec!["--exit-when-idle", "1s"];
    run_args.extend_from_slice(row.args);
    let app = Appliance::on_pcap(&input, &ring, false, 2, &run_args);
    let n = packets.len() as u64;
    let scrape = scrape_settled(&app, n, Duration::from_secs(30));
    let observed = observed_summary(&scrape);
    let (st, stderr) = app.wait(Duration::from_secs(30));
    assert!(
        st.success(),
        "{}: mirrorcap run failed:\n{stderr}",
        row.file
    );
    if observed.rx_packets != n {
        f.push(format!(
            "scrape never showed all {n} packets received and decided; last scrape: rx {} captured {} drops {:?}; stderr:\n{stderr}",
            observed.rx_packets, observed.captured, observed.drops
        ));
    }
    let summary_line = format!(
        "received {} packets, captured {} (",
        observed.rx_packets, observed.captured
    );
    if !stderr.contains(&summary_line) {
        f.push(format!(
            "the exit summary does not match the last scrape ({summary_line}...):\n{stderr}"
        ));
    }
    compare_summaries(&mut f, &observed, &expected);
    check_hand(&mut f, &observed, &row.hand);

    // 4. The exported frames, one by one, against the oracle and tshark.
    export_ring(&ring, &out, &[]);
    assert_readable_by_tools(&out);
    let exported = read_capture(&out);
    let exported_dissections = pdml(&out, &[]);
    assert_eq!(exported.len(), exported_dissections.len());
    let captured: Vec<(usize, &Frame)> = decisions
        .iter()
        .enumerate()
        .filter_map(|(i, (p, _))| p.as_ref().ok().map(|fr| (i, fr)))
        .collect();
    expect_eq(&mut f, "exported records", exported.len(), captured.len());
    for ((i, fr), (rec, out_d)) in captured
        .iter()
        .zip(exported.iter().zip(&exported_dissections))
    {
        let ctx = format!("packet #{} (exported #{})", i + 1, out_d.number);
        check_exported(
            &mut f,
            &ctx,
            fr,
            &packets[*i].data,
            &dissections[*i],
            rec,
            out_d,
        );
    }
    Report {
        observed,
        failures: f,
    }
}

/// Polls /metrics until every packet is received and decided (captured or dropped), keeping the
/// last answered scrape (the process stops itself 1 s after the last packet).
pub fn scrape_settled(app: &Appliance, n: u64, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let (code, body) = app.get("/metrics");
        if code == 200 {
            let s = observed_summary(&body);
            let decided = s.captured + s.drops.values().sum::<u64>();
            last = body;
            if s.rx_packets == n && decided == n {
                return last;
            }
        }
        if Instant::now() > deadline {
            return last;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn m(text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    metric(text, name, labels).unwrap_or(0.0) as u64
}

/// Every sample of `name` by the value of `label` (summed over the other labels).
pub fn by_label(text: &str, name: &str, label: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let key = format!("{label}=\"");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((n, labels)) = series.split_once('{') else {
            continue;
        };
        if n != name {
            continue;
        }
        let Some(start) = labels.find(&key) else {
            continue;
        };
        let v = &labels[start + key.len()..];
        let v = &v[..v.find('"').unwrap_or(v.len())];
        *out.entry(v.to_string()).or_insert(0) += value.parse::<f64>().unwrap_or(0.0) as u64;
    }
    out
}

pub fn observed_summary(text: &str) -> Summary {
    let mut drops = BTreeMap::new();
    for d in Drop::ALL {
        let l = d.label();
        let v = m(text, "mirrorcap_dropped_packets_total", &[("reason", l)]);
        if v > 0 {
            drops.insert(l.to_string(), v);
        }
    }
    let trunc = by_label(text, "mirrorcap_vni_truncated_packets_total", "vni");
    let vnis = by_label(text, "mirrorcap_vni_captured_packets_total", "vni")
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| {
            let t = trunc.get(&k).copied().unwrap_or(0);
            (k.parse::<u32>().unwrap_or(u32::MAX), (v, t))
        })
        .collect();
    Summary {
        rx_packets: m(text, "mirrorcap_rx_packets_total", &[]),
        rx_bytes: m(text, "mirrorcap_rx_bytes_total", &[]),
        captured: m(text, "mirrorcap_captured_packets_total", &[]),
        captured_bytes: m(text, "mirrorcap_captured_bytes_total", &[]),
        drops,
        truncated: m(text, "mirrorcap_truncated_packets_total", &[]),
        reserved_bits: m(text, "mirrorcap_vxlan_reserved_nonzero_packets_total", &[]),
        vnis,
    }
}

pub fn expected_summary(packets: &[Record], decisions: &[(Decision, Decision)]) -> Summary {
    let mut s = Summary {
        rx_packets: packets.len() as u64,
        rx_bytes: packets.iter().map(|p| p.data.len() as u64).sum(),
        ..Summary::default()
    };
    for (p, _) in decisions {
        match p {
            Ok(fr) => {
                s.captured += 1;
                s.captured_bytes += fr.exported_len() as u64;
                let t = (fr.truncated_by > 0) as u64;
                s.truncated += t;
                s.reserved_bits += fr.reserved_bits as u64;
                let e = s.vnis.entry(fr.vni).or_default();
                e.0 += 1;
                e.1 += t;
            }
            Err(d) => *s.drops.entry(d.reason.to_string()).or_default() += 1,
        }
    }
    s
}

pub fn compare_summaries(f: &mut Vec<String>, got: &Summary, want: &Summary) {
    let known: Vec<&str> = Drop::ALL.iter().map(|d| d.label()).collect();
    for r in want.drops.keys() {
        if !known.contains(&r.as_str()) {
            f.push(format!(
                "oracle reason {r} is not a mirrorcap drop reason {known:?}"
            ));
        }
    }
    expect_eq(f, "rx packets", got.rx_packets, want.rx_packets);
    expect_eq(f, "rx bytes", got.rx_bytes, want.rx_bytes);
    expect_eq(f, "captured packets", got.captured, want.captured);
    expect_eq(f, "captured bytes", got.captured_bytes, want.captured_bytes);
    expect_eq(f, "drops by reason", &got.drops, &want.drops);
    expect_eq(
        f,
        "truncated packets (inner IP or innermost UDP length beyond the bytes present)",
        got.truncated,
        want.truncated,
    );
    expect_eq(
        f,
        "VXLAN reserved-bit packets",
        got.reserved_bits,
        want.reserved_bits,
    );
    expect_eq(f, "per-VNI (captured, truncated)", &got.vnis, &want.vnis);
}

pub fn check_hand(f: &mut Vec<String>, got: &Summary, hand: &Hand) {
    let drops: BTreeMap<String, u64> = hand
        .drops
        .iter()
        .map(|(r, n)| (r.to_string(), *n))
        .collect();
    let vnis: BTreeMap<u32, u64> = hand.vnis.iter().copied().collect();
    let got_vnis: BTreeMap<u32, u64> = got.vnis.iter().map(|(k, v)| (*k, v.0)).collect();
    expect_eq(f, "hand-checked: captured", got.captured, hand.captured);
    expect_eq(f, "hand-checked: drops", &got.drops, &drops);
    if let Some(t) = hand.truncated {
        expect_eq(f, "hand-checked: truncated", got.truncated, t);
    }
    expect_eq(f, "hand-checked: VNIs", &got_vnis, &vnis);
    expect_eq(
        f,
        "hand-checked: reserved bits",
        got.reserved_bits,
        hand.reserved_bits,
    );
}
