//! Writes the flow index `NAME.fidx` of every store file of the given store directories
//! (`STORE/worker-NN/NAME.idx`) that has none, until the store writer writes them itself:
//! for a store made before, and for measuring `mirrorcap query` against a full export.
//!
//! ```text
//! cargo run --release -p mirrorcap-store --example build_fidx -- STORE_DIR...
//! ```
//! Prints per directory the files indexed, the index bytes and their share of the data files.
use mirrorcap_store::flowidx::{build_for_file, fidx_path, write_fidx};
use mirrorcap_store::storedir::list;
use mirrorcap_store::StoreFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        return Err("usage: build_fidx STORE_DIR...".into());
    }
    for d in dirs {
        let mut workers: Vec<_> = std::fs::read_dir(&d)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        workers.sort();
        for w in workers {
            let (mut files, mut idx_bytes, mut data_bytes) = (0u64, 0u64, 0u64);
            let start = std::time::Instant::now();
            for f in list(&w)? {
                data_bytes += std::fs::metadata(&f.data)?.len();
                if fidx_path(&f.index).exists() {
                    idx_bytes += std::fs::metadata(fidx_path(&f.index))?.len();
                    continue;
                }
                let mut sf = StoreFile::open(&f.data, &f.index)?;
                let bytes = build_for_file(&mut sf)?;
                write_fidx(&f.index, &bytes)?;
                idx_bytes += bytes.len() as u64;
                files += 1;
            }
            println!(
                "{}: {files} file(s) indexed in {:.2}s; .fidx {idx_bytes} bytes = {:.3} % of {data_bytes} data bytes",
                w.display(),
                start.elapsed().as_secs_f64(),
                100.0 * idx_bytes as f64 / data_bytes.max(1) as f64
            );
        }
    }
    Ok(())
}
