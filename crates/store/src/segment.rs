//! [`Encoder`]: one ring segment as one store file, from the page-aligned memory the spooler
//! reads the segment into, without copying its records. A plain pcap is that memory as it is
//! (a ring segment already is the file's bytes) and is written from it with O_DIRECT; zstd
//! blocks are compressed from it, each straight into a second aligned buffer that is written
//! the same way. Fed while the segment is read ([`Encoder::feed`]), it checksums (and
//! compresses) each block as soon as its records are in, while they are in the CPU's cache:
//! done after the whole 64 MiB read, the same work cost twice as much. Blocks are cut by
//! [`BlockWriter`](crate::BlockWriter)'s rule and a test holds the two to the same bytes and
//! index, so a file does not depend on which of them wrote it.

use crate::checksum::block_checksum;
use crate::flowidx::FlowIndexWriter;
use crate::index::{zstd_err, BlockInfo, StoreIndex, INDEX_VERSION};
use crate::odirect::AlignedBuf;
use crate::pad::{pad_len, PAD_MAGIC, SKIPPABLE_HEADER_LEN};
use crate::writer::StoreOptions;
use crate::{StoreError, ALIGN};
use mirrorcap_flows::FlowTable;
use mirrorcap_ring::pcapfmt::{file_header, RecordHeader, FILE_HEADER_LEN};
use mirrorcap_ring::reader::{RecordSpan, Visit};
use mirrorcap_ring::RecordMeta;

type Compressor = zstd::bulk::Compressor<'static>;

/// A store file made by [`Encoder::finish`].
#[derive(Debug)]
pub struct Encoded {
    /// The file's bytes are the segment's buffer (plain pcap), not `out` (zstd).
    pub in_place: bool,
    /// The data file's length.
    pub data_len: u64,
    /// Bytes to write from the buffer: `data_len` rounded up to [`ALIGN`], zeros past it.
    pub write_len: usize,
    pub index: StoreIndex,
    pub index_bytes: Vec<u8>,
    /// The flow index sidecar's bytes (`NAME.fidx`, [`crate::flowidx`]), when asked for.
    pub fidx_bytes: Option<Vec<u8>>,
    /// The flow records' Parquet bytes (`NAME.flows.parquet`, `mirrorcap-flows`), when asked for.
    pub flows_bytes: Option<Vec<u8>>,
}

/// Encodes one segment; see the module doc.
pub struct Encoder {
    opts: StoreOptions,
    /// The segment fed so far (0: none); another seq starts over.
    seq: u64,
    /// Fed blocks stand: all headers so far canonical and the file starting at the segment's
    /// first record. Otherwise `finish` does it all.
    fast: bool,
    /// Spans cut so far.
    next: usize,
    open: Cut,
    blocks: Vec<BlockInfo>,
    /// zstd: bytes of `out` used.
    pos: usize,
    err: Option<StoreError>,
    /// Build the flow index too.
    flows: bool,
    /// The flow index, fed each record as it is cut (with its block number), while its bytes
    /// are in the cache: built after the whole segment, extracting the keys cost a fifth of
    /// the store thread.
    fidx: Option<FlowIndexWriter>,
    /// Build the flow records too, fed the same way.
    records: bool,
    table: Option<FlowTable>,
}

impl Encoder {
    pub fn new(opts: StoreOptions) -> Self {
        Encoder {
            flows: false,
            fidx: None,
            records: false,
            table: None,
            opts,
            seq: 0,
            fast: true,
            next: 0,
            open: Cut::block0(),
            blocks: Vec::new(),
            pos: 0,
            err: None,
        }
    }

    /// What a read of the segment has so far: the blocks now complete are sealed. `whole`:
    /// the file is to start at the segment's first record (not the rest of a segment stored
    /// before, whose records `finish` moves first).
    pub fn feed(
        &mut self,
        v: &Visit<'_>,
        whole: bool,
        compressor: Option<&mut Compressor>,
        out: &mut AlignedBuf,
    ) {
        if v.seq != self.seq {
            *self = Encoder {
                seq: v.seq,
                ..self.fresh()
            };
        }
        self.fast &= whole && v.canonical && self.err.is_none();
        if self.fast {
            self.cut(v.bytes, v.spans, v.metas, compressor, out);
        }
    }

