//! Opening a worker's ring: creating its files (under their hidden names) and reserving their
//! blocks, or continuing a ring that exists (trimming a segment a crash left live to its
//! committed length, showing every written segment under its visible name and resuming at the
//! end of the newest segment), and starting the helper thread when asked.
use super::*;

impl RingWriter {
    /// Opens (creating or continuing) worker `worker`'s ring under `ring_dir`, reserving the
    /// disk space of every segment up front. Rotation works on the calling thread
    /// ([`RingOptions::default`]).
    pub fn open(
        ring_dir: &Path,
        worker: usize,
        geometry: Geometry,
    ) -> Result<(Self, OpenReport), RingError> {
        Self::open_with(ring_dir, worker, geometry, RingOptions::default())
    }

    /// [`open`](Self::open) with options: with `background`, starts the ring's helper thread.
    pub fn open_with(
        ring_dir: &Path,
        worker: usize,
        geometry: Geometry,
        options: RingOptions,
    ) -> Result<(Self, OpenReport), RingError> {
        geometry.validate().map_err(RingError::Config)?;
        let dir = worker_dir(ring_dir, worker);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&dir)
            .and_then(|()| crate::group_access::adopt_dir(ring_dir))
            .and_then(|()| crate::group_access::adopt_dir(&dir))
            .map_err(|e| io_err("create directory", &dir, e))?;
        let cpath = control_path(&dir);
        let existed = cpath.exists();
        let cfile = open_rw(&cpath, true)?;
        if !existed || cfile.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            cfile
                .set_len(geometry.control_len())
                .map_err(|e| io_err("size", &cpath, e))?;
        }
        // Its blocks reserved like the segments': the worker stores to each entry's page the
        // first time it activates that segment, which on a full file system would otherwise
        // raise SIGBUS instead of failing here, at start.
        reserve(&cfile, 0, geometry.control_len())
            .map_err(|e| io_err("reserve (disk full?)", &cpath, e))?;
        let control = ControlMap::map_mut(&cfile).map_err(|e| io_err("mmap", &cpath, e))?;
        let words = control.words();
        if words[W_MAGIC].load(Ordering::Acquire) == 0 {
            words[W_VERSION].store(CONTROL_VERSION, Ordering::Relaxed);
            words[W_GENERATION].store(new_generation(), Ordering::Relaxed);
            words[W_SEGMENTS].store(geometry.segments as u64, Ordering::Relaxed);
            words[W_SEGMENT_SIZE].store(geometry.segment_size, Ordering::Relaxed);
            words[W_WORKER].store(worker as u64, Ordering::Relaxed);
            words[W_MAGIC].store(CONTROL_MAGIC, Ordering::Release);
        }
        let found = read_header(words)
            .map_err(|m| RingError::Config(format!("{}: {m}", cpath.display())))?;
        if found != geometry {
            return Err(RingError::Config(format!(
                "{} holds a ring of {} segments of {} bytes; asked for {} of {}: use another --ring-dir or remove this one",
                dir.display(),
                found.segments,
                found.segment_size,
                geometry.segments,
                geometry.segment_size
            )));
        }
        if words[W_GENERATION].load(Ordering::Acquire) == 0 {
            // A ring created before the generation word: from now on it has one.
            words[W_GENERATION].store(new_generation(), Ordering::Release);
        }

        let mut report = OpenReport::default();
        let mut files = Vec::with_capacity(geometry.segments as usize);
        let mut lens = Vec::with_capacity(geometry.segments as usize);
        let (mut newest, mut max_seq) = (None, 0u64);
        for i in 0..geometry.segments as usize {
            // Under its hidden name (live or prepared at a kill, never written, or created
            // now) or its visible one (sealed and trimmed, or a ring from before hidden names).
            let (shown, hidden) = SlotFile::Data.paths(&dir, i);
            let is_visible = !hidden.exists() && shown.exists();
            let path = if is_visible { shown } else { hidden };
            let f = open_rw(&path, true)?;
            let e = Entry::of(words, i).expect("control sized for its segments");
            let snap = e.snapshot(i);
            let mut len = f.metadata().map_err(|e| io_err("stat", &path, e))?.len();
            match snap.state {
                SegState::Empty => {
                    // Never written: a valid empty pcap.
                    f.set_len(0).map_err(|e| io_err("truncate", &path, e))?;
                    write_all_at(&f, &file_header(), 0).map_err(|e| io_err("write", &path, e))?;
                    len = FILE_HEADER_LEN as u64;
                }
                SegState::Live => {
                    // Left live by a crash: keep the committed records, trim the torn tail.
                    let keep = snap
                        .committed
                        .clamp(FILE_HEADER_LEN as u64, len.max(FILE_HEADER_LEN as u64));
                    f.set_len(keep).map_err(|e| io_err("truncate", &path, e))?;
                    len = keep;
                    // The index words are stored apart from `committed` (a kill can fall
                    // between them): recount them from the records kept.
                    let mut kept = Vec::with_capacity(keep as usize);
                    std::io::Read::read_to_end(&mut std::io::Read::take(&f, keep), &mut kept)
                        .map_err(|e| io_err("read", &path, e))?;
                    let (records, _) = parse_records(&kept);
                    e.store(E_PACKETS, records.len() as u64, Ordering::Relaxed);
                    e.store(
                        E_FIRST_TS,
                        records.first().map_or(0, |r| r.ts_ns),
                        Ordering::Relaxed,
                    );
                    e.store(
                        E_LAST_TS,
                        records.last().map_or(0, |r| r.ts_ns),
                        Ordering::Relaxed,
                    );
                    e.store(E_STATE, SegState::Sealed as u64, Ordering::Release);
                    report.recovered_segments += 1;
                }
                SegState::Sealed => {
                    // Sealed but not trimmed yet (the helper thread trims after the worker
                    // seals; a kill can fall in between), or extended ahead of reuse: zeros
                    // after the committed records. Trim them off.
                    let keep = snap.committed.max(FILE_HEADER_LEN as u64);
                    if len > keep {
                        f.set_len(keep).map_err(|e| io_err("truncate", &path, e))?;
                        len = keep;
                    }
                }
            }
            if snap.seq > 0 {
                report.existing_segments += 1;
                if snap.seq > max_seq {
                    max_seq = snap.seq;
                    newest = Some(i);
                }
            }
            reserve(&f, 0, geometry.segment_size).map_err(|e| {
                io_err(
                    &format!("reserve {} bytes (disk full? the ring needs segments x segment size per worker)", geometry.segment_size),
                    &path,
                    e,
                )
            })?;
            files.push(f);
            lens.push(len);
        }
        let mut index_maps = Vec::with_capacity(files.len());
        for i in 0..geometry.segments as usize {
            let path = current_path(&dir, i, SlotFile::Index);
            let f = open_rw(&path, true)?;
            let len = f.metadata().map_err(|e| io_err("stat", &path, e))?.len();
            if len != geometry.index_len() {
                f.set_len(geometry.index_len())
                    .map_err(|e| io_err("size", &path, e))?;
            }
            reserve(&f, 0, geometry.index_len())
                .map_err(|e| io_err("reserve (disk full?)", &path, e))?;
            index_maps.push(
                SegmentMap::map(&f, geometry.index_len()).map_err(|e| io_err("mmap", &path, e))?,
            );
        }
        let slot_dir = Arc::new(SlotDir::open(&dir)?);
        let start = newest.unwrap_or(0);
        let mut segments = Vec::with_capacity(files.len());
        for (i, (file, len)) in files.into_iter().zip(lens).enumerate() {
            let written =
                Entry::of(words, i).is_some_and(|e| e.load(E_SEQ, Ordering::Relaxed) != 0);
            // Every written slot now holds a sealed segment trimmed to its records: shown
            // under its visible names; a never-written one hidden (both files each time: a
            // kill can fall between the two renames).
            slot_dir.rename_slot(i, written)?;
            let (shown, hidden) = SlotFile::Data.paths(&dir, i);
            let path = if written { shown } else { hidden };
            let map = SegmentMap::map(&file, geometry.segment_size)
                .map_err(|e| io_err("mmap", &path, e))?;
            segments.push(Segment {
                dir: slot_dir.clone(),
                index: i,
                path,
                file,
                map,
                prep: Prep::Trimmed {
                    len,
                    reserved: true,
                },
                visible: written,
                written,
            });
        }
        let mut w = RingWriter {
            dir,
            geometry,
            control,
            shared: Arc::new(Shared::new(segments)),
            seg: None,
            cur: start,
            index_maps,
            index_cap: geometry.index_entries(),
            live: false,
            off: 0,
            seq: max_seq,
            first_ts: 0,
            last_ts: 0,
            seg_packets: 0,
            failed: false,
            policy: RingPolicy::Overwrite,
            stopped: false,
            helper: None,
            stats: RingStats {
                segments_recovered: report.recovered_segments as u64,
                ..RingStats::default()
            },
        };
        match newest {
            Some(i) => w.resume(i)?,
            None => {
                w.activate(0)?;
            }
        }
        if options.background {
            w.helper = Some(Maintainer::start(
                worker,
                geometry,
                &cpath,
                w.shared.clone(),
                (w.cur, w.seq, w.off as u64),
                options.prepare_ahead,
            )?);
        }
        Ok((w, report))
    }
}
