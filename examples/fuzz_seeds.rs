//! Writes one file per packet into a fuzz corpus folder: every packet of the given pcap/pcapng
//! files (read with the pcap-file crate) plus generated mirror traffic of every encapsulation
//! the generator knows, with and without VLAN tags and truncation, and its noise frames.
//! Usage: cargo run --example fuzz_seeds -- OUT_DIR [CAPTURE ...]
use mirrorcap::gen::{
    encapsulate, inner_frame_tagged, mirror_source_port, noise_frame, Encap, OuterAddrs,
    NOISE_KINDS,
};
use mirrorcap_ring::layout::{control_path, index_path, segment_path, worker_dir};
use mirrorcap_ring::{Geometry, RecordMeta, RingWriter};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: fuzz_seeds OUT_DIR [CAPTURE ...]")?;
    std::fs::create_dir_all(&out)?;
    let mut n = 0usize;
    let mut put = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        n += 1;
        std::fs::write(Path::new(&out).join(format!("{name}-{n:05}")), bytes)
    };
    for path in args {
        let data = std::fs::read(&path)?;
        let stem = Path::new(&path)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("capture")
            .to_string();
        if let Ok(mut r) = pcap_file::pcap::PcapReader::new(&data[..]) {
            while let Some(Ok(p)) = r.next_packet() {
                put(&stem, &p.data)?;
            }
        } else if let Ok(mut r) = pcap_file::pcapng::PcapNgReader::new(&data[..]) {
            while let Some(Ok(b)) = r.next_block() {
                if let pcap_file::pcapng::Block::EnhancedPacket(p) = b {
                    put(&stem, &p.data)?;
                }
            }
        } else {
            eprintln!("fuzz_seeds: {path}: not a pcap or pcapng file, skipped");
        }
    }
    for (i, encap) in [Encap::Vxlan, Encap::Vxlan6, Encap::Gwlb]
        .into_iter()
        .enumerate()
    {
        for vlans in 0..=2u8 {
            for (size, tag, cut) in [
                (60, None, None),
                (200, Some(42), None),
                (1514, None, Some(100)),
                (9000, Some(7), None),
            ] {
                let mut inner = inner_frame_tagged(i as u64, 3, size, tag);
                let sport = mirror_source_port(&inner);
                if let Some(c) = cut {
                    inner.truncate(c);
                }
                put(
                    "gen",
                    &encapsulate(
                        encap,
                        vlans,
                        &OuterAddrs::default_for(3),
                        3,
                        100 + i as u32,
                        sport,
                        &inner,
                    ),
                )?;
            }
        }
    }
    for k in NOISE_KINDS {
        put("noise", &noise_frame(k, 1))?;
    }
    // For the ring target: a real 2-segment ring laid out as it reads its input (control file,
    // then segment 0 and its index in two halves), after 0, 1 and many records.
    for records in [0u64, 1, 40] {
        let dir = std::env::temp_dir().join(format!("mirrorcap-seed-ring-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let g = Geometry {
            segments: 2,
            segment_size: 1 << 20,
        };
        let (mut w, _) = RingWriter::open(&dir, 0, g)?;
        for i in 0..records {
            let f = inner_frame_tagged(i, 1, 60 + i as usize, None);
            w.write_record(i, RecordMeta::tunnel(7, 1), &[], &f, f.len() as u32);
        }
        w.close()?;
        let wd = worker_dir(&dir, 0);
        let seg = std::fs::read(segment_path(&wd, 0))?;
        let idx = std::fs::read(index_path(&wd, 0))?;
        let mut bytes = std::fs::read(control_path(&wd))?;
        let half = seg.len().max(records as usize * 4);
        bytes.extend_from_slice(&seg);
        bytes.resize(192 + half, 0);
        bytes.extend_from_slice(&idx[..half.min(idx.len())]);
        put("ring", &bytes)?;
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!("fuzz_seeds: {n} seeds in {out}");
    Ok(())
}