    /// The store file of records `spans` (contiguous, in order, with their metadata words
    /// `metas`) of the segment read into `seg`, of which the reader found every header
    /// canonical or not. `seg` may be changed: records moved up to follow the file header
    /// when the file does not start at the segment's first record, and headers not written
    /// as the ring writes them (nanosecond pcap) rewritten so, making the plain file `seg`
    /// itself.
    pub fn finish(
        mut self,
        seg: &mut AlignedBuf,
        canonical: bool,
        spans: &[RecordSpan],
        metas: &[RecordMeta],
        mut compressor: Option<&mut Compressor>,
        out: &mut AlignedBuf,
    ) -> crate::Result<Encoded> {
        if metas.len() != spans.len() {
            return Err(StoreError::Record(format!(
                "{} records but {} metadata words",
                spans.len(),
                metas.len()
            )));
        }
        let whole = spans.first().is_none_or(|s| s.offset == FILE_HEADER_LEN);
        if !(self.fast && whole && canonical) || self.next > spans.len() {
            self = self.fresh();
            normalize(seg, canonical, spans)?;
        }
        let bytes = seg.bytes();
        // `normalize` moved the records to follow the header: the same lengths, new offsets.
        let shift = spans.first().map_or(0, |s| s.offset - FILE_HEADER_LEN);
        let moved: Vec<RecordSpan>;
        let spans = if shift == 0 {
            spans
        } else {
            moved = spans
                .iter()
                .map(|s| RecordSpan {
                    offset: s.offset - shift,
                    ..*s
                })
                .collect();
            &moved
        };
        self.cut(bytes, spans, metas, compressor.as_deref_mut(), out);
        if self.open.records > 0 || self.blocks.is_empty() {
            let last = std::mem::replace(&mut self.open, Cut::at(0));
            self.seal(bytes, last, compressor, out);
        }
        if let Some(e) = self.err {
            return Err(e);
        }
        let fidx_bytes = self.fidx.take().map(|w| w.finish(self.blocks.len()));
        let flows_bytes = match self.table.as_mut() {
            Some(t) => Some(
                mirrorcap_flows::encode(&t.take())
                    .map_err(|e| StoreError::Record(e.to_string()))?,
            ),
            None => None,
        };
        let in_place = self.opts.compression == crate::Compression::None;
        let (data_len, write_len) = if in_place {
            let end = spans
                .last()
                .map_or(FILE_HEADER_LEN, |s| s.offset + s.record_len());
            let write_len = end.div_ceil(ALIGN) * ALIGN;
            seg.grow(write_len, end).map_err(io_err)?;
            seg.bytes_mut()[end..write_len].fill(0);
            (end as u64, write_len)
        } else {
            (self.pos as u64, self.pos)
        };
        let index = StoreIndex::new(
            !in_place,
            data_len,
            self.opts.block_size as u32,
            self.blocks,
            metas.to_vec(),
        );
        let index_bytes = index.encode()?;
        Ok(Encoded {
            in_place,
            data_len,
            write_len,
            index,
            index_bytes,
            fidx_bytes,
            flows_bytes,
        })
    }

    /// A new encoder with the same options and sidecars.
    fn fresh(&self) -> Encoder {
        Encoder::new(self.opts)
            .with_flow_index(self.flows)
            .with_flow_records(self.records)
    }

    /// Builds the flow records too (`NAME.flows.parquet`, `mirrorcap-flows`).
    pub fn with_flow_records(mut self, on: bool) -> Self {
        self.records = on;
        self.table = on.then(FlowTable::new);
        self
    }

    /// Builds the flow index sidecar too ([`crate::flowidx`]).
    pub fn with_flow_index(mut self, on: bool) -> Self {
        self.flows = on;
        self.fidx = on.then(FlowIndexWriter::new);
        self
    }

    /// Cuts `spans[self.next..]` by [`BlockWriter`](crate::BlockWriter)'s rule (a block ends
    /// before the record that would take it past the block size, unless it would be empty, and
    /// as soon as it reaches it; block 0 starts with the file header) and seals each block
    /// that ends.
    fn cut(
        &mut self,
        bytes: &[u8],
        spans: &[RecordSpan],
        metas: &[RecordMeta],
        mut compressor: Option<&mut Compressor>,
        out: &mut AlignedBuf,
    ) {
        let size = self.opts.block_size;
        let from = self.next.min(spans.len());
        for (i, s) in spans[from..].iter().enumerate() {
            let len = s.record_len();
            if self.open.records > 0 && self.open.end - self.open.start + len > size {
                let done = std::mem::replace(&mut self.open, Cut::at(s.offset));
                self.seal(bytes, done, compressor.as_deref_mut(), out);
            }
            self.open.add(s);
            let meta = metas.get(from + i).copied().unwrap_or(RecordMeta::UNTAGGED);
            if let Some(w) = &mut self.fidx {
                w.push(self.blocks.len(), s.data(bytes), meta);
            }
            if let Some(t) = &mut self.table {
                t.push(s.ts_ns, s.data(bytes), s.orig_len, meta.0);
            }
            if self.open.end - self.open.start >= size {
                let end = self.open.end;
                let done = std::mem::replace(&mut self.open, Cut::at(end));
                self.seal(bytes, done, compressor.as_deref_mut(), out);
            }
        }
        self.next = self.next.max(spans.len());
    }

