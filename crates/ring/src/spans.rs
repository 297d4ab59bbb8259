//! The store writer's way of reading a segment: into the caller's memory ([`SegmentBuf`]), in
//! [`READ_CHUNK`] steps, with each step's records parsed ([`RecordSpan`]) and their metadata
//! words read ([`MetaReader`]) while the bytes are in the CPU's cache, and shown to a visitor
//! ([`Visit`]); [`WorkerReader::next_segment_visit`](crate::reader::WorkerReader) drives it.
use super::pcapfmt::{
    file_header, parse_file_header, RecordHeader, Resolution, FILE_HEADER_LEN, RECORD_HEADER_LEN,
    SNAPLEN,
};
use super::record_meta::{RecordMeta, META_LEN};
use crate::layout::EntrySnapshot;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Memory a segment is read into: a `Vec`, or page-aligned memory that the store writer then
/// writes to disk with O_DIRECT as it is.
pub trait SegmentBuf {
    /// At least `len` writable bytes (their contents do not matter).
    fn space(&mut self, len: usize) -> std::io::Result<&mut [u8]>;
}

impl SegmentBuf for Vec<u8> {
    fn space(&mut self, len: usize) -> std::io::Result<&mut [u8]> {
        if self.len() < len {
            self.resize(len, 0);
        }
        Ok(&mut self[..len])
    }
}

/// One segment read by [`WorkerReader::next_segment_into`].
#[derive(Clone, Debug, Default)]
pub struct SegmentRead {
    /// The segment's control entry as listed at open.
    pub snapshot: EntrySnapshot,
    /// Bytes from the file header through the last whole record.
    pub len: usize,
    /// Its records, in file order.
    pub spans: Vec<RecordSpan>,
    /// Their metadata words (same order).
    pub metas: Vec<RecordMeta>,
    /// The file header and every record header are byte for byte what
    /// [`pcapfmt`](super::pcapfmt) writes (a ring writer's segment always is): a store file
    /// can be these bytes as they are.
    pub canonical: bool,
}

/// Where a record lies in the bytes it was parsed from, and its decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset of its 16-byte record header.
    pub offset: usize,
    pub ts_ns: u64,
    pub incl_len: u32,
    pub orig_len: u32,
}

impl RecordSpan {
    /// Bytes of the record: header and data.
    pub fn record_len(&self) -> usize {
        RECORD_HEADER_LEN + self.incl_len as usize
    }

    /// The frame's bytes in `buf`.
    pub fn data<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.offset + RECORD_HEADER_LEN..self.offset + self.record_len()]
    }
}

/// What [`WorkerReader::next_segment_visit`] has of a segment after one more chunk: its bytes
/// read so far, the records whole in them, and whether all headers so far are canonical.
pub struct Visit<'a> {
    /// The segment's seq (a new one when the one before was overwritten while read).
    pub seq: u64,
    pub bytes: &'a [u8],
    pub spans: &'a [RecordSpan],
    /// The metadata words of `spans` (same length).
    pub metas: &'a [RecordMeta],
    pub canonical: bool,
}

/// Bytes per read of [`WorkerReader::next_segment_visit`]: what was read last is still in the
/// CPU's cache when it is parsed and visited (a whole 64 MiB segment read at once is not, and
/// parsing it cost as much as reading it).
pub const READ_CHUNK: usize = 2 << 20;

/// Reads at `at` until `dst` is full or the file ends; returns the bytes read.
pub(crate) fn read_full_at(f: &File, dst: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < dst.len() {
        match f.read_at(&mut dst[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Splits a pcap file's bytes into record spans (replacing `spans`' contents); returns the
/// end of the last whole record and the count of trailing bytes that do not form one.
pub fn parse_spans(buf: &[u8], spans: &mut Vec<RecordSpan>) -> (usize, usize) {
    let (end, torn, _) = parse_spans_checked(buf, spans);
    (end, torn)
}

/// [`parse_spans`], and whether every header is canonical (see [`SegmentRead::canonical`]).
pub fn parse_spans_checked(buf: &[u8], spans: &mut Vec<RecordSpan>) -> (usize, usize, bool) {
    spans.clear();
    let mut p = SpanParser::default();
    p.parse(buf, spans);
    (p.off, buf.len() - p.off, p.canonical)
}

/// Parses a pcap's records as its bytes arrive: each [`parse`](Self::parse) takes all the
/// bytes so far and adds the records now whole; the result is the same as one parse of all.
#[derive(Default)]
pub(crate) struct SpanParser {
    res: Option<Resolution>,
    /// Where the next record starts (0: the file header is not checked yet).
    pub(crate) off: usize,
    pub(crate) canonical: bool,
}

impl SpanParser {
    pub(crate) fn parse(&mut self, buf: &[u8], spans: &mut Vec<RecordSpan>) {
        let res = match self.res {
            Some(r) => r,
            None => {
                let Some(r) = buf.get(..FILE_HEADER_LEN).and_then(parse_file_header) else {
                    return;
                };
                self.res = Some(r);
                self.off = FILE_HEADER_LEN;
                self.canonical = buf[..FILE_HEADER_LEN] == file_header();
                r
            }
        };
        let mut off = self.off;
        while let Some(h) = buf.get(off..off + RECORD_HEADER_LEN) {
            let Some(r) = RecordHeader::decode(h, res) else {
                break;
            };
            let end = off + RECORD_HEADER_LEN + r.incl_len as usize;
            if r.incl_len > SNAPLEN || end > buf.len() {
                break;
            }
            // Checked while the header is in the cache anyway.
            self.canonical &= h == r.encode();
            spans.push(RecordSpan {
                offset: off,
                ts_ns: r.ts_ns,
                incl_len: r.incl_len,
                orig_len: r.orig_len,
            });
            off = end;
        }
        self.off = off;
    }
}
/// The metadata words of a segment's records, read as its records are parsed: the words of
/// records within the segment's committed bytes were stored before those bytes were published,
/// so any of them can be read as soon as its record is seen. A missing or short index file
/// leaves records untagged, as [`read_slot_index`](crate::reader::read_slot_index) does.
pub(crate) struct MetaReader {
    file: Option<File>,
    bytes: Vec<u8>,
}

impl MetaReader {
    pub(crate) fn new(file: Option<File>) -> Self {
        MetaReader {
            file,
            bytes: Vec::new(),
        }
    }

    /// Appends to `metas` the words of records `metas.len()..n`.
    pub(crate) fn read_to(&mut self, metas: &mut Vec<RecordMeta>, n: usize) -> std::io::Result<()> {
        let have = metas.len();
        if n <= have {
            return Ok(());
        }
        self.bytes.clear();
        self.bytes.resize((n - have) * META_LEN, 0);
        let got = match &self.file {
            Some(f) => read_full_at(f, &mut self.bytes, (have * META_LEN) as u64)?,
            None => 0,
        };
        metas.extend((0..n - have).map(|i| {
            self.bytes[..got]
                .get(i * META_LEN..(i + 1) * META_LEN)
                .map_or(RecordMeta::UNTAGGED, |b| {
                    RecordMeta::from_le_bytes(b.try_into().expect("4 bytes"))
                })
        }));
        Ok(())
    }
}
