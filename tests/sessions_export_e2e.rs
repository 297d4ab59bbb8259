//! The mirror session of every captured frame is kept beside it in the ring (the segment's
//! index) and selects what `export --vni` returns; `export --format pcapng` shows each session
//! as its own interface. Checked against the generator's own assignment of VNIs (frame `seq`
//! goes to VNI `[100, 200, 300][seq % 3]`), after a real DPDK replay.
mod support;
use support::*;

const VNIS: [u32; 3] = [100, 200, 300];

/// The VNI the generator gave a captured frame (None for noise captured untagged).
fn generated_vni(frame: &[u8]) -> Option<u32> {
    (frame.len() >= 54 && &frame[50..54] == b"MCAP").then(|| {
        let seq = u64::from_be_bytes(frame[42..50].try_into().unwrap());
        VNIS[(seq % 3) as usize]
    })
}

#[test]
fn export_by_vni_and_pcapng_sessions_match_the_generator() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen_fixture(
        tmp.path(),
        "in.pcap",
        &[
            "--count",
            "3000",
            "--vni",
            "100",
            "--vni",
            "200",
            "--vni",
            "300",
            "--noise-every",
            "10",
        ],
    );
    let r = replay(&input, &["--keep-unencapsulated"]);
    let ring = r.dir.path().join("ring");
    let all = &r.records;
    assert_eq!(
        all.iter()
            .filter(|(d, _)| generated_vni(d).is_some())
            .count(),
        3000
    );
    let untagged = all.len() - 3000;
    assert!(untagged > 0, "noise captured as is");

    // pcapng: one interface per session, each frame on its session's interface, same bytes
    // and lengths as the pcap export, in the same order.
    let ng = tmp.path().join("all.pcapng");
    let err = export_ring(&ring, &ng, &["--format", "pcapng"]);
    assert!(err.contains("4 session interface(s)"), "{err}");
    assert_readable_by_tools(&ng);
    let packets = read_pcapng(&ng);
    assert_eq!(packets.len(), all.len());
    for (i, (p, (data, orig))) in packets.iter().zip(all).enumerate() {
        assert_eq!((&p.data, p.orig_len), (data, *orig), "packet {i}");
        let want = generated_vni(data).map_or("untagged".to_string(), |v| format!("vni-{v}"));
        assert_eq!(p.interface, want, "packet {i}");
    }
    // Wireshark's own reading: interface names and nanosecond timestamps equal the pcap's.
    let ng_rows = tshark_fields(&ng, None, &["frame.interface_name", "frame.time_epoch"]);
    let pcap_rows = tshark_fields(&r.export, None, &["frame.time_epoch"]);
    assert_eq!(ng_rows.len(), all.len());
    for (i, ((row, prow), p)) in ng_rows.iter().zip(&pcap_rows).zip(&packets).enumerate() {
        assert_eq!(row[0], p.interface, "packet {i}");
        assert_eq!(row[1], prow[0], "packet {i}: timestamp");
    }

    // --vni selections equal the full export filtered by the generator's VNI.
    for sel in [vec![200u32], vec![100, 300]] {
        let out = tmp.path().join(format!("vni-{sel:?}.pcap"));
        let mut args = Vec::new();
        let strs: Vec<String> = sel.iter().map(u32::to_string).collect();
        for s in &strs {
            args.extend_from_slice(&["--vni", s.as_str()]);
        }
        export_ring(&ring, &out, &args);
        assert_readable_by_tools(&out);
        let got = read_pcap_records(&out);
        let want: Vec<_> = all
            .iter()
            .filter(|(d, _)| generated_vni(d).is_some_and(|v| sel.contains(&v)))
            .cloned()
            .collect();
        assert_eq!(got.len(), want.len(), "--vni {sel:?}");
        assert!(got == want, "--vni {sel:?}: same records in the same order");
    }

    // VNI and time together; pcapng of one session has one interface.
    let ts = tshark_fields(&r.export, None, &["frame.time_epoch"]);
    let (a, b) = (ts[all.len() / 4][0].clone(), ts[all.len() / 2][0].clone());
    let out = tmp.path().join("vni-time.pcapng");
    export_ring(
        &ring,
        &out,
        &[
            "--vni",
            "200",
            "--from",
            &format!("@{a}"),
            "--to",
            &format!("@{b}"),
            "--format",
            "pcapng",
        ],
    );
    let got = read_pcapng(&out);
    let want: Vec<&(Vec<u8>, u32)> = all
        .iter()
        .zip(&ts)
        .filter(|((d, _), t)| {
            let t: f64 = t[0].parse().unwrap();
            generated_vni(d) == Some(200)
                && t >= a.parse::<f64>().unwrap()
                && t <= b.parse::<f64>().unwrap()
        })
        .map(|(r, _)| r)
        .collect();
    assert!(want.len() > 100, "{}", want.len());
    assert_eq!(got.len(), want.len());
    assert!(got
        .iter()
        .zip(&want)
        .all(|(g, w)| g.data == w.0 && g.interface == "vni-200"));

    // A session that is not there: a valid, empty capture.
    let none = tmp.path().join("none.pcap");
    export_ring(&ring, &none, &["--vni", "999"]);
    assert!(read_pcap(&none).is_empty());
}

#[test]
fn bad_vni_and_format_are_refused_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec![
            "export",
            "/nonexistent",
            "-w",
            "/dev/null",
            "--vni",
            "16777216",
        ],
        vec!["export", "/nonexistent", "-w", "/dev/null", "--vni", "x"],
        vec![
            "export",
            "/nonexistent",
            "-w",
            "/dev/null",
            "--format",
            "erf",
        ],
        vec!["tail", "/nonexistent", "--vni", "-1"],
        vec!["tail", "/nonexistent", "--format", "json"],
    ] {
        let (st, err) = mirrorcap(&args);
        assert_eq!(st.code(), Some(2), "{args:?}: {err}");
        let _ = &tmp;
        assert!(
            err.lines()
                .filter(|l| l.starts_with("mirrorcap: error") || l.starts_with("error"))
                .count()
                == 1,
            "{args:?}: {err}"
        );
    }
}