    /// Checksums block `b` (and compresses it into `out` after the blocks before).
    fn seal(
        &mut self,
        bytes: &[u8],
        b: Cut,
        compressor: Option<&mut Compressor>,
        out: &mut AlignedBuf,
    ) {
        if self.err.is_some() {
            return;
        }
        let raw = &bytes[b.start..b.end];
        let (offset, stored_len) = match compressor {
            None => (b.start, raw.len()),
            Some(c) => match compress(c, raw, out, self.pos) {
                Ok((n, pad)) => {
                    let at = self.pos;
                    self.pos += n + pad;
                    (at, n)
                }
                Err(e) => {
                    self.err = Some(e);
                    return;
                }
            },
        };
        let empty = b.records == 0;
        self.blocks.push(BlockInfo {
            offset: offset as u64,
            stored_len: stored_len as u64,
            raw_len: raw.len() as u64,
            records: b.records,
            min_ts_ns: if empty { 0 } else { b.min_ts },
            max_ts_ns: if empty { 0 } else { b.max_ts },
            checksum: block_checksum(INDEX_VERSION, raw),
        });
    }
}

/// Compresses `raw` as one zstd frame at `out[pos..]`, followed by its pad frame; returns the
/// frame's length and the pad's.
fn compress(
    c: &mut Compressor,
    raw: &[u8],
    out: &mut AlignedBuf,
    pos: usize,
) -> crate::Result<(usize, usize)> {
    let room = zstd::zstd_safe::compress_bound(raw.len()) + 2 * ALIGN;
    out.grow(pos + room, pos).map_err(io_err)?;
    let dst = &mut out.bytes_mut()[pos..pos + room];
    let n = c.compress_to_buffer(raw, dst).map_err(zstd_err)?;
    let pad = pad_len(n);
    if pad > 0 {
        let frame = &mut dst[n..n + pad];
        frame[..4].copy_from_slice(&PAD_MAGIC.to_le_bytes());
        frame[4..8].copy_from_slice(&((pad - SKIPPABLE_HEADER_LEN) as u32).to_le_bytes());
        frame[8..].fill(0);
    }
    Ok((n, pad))
}

fn io_err(source: std::io::Error) -> StoreError {
    StoreError::Io {
        op: "map aligned buffer",
        path: "anon".into(),
        source,
    }
}

/// Puts the file header and (unless `canonical`) the records' headers in the ring writer's
/// form, and the records right after the file header.
fn normalize(seg: &mut AlignedBuf, canonical: bool, spans: &[RecordSpan]) -> crate::Result<()> {
    let bytes = seg.bytes_mut();
    bytes[..FILE_HEADER_LEN].copy_from_slice(&file_header());
    let Some(first) = spans.first() else {
        return Ok(());
    };
    let last = spans[spans.len() - 1];
    let (from, to) = (first.offset, last.offset + last.record_len());
    // Records before `from` were stored before (a restarted ring writer resumed the segment).
    if from != FILE_HEADER_LEN {
        bytes.copy_within(from..to, FILE_HEADER_LEN);
    }
    if canonical {
        return Ok(());
    }
    let shift = from - FILE_HEADER_LEN;
    for s in spans {
        if s.ts_ns / 1_000_000_000 > u32::MAX as u64 {
            return Err(StoreError::Record(format!(
                "timestamp {} ns is past what pcap's 32-bit seconds hold",
                s.ts_ns
            )));
        }
        let h = RecordHeader {
            ts_ns: s.ts_ns,
            incl_len: s.incl_len,
            orig_len: s.orig_len,
        }
        .encode();
        let at = s.offset - shift;
        bytes[at..at + h.len()].copy_from_slice(&h);
    }
    Ok(())
}

/// A block being cut: its uncompressed bytes in the segment, and its records.
struct Cut {
    start: usize,
    end: usize,
    records: u32,
    min_ts: u64,
    max_ts: u64,
}

impl Cut {
    fn block0() -> Cut {
        Cut {
            end: FILE_HEADER_LEN,
            ..Cut::at(0)
        }
    }

    fn at(at: usize) -> Cut {
        Cut {
            start: at,
            end: at,
            records: 0,
            min_ts: u64::MAX,
            max_ts: 0,
        }
    }

    fn add(&mut self, s: &RecordSpan) {
        self.end += s.record_len();
        self.records += 1;
        self.min_ts = self.min_ts.min(s.ts_ns);
        self.max_ts = self.max_ts.max(s.ts_ns);
    }
}
