//! The index's bytes: encoding (for [`crate::IndexBuilder`]) and [`FlowIndex`], the parsed,
//! validated index that answers term lookups. Layout (little-endian; `docs/index.md`):
//!
//! ```text
//! 8   magic "MCFLOWIX"
//! 4   version = 1
//! 4   flags = 0
//! 4   block count (the blocks the postings speak of: the store file's block numbers)
//! 4   term count
//! per kind present, ascending kind:
//!     1       kind
//!     varint  terms of this kind
//!     per term, ascending value:
//!         varint   value minus the previous term's value of this kind (the first: the value)
//!         posting  varint n: 0 = every block; 1 = bitmap of ceil(blocks / 8) bytes follows
//!                  (bit k of byte k / 8 = block k); n >= 2: a list of n - 2 blocks follows,
//!                  the first as a varint, each next one as (block - previous - 1)
//! 8   checksum of everything above
//! ```
//!
//! The encoder picks the smallest posting of the three per term. [`FlowIndex::parse`] checks
//! the checksum, then the whole structure (kinds known and ascending, values ascending and in
//! range, postings in range, ascending, canonical), so no lookup can meet a bad byte later.

use crate::blockset::BlockSet;
use crate::checksum::checksum;
use crate::term::{Key, Kind, Term};
use crate::{varint, IndexError, Result};

/// The first eight bytes of an index.
pub const MAGIC: &[u8; 8] = b"MCFLOWIX";
/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;
/// Most blocks an index may speak of (a 64 GiB file of 4 KiB blocks): bounds the memory a
/// lookup's [`BlockSet`] takes (2 MiB) whatever the header says.
pub const MAX_BLOCKS: u32 = 1 << 24;
const HEADER_LEN: usize = 24;
const CHECKSUM_LEN: usize = 8;

const POSTING_ALL: u128 = 0;
const POSTING_BITMAP: u128 = 1;
const POSTING_LIST: u128 = 2;

fn bitmap_len(blocks: u32) -> usize {
    (blocks as usize).div_ceil(8)
}

/// Appends the smallest encoding of `list` (ascending, unique, each < `blocks`).
fn put_posting(out: &mut Vec<u8>, list: &[u32], blocks: u32) {
    if list.len() == blocks as usize {
        varint::put(out, POSTING_ALL);
        return;
    }
    let mut list_len = varint::len(list.len() as u128 + POSTING_LIST);
    let mut prev: Option<u32> = None;
    for &b in list {
        list_len += varint::len(u128::from(prev.map_or(b, |p| b - p - 1)));
        prev = Some(b);
    }
    if 1 + bitmap_len(blocks) < list_len {
        varint::put(out, POSTING_BITMAP);
        let start = out.len();
        out.resize(start + bitmap_len(blocks), 0);
        for &b in list {
            out[start + (b / 8) as usize] |= 1 << (b % 8);
        }
    } else {
        varint::put(out, list.len() as u128 + POSTING_LIST);
        let mut prev: Option<u32> = None;
        for &b in list {
            varint::put(out, u128::from(prev.map_or(b, |p| b - p - 1)));
            prev = Some(b);
        }
    }
}

/// Encodes sorted, unique `terms` with their postings (ascending, unique, each < `blocks`).
pub(crate) fn encode<L: AsRef<[u32]>>(terms: &[(Key, L)], blocks: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + terms.len() * 8 + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&blocks.to_le_bytes());
    out.extend_from_slice(&(terms.len() as u32).to_le_bytes());
    let mut i = 0;
    while i < terms.len() {
        let kind = terms[i].0.kind;
        let n = terms[i..].iter().take_while(|t| t.0.kind == kind).count();
        out.push(kind as u8);
        varint::put(&mut out, n as u128);
        let mut prev = 0u128;
        for (key, list) in &terms[i..i + n] {
            varint::put(&mut out, key.val - prev);
            prev = key.val;
            put_posting(&mut out, list.as_ref(), blocks);
        }
        i += n;
    }
    let c = checksum(&out);
    out.extend_from_slice(&c.to_le_bytes());
    out
}

/// Where a term's posting lies.
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: Key,
    /// Offset of the posting's first varint in `bytes`.
    at: usize,
}

/// A parsed, validated flow index: answers which blocks may hold a term.
#[derive(Clone, Debug)]
pub struct FlowIndex {
    bytes: Vec<u8>,
    blocks: u32,
    entries: Vec<Entry>,
}

