//! `mirrorcap export --from/--to`: the selection equals the full export filtered by capture
//! time, whatever form the times take, and segments outside the range are skipped by their
//! index without being read.
mod support;
use mirrorcap_ring::{Geometry, RingWriter};
use support::*;

const BASE: u64 = 1_795_599_000_000_000_000; // 2026-11-25T09:30:00Z

/// A ring of 8 segments of 1 MiB holding 6 segments' worth of records 1 ms apart.
fn ring_with_records(dir: &std::path::Path) -> u64 {
    let g = Geometry {
        segments: 8,
        segment_size: 1 << 20,
    };
    let (mut w, _) = RingWriter::open(dir, 0, g).unwrap();
    let mut n = 0u64;
    while w.stats.segments_sealed < 6 {
        let mut frame = vec![0u8; 60 + (n % 1400) as usize];
        frame[..8].copy_from_slice(&n.to_be_bytes());
        assert!(w.write(BASE + n * 1_000_000, &frame, frame.len() as u32));
        n += 1;
        if n.is_multiple_of(32) {
            w.commit();
        }
    }
    w.close().unwrap();
    n
}

fn export(ring: &std::path::Path, extra: &[&str]) -> (Vec<Vec<u8>>, String) {
    let out = ring.parent().unwrap().join(format!(
        "out-{}.pcap",
        extra.join("_").replace([':', '/'], "")
    ));
    let err = export_ring(ring, &out, extra);
    assert_readable_by_tools(&out);
    (read_pcap(&out), err)
}

fn seq(f: &[u8]) -> u64 {
    u64::from_be_bytes(f[..8].try_into().unwrap())
}

#[test]
fn time_range_matches_the_filtered_full_export() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let n = ring_with_records(&ring);
    let (all, _) = export(&ring, &[]);
    assert_eq!(all.len() as u64, n);
    let ts = |i: u64| BASE + i * 1_000_000;
    // Records [a, b] by index, and the same range written three ways.
    let (a, b) = (n / 3, n / 3 + n / 10);
    let unix = |t: u64| format!("@{}.{:09}", t / 1_000_000_000, t % 1_000_000_000);
    let rfc = |t: u64| {
        let ms = (t - BASE) / 1_000_000;
        format!(
            "2026-11-25T09:{:02}:{:02}.{:03}Z",
            30 + ms / 60_000,
            (ms / 1000) % 60,
            ms % 1000
        )
    };
    let rfc_offset = |t: u64| {
        let ms = (t - BASE) / 1_000_000;
        format!(
            "2026-11-25T11:{:02}:{:02}.{:03}+02:00",
            30 + ms / 60_000,
            (ms / 1000) % 60,
            ms % 1000
        )
    };
    let want: Vec<&Vec<u8>> = all.iter().filter(|f| (a..=b).contains(&seq(f))).collect();
    assert!(want.len() > 100);
    for (from, to) in [
        (unix(ts(a)), unix(ts(b))),
        (rfc(ts(a)), rfc(ts(b))),
        (rfc_offset(ts(a)), rfc_offset(ts(b))),
    ] {
        let (got, err) = export(&ring, &["--from", &from, "--to", &to]);
        assert_eq!(got.len(), want.len(), "--from {from} --to {to}");
        assert!(
            got.iter().zip(&want).all(|(g, w)| g == *w),
            "--from {from} --to {to}: same records"
        );
        assert!(
            err.contains("skipped by time index"),
            "a narrow range reads few segments: {err}"
        );
    }
    // Open-ended ranges.
    let (tail, _) = export(&ring, &["--from", &unix(ts(n - 10))]);
    assert_eq!(
        tail.iter().map(|f| seq(f)).collect::<Vec<_>>(),
        (n - 10..n).collect::<Vec<_>>()
    );
    let (head, _) = export(&ring, &["--to", &unix(ts(9))]);
    assert_eq!(
        head.iter().map(|f| seq(f)).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    // A range in the future holds nothing; relative times parse.
    let (none, _) = export(&ring, &["--from", "-1m"]);
    assert!(none.is_empty());
}

#[test]
fn bad_times_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    ring_with_records(&ring);
    for (args, needle) in [
        (vec!["--from", "yesterday"], "--from"),
        (vec!["--to", "2026-13-01T00:00:00Z"], "--to"),
        (
            vec!["--from", "@1795599100", "--to", "@1795599000"],
            "--from is after --to",
        ),
    ] {
        let mut a = vec!["export", ring.to_str().unwrap(), "-w", "/dev/null"];
        a.extend_from_slice(&args);
        let (st, err) = mirrorcap(&a);
        assert_eq!(st.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn stop_policy_keeps_the_oldest_data_and_counts_ring_full() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        dir.path(),
        "in.pcap",
        &["--count", "500", "--inner-size", "1000-1500"],
    );
    let ring = dir.path().join("ring");
    let app = Appliance::looping(&input, &ring, 3, &["--ring-policy", "stop"]);
    let m = app.scrape_until(std::time::Duration::from_secs(30), |m| {
        metric(
            m,
            "mirrorcap_dropped_packets_total",
            &[("reason", "ring_full")],
        )
        .is_some_and(|v| v > 10_000.0)
    });
    app.signal("TERM");
    let (st, err) = app.wait(std::time::Duration::from_secs(10));
    assert!(st.success(), "{err}");
    assert!(
        metric(
            &m,
            "mirrorcap_dropped_packets_total",
            &[("reason", "ring_full")]
        )
        .unwrap()
            > 10_000.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "mirrorcap_ring_segments_overwritten_total", &[]),
        Some(0.0)
    );
    let captured = metric(&m, "mirrorcap_captured_packets_total", &[]).unwrap();
    // The ring holds the first packets, in order: the replayed file's sequence numbers from 0.
    let (all, _) = export(&ring, &[]);
    assert_eq!(all.len() as f64, captured, "nothing captured was lost");
    for (i, f) in all.iter().enumerate() {
        assert_eq!(
            u64::from_be_bytes(f[42..50].try_into().unwrap()),
            i as u64 % 500,
            "record {i}"
        );
    }
    for s in 0..3 {
        assert_readable_by_tools(&ring.join(format!("worker-00/seg-00{s}.pcap")));
    }
}
