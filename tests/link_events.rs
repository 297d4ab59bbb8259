//! Link changes are events the appliance logs and counts, also on a driver that raises no LSC
//! interrupt: `net_memif` as the server, `mirrorcap gen` connecting as its client, sending for
//! two seconds and leaving. The link comes up when the peer connects and goes down when it
//! leaves: two log lines, `mirrorcap_port_link_changes_total` 2, every frame received counted.
//! (DPDK 22.11's memif server can crash in rx_burst when its peer leaves: `memif_disconnect`
//! unmaps the shared regions from the interrupt thread without waiting for a poller that is
//! inside `eth_memif_rx`. That is the PMD's race, not ours; docs/reliability.md.)
mod support;

use std::time::Duration;
use support::*;

#[test]
fn a_memif_peer_that_comes_and_goes_is_two_logged_and_counted_link_changes() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("memif.sock");
    let spec = |role: &str| {
        format!(
            "net_memif0,role={role},id=0,socket={},socket-abstract=no",
            sock.display()
        )
    };
    let app = Appliance::builder()
        .vdev(spec("server"))
        .ring_dir(&dir.path().join("ring"))
        .segment_size("1MiB")
        .segments(16)
        .args(&["--exit-when-idle", "3s"])
        .start();
    let (ok, gen_err) = mirrorcap(&[
        "gen",
        "--vdev",
        &spec("client"),
        "--inner-size",
        "512",
        "--rate",
        "10kpps",
        "--duration",
        "2s",
        "--progress",
        "0",
    ]);
    assert!(ok.success(), "gen: {gen_err}");
    let m = app.scrape_until(Duration::from_secs(20), |m| {
        metric(m, "mirrorcap_port_link_changes_total", &[]) == Some(2.0)
    });
    assert_eq!(metric(&m, "mirrorcap_port_resets_total", &[]), Some(0.0));
    let (st, err) = app.wait(Duration::from_secs(60));
    assert!(st.success(), "exit {st:?}:\n{err}");
    let up = err.lines().filter(|l| l.contains("link up")).count();
    let down = err.lines().filter(|l| l.contains("link down")).count();
    assert_eq!((up, down), (1, 1), "{err}");
    let (received, captured, dropped) = stop_line(&err);
    assert_eq!(received, captured + dropped, "{err}");
    // The peer's last burst may still be in its ring when it leaves.
    assert!((19_900..=20_000).contains(&received), "{err}");
}
