//! `mirrorcap export`: every worker's ring merged by time into one pcap or pcapng, cut by
//! time range and VNI.
use super::output::{create_out, reader_gone_is_ok};

pub fn export(a: &mirrorcap::cli::ExportArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let time = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<u64>> {
        v.as_deref()
            .map(|s| {
                mirrorcap::config::parse_time(s, now).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
            })
            .transpose()
    };
    let filter = mirrorcap_ring::ExportFilter {
        from_ns: time("--from", &a.from)?,
        to_ns: time("--to", &a.to)?,
        sessions: mirrorcap_ring::SessionFilter {
            vnis: a.vnis.clone(),
        },
    };
    if let (Some(f), Some(t)) = (filter.from_ns, filter.to_ns) {
        anyhow::ensure!(f <= t, "--from is after --to: nothing to export");
    }
    let mut out = create_out(&a.out)?;
    let format: mirrorcap_ring::Format = a.format.parse().map_err(anyhow::Error::msg)?;
    let names = |slot: u8| {
        mirrorcap_ring::session_names::SessionNames::read(&a.ring_dir)
            .name(slot)
            .map(str::to_string)
    };
    let mut sink = mirrorcap_ring::Sink::new(format).with_names(&names);
    let Some(s) = reader_gone_is_ok(mirrorcap_ring::export(
        &a.ring_dir,
        &mut out,
        &filter,
        &mut sink,
    ))?
    else {
        return Ok(());
    };
    eprintln!(
        "mirrorcap: exported {} packets ({} bytes) from {} worker(s), {} segment(s) read{}{}{}{}",
        s.packets,
        s.bytes,
        s.workers,
        s.read.segments,
        if format == mirrorcap_ring::Format::Pcapng {
            format!(", {} session interface(s)", s.interfaces)
        } else {
            String::new()
        },
        if s.segments_skipped > 0 {
            format!(", {} skipped by time index", s.segments_skipped)
        } else {
            String::new()
        },
        if s.read.raced > 0 {
            format!(
                ", {} segment(s) skipped: overwritten while reading",
                s.read.raced
            )
        } else {
            String::new()
        },
        if s.read.torn_bytes > 0 {
            format!(", {} torn tail bytes ignored", s.read.torn_bytes)
        } else {
            String::new()
        },
    );
    Ok(())
}
