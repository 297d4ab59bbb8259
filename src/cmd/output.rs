//! Where the reading commands write: a file or stdout (`-`), buffered; a reader that went
//! away (a closed pipe) is the end of the job, not an error.
use anyhow::Context;
use std::io::Write;

/// A closed output pipe (`export -w - | head`, `tail | tcpdump -c 3`) means the reader has
/// what it wanted: `None`, not an error.
pub fn reader_gone_is_ok<T>(r: Result<T, mirrorcap_ring::RingError>) -> anyhow::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(mirrorcap_ring::RingError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn create_out(path: &std::path::Path) -> anyhow::Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::io::stdout().lock(),
        )));
    }
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(Box::new(std::io::BufWriter::with_capacity(1 << 20, f)))
}
