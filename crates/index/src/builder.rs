//! [`IndexBuilder`]: frames in (with the number of the block that holds them), index bytes
//! out. Runs where the data is written (the store writer, or whatever seals a ring segment),
//! never on a worker.
//!
//! Per frame: extract its [`FlowKey`] (no allocation, fixed-size fields), compare its four
//! words with the previous frame's (a flow's packets come in trains), else hash them once
//! (four independent multiplies, `hash.rs`) and look them up in the set of keys the current
//! block has seen. Only a key new to the block adds its terms to the block's term sets: a bit
//! per value for the 16-bit kinds (EtherType, VLAN ID, protocol, port), small hash sets for
//! VNIs and addresses. At the block's end each distinct term of the block appends the block
//! to its posting. So a frame costs an extraction and one compare or one lookup; a new flow a
//! few bit tests and at most three set inserts; a distinct term of a block one posting-map
//! update. Memory: one block's flows and terms, 32 KiB of bits, and the dictionary.
//!
//! The index this gives is byte for byte the one of the simpler builder it replaced (one
//! `HashSet<Key>` of the block's terms, a derived-`Hash`-like key): `reference.rs` keeps that
//! one, and a proptest holds the two to the same bytes.

use crate::format::encode;
use crate::hash::SeededState;
use crate::key::{FlowKey, KeyVisitor};
use crate::term::{Key, Kind};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};

/// A flow key's words and their hash, computed once per frame.
#[derive(Clone, Copy, Debug)]
struct Hashed {
    h: u64,
    w: [u128; 4],
}

/// Equal words, without a call to `memcmp` (what the derived `==` of arrays becomes).
#[inline(always)]
fn same(a: &[u128; 4], b: &[u128; 4]) -> bool {
    ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0
}

impl PartialEq for Hashed {
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        self.h == o.h && same(&self.w, &o.w)
    }
}

impl Eq for Hashed {}

impl Hash for Hashed {
    fn hash<H: Hasher>(&self, s: &mut H) {
        s.write_u64(self.h);
    }
}

/// Gives a [`Hashed`]'s hash as it is (it is seeded already).
#[derive(Clone, Copy, Debug, Default)]
struct PassThrough;

#[derive(Clone, Copy, Debug, Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only Hashed is hashed with PassThrough");
    }
    #[inline]
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

/// Words of the bit set of each 16-bit kind.
const SMALL_WORDS: usize = (1 << 16) / 64;

/// The 16-bit kinds' place in [`Terms::bits`].
#[inline(always)]
fn small_slot(kind: Kind) -> usize {
    match kind {
        Kind::EtherType => 0,
        Kind::Vlan => 1,
        Kind::Proto => 2,
        _ => 3,
    }
}

/// The dictionary and the postings, and which terms the current block has.
#[derive(Debug)]
struct Terms {
    /// The block whose flows' terms come in.
    block: u32,
    /// Each term's number (in `keys`) and the block it was last posted for, side by side (one
    /// cache line per lookup): all kinds but IPv6 as `kind << 32 | value`.
    ids: HashMap<u64, (u32, u32), SeededState>,
    ids6: HashMap<u128, (u32, u32), SeededState>,
    keys: Vec<Key>,
    /// (term number, block) for each distinct term of each block, in the order the blocks
    /// came: grouped by term only at the end, so a term costs no list of its own.
    postings: Vec<(u32, u32)>,
    /// EtherType, VLAN ID, protocol, port: a bit per value the current block has (so a
    /// server port or an EtherType costs the dictionary one lookup per block, not per flow),
    /// set while in `small`.
    bits: Vec<u64>,
    small: Vec<(Kind, u16)>,
}

impl Default for Terms {
    fn default() -> Self {
        Terms {
            block: 0,
            ids: HashMap::default(),
            ids6: HashMap::default(),
            keys: Vec::new(),
            postings: Vec::new(),
            bits: vec![0; 4 * SMALL_WORDS],
            small: Vec::new(),
        }
    }
}

impl Terms {
    /// The term of `slot` (its number, the block it was last posted for) occurs in `block`.
    #[inline]
    fn post(postings: &mut Vec<(u32, u32)>, slot: &mut (u32, u32), block: u32) {
        if slot.1 != block {
            slot.1 = block;
            postings.push((slot.0, block));
        }
    }

    /// A new term's slot: its number, posted for no block yet.
    fn new_slot(keys: &mut Vec<Key>, key: Key) -> (u32, u32) {
        keys.push(key);
        (keys.len() as u32 - 1, u32::MAX)
    }

    /// A term of any kind but IPv6 (whose value fits 32 bits).
    #[inline]
    fn term(&mut self, kind: Kind, val: u32) {
        let keys = &mut self.keys;
        let slot = self
            .ids
            .entry(u64::from(kind as u8) << 32 | u64::from(val))
            .or_insert_with(|| Self::new_slot(keys, Key::new(kind, val.into())));
        Self::post(&mut self.postings, slot, self.block);
    }

