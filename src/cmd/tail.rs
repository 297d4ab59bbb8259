//! `mirrorcap tail`: follows the live ring and streams new packets, merged by time, to stdout.
use super::output::reader_gone_is_ok;
use anyhow::Context;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub fn tail(a: &mirrorcap::cli::TailArgs) -> anyhow::Result<()> {
    use mirrorcap_ring::tail::{tail_pcap, TailOptions};
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
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut warn = |m: String| eprintln!("mirrorcap: warning: {m}");
    let Some(s) = reader_gone_is_ok(tail_pcap(&a.ring_dir, &opts, &mut out, &stop, &mut warn))?
    else {
        return Ok(());
    };
    eprintln!(
        "mirrorcap: tail streamed {} packets ({} bytes) from {} worker(s), {} segment(s) followed, {} skipped",
        s.packets, s.bytes, s.workers, s.segments, s.skipped_segments
    );
    Ok(())
}
