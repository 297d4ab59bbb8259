//! The previous builder, verbatim: [`RefBuilder`].

use super::RefKey;
use crate::format::encode;
use crate::hash::SeededState;
use crate::term::Key;
use std::collections::{HashMap, HashSet};

/// Builds one file's flow index.
#[derive(Debug, Default)]
pub struct RefBuilder {
    /// Keys seen in block `seen_block`.
    seen: HashSet<RefKey, SeededState>,
    seen_block: u32,
    /// The last key added (in `seen`).
    last: Option<RefKey>,
    /// Terms of the flows in `seen`.
    block_terms: HashSet<Key, SeededState>,
    postings: HashMap<Key, Vec<u32>, SeededState>,
    blocks: u32,
    frames: u64,
}

impl RefBuilder {
    pub fn new() -> RefBuilder {
        RefBuilder::default()
    }

    /// Adds a frame (the inner Ethernet frame as stored) of block `block_no`, with its record
    /// metadata word (`RecordMeta.0`: VNI and session id). Blocks normally come in ascending
    /// order; any order gives the same index, only slower. Block numbers must stay below
    /// [`crate::MAX_BLOCKS`] (2^24), or the index is refused when parsed.
    pub fn push(&mut self, block_no: u32, frame: &[u8], meta: u32) {
        self.add(block_no, RefKey::extract(frame, meta));
    }

    /// Adds a frame's already extracted key.
    pub fn add(&mut self, block_no: u32, key: RefKey) {
        self.frames += 1;
        self.blocks = self.blocks.max(block_no.saturating_add(1));
        if block_no != self.seen_block {
            self.flush();
            self.seen.clear();
            self.last = None;
            self.seen_block = block_no;
        }
        // Packets of a flow come in trains (a TCP window, a burst): the last key is free.
        if self.last == Some(key) {
            return;
        }
        self.last = Some(key);
        if !self.seen.insert(key) {
            return;
        }
        key.for_each_key(|k| {
            self.block_terms.insert(k);
        });
    }

    /// Moves the current block's terms into the postings: one update of the (large) posting
    /// map per distinct term of the block, not per flow.
    fn flush(&mut self) {
        let block_no = self.seen_block;
        for k in self.block_terms.drain() {
            let list = self.postings.entry(k).or_default();
            // Ascending blocks: a repeat is the last entry. Others are deduplicated at the end.
            if list.last() != Some(&block_no) {
                list.push(block_no);
            }
        }
    }

    /// Declares that the file has at least `blocks` blocks (blocks with no frame pushed, such
    /// as an empty file's block 0, then exist in the index and match no term).
    pub fn set_block_count(&mut self, blocks: u32) {
        self.blocks = self.blocks.max(blocks);
    }

    /// Frames pushed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The index bytes ([`crate::FlowIndex::parse`] reads them).
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        let mut terms: Vec<(Key, Vec<u32>)> = self.postings.into_iter().collect();
        terms.sort_unstable_by_key(|t| t.0);
        for (_, list) in &mut terms {
            list.sort_unstable();
            list.dedup();
        }
        encode(&terms, self.blocks)
    }
}