    /// The next block's terms come in.
    fn start_block(&mut self, block: u32) {
        for (kind, v) in self.small.drain(..) {
            self.bits[small_slot(kind) * SMALL_WORDS + usize::from(v / 64)] = 0;
        }
        self.block = block;
    }
}

impl KeyVisitor for Terms {
    #[inline]
    fn vni(&mut self, vni: u32) {
        self.term(Kind::Vni, vni);
    }
    #[inline]
    fn untagged(&mut self) {
        self.term(Kind::Untagged, 0);
    }
    #[inline]
    fn small(&mut self, kind: Kind, val: u16) {
        let at = small_slot(kind) * SMALL_WORDS + usize::from(val / 64);
        let bit = 1u64 << (val % 64);
        if self.bits[at] & bit == 0 {
            self.bits[at] |= bit;
            self.small.push((kind, val));
            self.term(kind, val.into());
        }
    }
    #[inline]
    fn ipv4(&mut self, a: u32) {
        self.term(Kind::Ipv4, a);
    }
    #[inline]
    fn ipv6(&mut self, a: u128) {
        let keys = &mut self.keys;
        let slot = self
            .ids6
            .entry(a)
            .or_insert_with(|| Self::new_slot(keys, Key::new(Kind::Ipv6, a)));
        Self::post(&mut self.postings, slot, self.block);
    }
}

/// Builds one file's flow index.
#[derive(Debug)]
pub struct IndexBuilder {
    state: SeededState,
    /// Keys seen in block `seen_block`.
    seen: HashSet<Hashed, PassThrough>,
    seen_block: u32,
    /// The last key added's words (in `seen`), or [`NO_KEY`], which no key has (the top 31
    /// bits of a key's second word are zero).
    last: [u128; 4],
    terms: Terms,
    blocks: u32,
    frames: u64,
}

const NO_KEY: [u128; 4] = [u128::MAX; 4];

impl Default for IndexBuilder {
    fn default() -> Self {
        IndexBuilder {
            state: SeededState::default(),
            seen: HashSet::default(),
            seen_block: 0,
            last: NO_KEY,
            terms: Terms::default(),
            blocks: 0,
            frames: 0,
        }
    }
}

impl IndexBuilder {
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Adds a frame (the inner Ethernet frame as stored) of block `block_no`, with its record
    /// metadata word (`RecordMeta.0`: VNI and session id). Blocks normally come in ascending
    /// order; any order gives the same index, only slower. Block numbers must stay below
    /// [`crate::MAX_BLOCKS`] (2^24), or the index is refused when parsed.
    #[inline]
    pub fn push(&mut self, block_no: u32, frame: &[u8], meta: u32) {
        self.add(block_no, FlowKey::extract(frame, meta));
    }

    /// Adds a frame's already extracted key.
    pub fn add(&mut self, block_no: u32, key: FlowKey) {
        self.frames += 1;
        self.blocks = self.blocks.max(block_no.saturating_add(1));
        if block_no != self.seen_block {
            self.seen.clear();
            self.last = NO_KEY;
            self.seen_block = block_no;
            self.terms.start_block(block_no);
        }
        // Packets of a flow come in trains (a TCP window, a burst): the last key is free.
        let w = key.words();
        if same(&self.last, &w) {
            return;
        }
        self.last = w;
        let h = self.state.hash_words(&w);
        if !self.seen.insert(Hashed { h, w }) {
            return;
        }
        key.visit(&mut self.terms);
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
    pub fn finish(self) -> Vec<u8> {
        let Terms { keys, postings, .. } = self.terms;
        // Group the (term, block) pairs by term, keeping their order (a counting sort).
        let mut start = vec![0usize; keys.len() + 1];
        for &(id, _) in &postings {
            start[id as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut next = start.clone();
        let mut blocks = vec![0u32; postings.len()];
        for &(id, b) in &postings {
            blocks[next[id as usize]] = b;
            next[id as usize] += 1;
        }
        drop(postings);
        let mut terms: Vec<(Key, &[u32])> = Vec::with_capacity(keys.len());
        let mut rest: &mut [u32] = &mut blocks;
        for (i, &k) in keys.iter().enumerate() {
            let (list, tail) = rest.split_at_mut(start[i + 1] - start[i]);
            rest = tail;
            // Blocks that came in ascending order are sorted and unique already; others (a
            // block that came back after another) are made so.
            let mut n = list.len();
            if !list.windows(2).all(|w| w[0] < w[1]) {
                list.sort_unstable();
                let mut w = 1;
                for r in 1..n {
                    if list[r] != list[w - 1] {
                        list[w] = list[r];
                        w += 1;
                    }
                }
                n = w;
            }
            terms.push((k, &list[..n]));
        }
        terms.sort_unstable_by_key(|t| t.0);
        encode(&terms, self.blocks)
    }
}