fn bad(at: usize, what: &'static str) -> IndexError {
    IndexError::Malformed { at, what }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

impl FlowIndex {
    /// Parses and validates `bytes` (a copy is kept). Any damage is an error.
    pub fn parse(bytes: &[u8]) -> Result<FlowIndex> {
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(IndexError::Short(bytes.len()));
        }
        let body = bytes.len() - CHECKSUM_LEN;
        let mut want = [0u8; 8];
        want.copy_from_slice(&bytes[body..]);
        if checksum(&bytes[..body]) != u64::from_le_bytes(want) {
            return Err(IndexError::Checksum);
        }
        if &bytes[..8] != MAGIC {
            return Err(IndexError::Magic);
        }
        let version = u32_at(bytes, 8);
        if version != VERSION {
            return Err(IndexError::Version(version));
        }
        if u32_at(bytes, 12) != 0 {
            return Err(bad(12, "unknown flags"));
        }
        let blocks = u32_at(bytes, 16);
        if blocks > MAX_BLOCKS {
            return Err(bad(16, "block count past the limit"));
        }
        let terms = u32_at(bytes, 20) as usize;
        let b = &bytes[..body];
        let mut at = HEADER_LEN;
        // Each term takes at least two bytes: bounds the allocation by the input.
        if terms > (body - HEADER_LEN) / 2 {
            return Err(bad(20, "more terms than bytes"));
        }
        let mut entries = Vec::with_capacity(terms);
        let mut last_kind = 0u8;
        while at < body {
            let kind_at = at;
            let kind = Kind::from_u8(b[at]).ok_or(bad(at, "unknown term kind"))?;
            if kind as u8 <= last_kind {
                return Err(bad(at, "term kinds out of order"));
            }
            last_kind = kind as u8;
            at += 1;
            let n = varint::get(b, &mut at).ok_or(bad(at, "bad term count"))?;
            if n == 0 || n > (terms - entries.len()) as u128 {
                return Err(bad(kind_at, "term count out of range"));
            }
            let mut val = 0u128;
            for i in 0..n {
                let d_at = at;
                let d = varint::get(b, &mut at).ok_or(bad(d_at, "bad term value"))?;
                if i > 0 && d == 0 {
                    return Err(bad(d_at, "terms out of order"));
                }
                val = val
                    .checked_add(d)
                    .filter(|v| *v <= kind.max_value())
                    .ok_or(bad(d_at, "term value out of range"))?;
                let key = Key::new(kind, val);
                entries.push(Entry { key, at });
                at = check_posting(b, at, blocks)?;
            }
        }
        if entries.len() != terms {
            return Err(bad(20, "term count differs from the terms present"));
        }
        Ok(FlowIndex {
            bytes: bytes.to_vec(),
            blocks,
            entries,
        })
    }

    /// Blocks the index speaks of.
    pub fn block_count(&self) -> u32 {
        self.blocks
    }

    /// Distinct terms in the dictionary.
    pub fn term_count(&self) -> usize {
        self.entries.len()
    }

    /// Every term in the dictionary, in dictionary order.
    pub fn terms(&self) -> impl Iterator<Item = Term> + '_ {
        self.entries.iter().map(|e| e.key.term())
    }

    /// Every block (what an expression the index cannot narrow gives).
    pub fn all_blocks(&self) -> BlockSet {
        BlockSet::all(self.blocks)
    }

    /// The blocks that may hold `term` (exactly those whose records have it: the index is
    /// exact per block; `Net` is the union over its addresses).
    pub fn blocks_with(&self, term: Term) -> BlockSet {
        let (lo, hi) = term.key_range();
        let start = self.entries.partition_point(|e| e.key < lo);
        let mut out = BlockSet::none(self.blocks);
        for e in self.entries[start..].iter().take_while(|e| e.key <= hi) {
            out.or_assign(&self.posting(e.at));
        }
        out
    }

    /// The blocks that may hold `(t AND t ...) OR (t AND t ...) OR ...`: a tcpdump expression's
    /// narrowable part in disjunctive normal form. An empty conjunction is every block (a
    /// clause the index cannot narrow); no clause at all is no block.
    pub fn blocks_matching(&self, any_of: &[&[Term]]) -> BlockSet {
        let mut out = BlockSet::none(self.blocks);
        for all_of in any_of {
            let mut clause = BlockSet::all(self.blocks);
            for t in *all_of {
                if clause.is_empty() {
                    break;
                }
                clause = clause.and(&self.blocks_with(*t));
            }
            out.or_assign(&clause);
        }
        out
    }

    /// Decodes a posting `parse` has validated.
    fn posting(&self, mut at: usize) -> BlockSet {
        let b = &self.bytes;
        let mut set = BlockSet::none(self.blocks);
        match varint::get(b, &mut at) {
            Some(POSTING_ALL) => return BlockSet::all(self.blocks),
            Some(POSTING_BITMAP) => {
                let map = b.get(at..at + bitmap_len(self.blocks)).unwrap_or(&[]);
                for (i, &byte) in map.iter().enumerate() {
                    for bit in 0..8 {
                        if byte & (1 << bit) != 0 {
                            set.insert(i as u32 * 8 + bit);
                        }
                    }
                }
            }
            Some(n) => {
                let mut next = 0u128;
                for _ in 0..n - POSTING_LIST {
                    let Some(d) = varint::get(b, &mut at) else {
                        break;
                    };
                    let k = next + d;
                    set.insert(k as u32);
                    next = k + 1;
                }
            }
            None => {}
        }
        set
    }
}

/// Validates the posting at `at`; returns where the next term starts.
fn check_posting(b: &[u8], mut at: usize, blocks: u32) -> Result<usize> {
    let p_at = at;
    let n = varint::get(b, &mut at).ok_or(bad(p_at, "bad posting"))?;
    match n {
        POSTING_ALL => Ok(at),
        POSTING_BITMAP => {
            let len = bitmap_len(blocks);
            let map = b
                .get(at..at + len)
                .ok_or(bad(p_at, "bitmap past the end"))?;
            if !blocks.is_multiple_of(8) {
                if let Some(&last) = map.last() {
                    if last >> (blocks % 8) != 0 {
                        return Err(bad(at + len - 1, "bitmap bit past the last block"));
                    }
                }
            }
            Ok(at + len)
        }
        _ => {
            let count = n - POSTING_LIST;
            if count == 0 || count >= u128::from(blocks) {
                return Err(bad(p_at, "posting list length out of range"));
            }
            let mut next = 0u128;
            for _ in 0..count {
                let d_at = at;
                let d = varint::get(b, &mut at).ok_or(bad(d_at, "bad posting entry"))?;
                let k = next
                    .checked_add(d)
                    .filter(|k| *k < u128::from(blocks))
                    .ok_or(bad(d_at, "posting block past the last block"))?;
                next = k + 1;
            }
            Ok(at)
        }
    }
}
