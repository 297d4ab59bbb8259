//! `mirrorcap tail`: follows the live ring and streams new packets, merged by time, to stdout.
//! With `--from-start` and store directories, the stores' older packets come first, merged with
//! the ring's at the seam (`mirrorcap_store::timeline::tail_history`).
use super::output::reader_gone_is_ok;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub fn tail(a: &mirrorcap::cli::TailArgs) -> anyhow::Result<()> {
    use mirrorcap_ring::tail::{tail_pcap_with_history, StartAt, TailOptions};
    use mirrorcap_store::timeline::tail_history;
    let window = mirrorcap::config::parse_duration(&a.window)
        .map_err(|m| anyhow::anyhow!("--window {m}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop));
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .with_context(|| format!("cannot handle signal {sig}"))?;
    }
    let opts = TailOptions {
        sessions: mirrorcap_ring::SessionFilter {
            vnis: a.vnis.clone(),
        },
        format: a.format.parse().map_err(anyhow::Error::msg)?,
        from_start: a.from_start,
        window,
        ..TailOptions::default()
    };
    let (ring, stores) = ring_and_stores(&a.dirs)?;
    anyhow::ensure!(
        stores.is_empty() || a.from_start,
        "tail: store directories ({}) only add older packets with --from-start",
        stores[0].display()
    );
    let mut history = |starts: &[StartAt]| {
        tail_history(&stores, starts, &opts.sessions)
            .map_err(|e| mirrorcap_ring::RingError::Config(e.to_string()))
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut warn = |m: String| eprintln!("mirrorcap: warning: {m}");
    let r = tail_pcap_with_history(&ring, &opts, &mut history, &mut out, &stop, &mut warn);
    let Some(s) = reader_gone_is_ok(r)? else {
        return Ok(());
    };
    eprintln!(
        "mirrorcap: tail streamed {} packets ({} bytes) from {} worker(s), {} segment(s) followed, {} skipped",
        s.packets, s.bytes, s.workers, s.segments, s.skipped_segments
    );
    Ok(())
}

/// The one ring among `dirs` and the stores. A single directory is the ring (the ring's own
/// errors say what is wrong with it).
fn ring_and_stores(dirs: &[PathBuf]) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    use mirrorcap_store::timeline::{dir_kind, DirKind};
    if let [d] = dirs {
        return Ok((d.clone(), Vec::new()));
    }
    let (mut rings, mut stores) = (Vec::new(), Vec::new());
    for d in dirs {
        match dir_kind(d)? {
            DirKind::Ring => rings.push(d.clone()),
            DirKind::Store => stores.push(d.clone()),
        }
    }
    match rings.as_slice() {
        [r] => Ok((r.clone(), stores)),
        [] => anyhow::bail!(
            "tail follows a ring: give its directory (run --ring-dir) with the stores"
        ),
        _ => anyhow::bail!(
            "tail follows one ring: {} and {} are both rings",
            rings[0].display(),
            rings[1].display()
        ),
    }
}
