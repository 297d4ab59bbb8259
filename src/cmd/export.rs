//! `mirrorcap export`: every worker's ring merged by time into one pcap or pcapng, cut by
//! time range and VNI. One ring directory takes the ring's own export (the original
//! behaviour, byte for byte); any store directory, or several directories, take the store's
//! timeline (`mirrorcap_store::timeline`), which writes each record of ring and store once.
use super::output::{create_out, reader_gone_is_ok};

pub fn export(a: &mirrorcap::cli::ExportArgs) -> anyhow::Result<()> {
    // `export DIR... EXPR`: a last argument that is no directory is an expression.
    if let [dirs @ .., last] = a.dirs.as_slice() {
        if !dirs.is_empty() && !super::sources::is_source(last) {
            let mut a = a.clone();
            a.dirs = dirs.to_vec();
            return super::query::query(&a, &last.to_string_lossy());
        }
    }
    if super::sources::any_archive(&a.dirs) {
        // An archive has no ring: the store timeline, as a query that keeps every record.
        return super::query::export_all(a);
    }
    let filter = export_filter(a)?;
    let mut out = create_out(&a.out)?;
    let format: mirrorcap_ring::Format = a.format.parse().map_err(anyhow::Error::msg)?;
    use mirrorcap_store::timeline::{dir_kind, DirKind};
    // One directory that is not a store takes the ring's own export, errors included.
    let kinds = if let [d] = a.dirs.as_slice() {
        vec![dir_kind(d).unwrap_or(DirKind::Ring)]
    } else {
        a.dirs
            .iter()
            .map(|d| dir_kind(d))
            .collect::<Result<Vec<_>, _>>()?
    };
    // Session names live in a ring directory; a store alone names sessions vni-<n>.
    let ring = kinds
        .iter()
        .position(|k| *k == DirKind::Ring)
        .map(|i| mirrorcap_ring::session_names::SessionNames::read(&a.dirs[i]));
    let names = |slot: u8| ring.as_ref()?.name(slot).map(str::to_string);
    let mut sink = mirrorcap_ring::Sink::new(format).with_names(&names);
    let (s, store) = if kinds == [DirKind::Ring] {
        let r = mirrorcap_ring::export(&a.dirs[0], &mut out, &filter, &mut sink);
        let Some(s) = reader_gone_is_ok(r)? else {
            return Ok(());
        };
        (s, String::new())
    } else {
        let t = match mirrorcap_store::timeline::export(&a.dirs, &mut out, &filter, &mut sink) {
            Err(mirrorcap_store::StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                return Ok(());
            }
            r => r?,
        };
        let store = format!(
            ", {} store file(s) ({} block(s) read, {} skipped by time index), {} ring record(s) \
             already in the store ({} ring segment(s) of them not read)",
            t.store_files,
            t.store_blocks_read,
            t.store_blocks_skipped,
            t.ring_records_in_store,
            t.ring_segments_in_store
        );
        (t.export, store)
    };
    eprintln!(
        "mirrorcap: exported {} packets ({} bytes) from {} worker(s), {} segment(s) read{store}{}{}{}{}",
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

/// The time range and sessions of `--from`, `--to`, `--vni`.
pub fn export_filter(
    a: &mirrorcap::cli::ExportArgs,
) -> anyhow::Result<mirrorcap_ring::ExportFilter> {
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
    Ok(filter)
}
