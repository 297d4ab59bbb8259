//! [`BlockSet`]: a set of block numbers of one file, as a bitmap (a file has at most a few
//! thousand blocks: 4 GiB at 1 MiB).

/// Blocks of one file that may hold what a query asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockSet {
    words: Vec<u64>,
    blocks: u32,
}

impl BlockSet {
    /// No block of a file of `blocks` blocks.
    pub fn none(blocks: u32) -> BlockSet {
        BlockSet {
            words: vec![0; (blocks as usize).div_ceil(64)],
            blocks,
        }
    }

    /// Every block of a file of `blocks` blocks (what a term the index cannot answer gives).
    pub fn all(blocks: u32) -> BlockSet {
        let mut s = BlockSet::none(blocks);
        for w in &mut s.words {
            *w = u64::MAX;
        }
        s.trim();
        s
    }

    fn trim(&mut self) {
        let tail = self.blocks % 64;
        if tail != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << tail) - 1;
            }
        }
    }

    /// Blocks in the file (not in the set: see [`BlockSet::len`]).
    pub fn block_count(&self) -> u32 {
        self.blocks
    }

    /// Adds block `k`; ignored past the file's blocks.
    pub fn insert(&mut self, k: u32) {
        if k < self.blocks {
            self.words[(k / 64) as usize] |= 1 << (k % 64);
        }
    }

    pub fn contains(&self, k: u32) -> bool {
        k < self.blocks && self.words[(k / 64) as usize] & (1 << (k % 64)) != 0
    }

    /// Blocks in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Blocks in both (a file's sets have the same block count; a shorter set counts as
    /// holding none of the other's extra blocks).
    pub fn and(&self, other: &BlockSet) -> BlockSet {
        let mut out = BlockSet::none(self.blocks.max(other.blocks));
        for (i, o) in out.words.iter_mut().enumerate() {
            *o = self.words.get(i).copied().unwrap_or(0) & other.words.get(i).copied().unwrap_or(0);
        }
        out
    }

    /// Blocks in either.
    pub fn or(&self, other: &BlockSet) -> BlockSet {
        let mut out = BlockSet::none(self.blocks.max(other.blocks));
        for (i, o) in out.words.iter_mut().enumerate() {
            *o = self.words.get(i).copied().unwrap_or(0) | other.words.get(i).copied().unwrap_or(0);
        }
        out
    }

    /// In-place `or`, for unions of many postings (a `net`).
    pub(crate) fn or_assign(&mut self, other: &BlockSet) {
        for (o, w) in self.words.iter_mut().zip(&other.words) {
            *o |= w;
        }
    }

    /// The block numbers, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros();
                    w &= w - 1;
                    i as u32 * 64 + b
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_ops() {
        let mut a = BlockSet::none(130);
        let mut b = BlockSet::none(130);
        for k in [0, 5, 64, 129] {
            a.insert(k);
        }
        for k in [5, 63, 129] {
            b.insert(k);
        }
        a.insert(130); // past the end: ignored
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![0, 5, 64, 129]);
        assert_eq!(a.and(&b).iter().collect::<Vec<_>>(), vec![5, 129]);
        assert_eq!(a.or(&b).iter().collect::<Vec<_>>(), vec![0, 5, 63, 64, 129]);
        assert_eq!(a.len(), 4);
        assert!(a.contains(64) && !a.contains(63) && !a.contains(1000));
        assert!(BlockSet::none(130).is_empty());
        let all = BlockSet::all(130);
        assert_eq!(all.len(), 130);
        assert_eq!(all.and(&a), a);
        assert_eq!(BlockSet::all(0).len(), 0);
        assert_eq!(BlockSet::all(64).len(), 64);
    }
}
