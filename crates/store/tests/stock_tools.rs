//! Stock tools read store files as they are: `zstdcat FILE | tcpdump -r -` and `capinfos` (of
//! the decompressed file, and of a plain store file directly) count every packet. The tools are
//! the oracle, not our reader. Without them the tests skip with a note, except under CI=true,
//! where a missing tool fails them.

mod common;

use common::{have, records, LENS};
use mirrorcap_store::{file_paths, write_file, Compression, StoreOptions};
use std::path::Path;
use std::process::Command;

fn capinfos_count(path: &Path) -> usize {
    // -M: exact numbers; -c: the packet count only; -T: one tab-separated table row.
    let out = Command::new("capinfos")
        .args(["-M", "-c", "-T", "-r"])
        .arg(path)
        .output()
        .expect("run capinfos");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "capinfos {path:?}: {text} {:?}",
        out.stderr
    );
    text.trim()
        .rsplit('\t')
        .next()
        .unwrap()
        .parse()
        .expect(&text)
}

fn write(dir: &Path, compression: Compression, n: usize) -> std::path::PathBuf {
    let opts = StoreOptions {
        compression,
        block_size: 64 << 10,
    };
    let (data, idx) = file_paths(dir, "tools", compression);
    // Records of at least a minimum frame, so tcpdump prints one line for each.
    let lens: Vec<usize> = LENS.iter().map(|&l| l.max(60)).collect();
    let idx_info = write_file(&data, &idx, opts, &records(n, &lens, 21)).unwrap();
    assert!(
        idx_info.blocks.len() > 5,
        "the file must span several blocks"
    );
    data
}

#[test]
fn zstdcat_into_tcpdump_reads_every_packet_of_a_compressed_file() {
    if !have("zstdcat") || !have("tcpdump") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = 1234;
    let data = write(dir.path(), Compression::DEFAULT_ZSTD, n);
    let out = Command::new("sh")
        .arg("-c")
        .arg("zstdcat \"$1\" | tcpdump -r - -nn")
        .arg("sh")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("truncated"), "{stderr}");
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(lines, n, "{stderr}");
}

#[test]
fn capinfos_counts_every_packet_of_both_modes() {
    if !have("zstdcat") || !have("capinfos") {
        return;
    }
    let n = 777;
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), Compression::DEFAULT_ZSTD, n);
    let plain = dir.path().join("unzstd.pcap");
    let st = Command::new("zstdcat")
        .arg(&data)
        .stdout(std::fs::File::create(&plain).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(capinfos_count(&plain), n);

    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), Compression::None, n);
    assert_eq!(capinfos_count(&data), n);
}
