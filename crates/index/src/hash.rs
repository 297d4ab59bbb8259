//! The builder's hash: a folded 64×64→128-bit multiply per word (the mixing step of foldhash
//! and wyhash), seeded per builder from the standard library's random keys. The default
//! SipHash made the builder cost 400–800 ns a packet (docs/index.md); this one a fraction of
//! that. The keys are packet fields an outside sender chooses, hence the random seed: without
//! it, colliding flows could be crafted to slow the store writer down (never a worker: the
//! index is built on the control side), with it they cannot be computed offline.

use std::hash::{BuildHasher, Hasher};

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

/// A seeded [`BuildHasher`].
#[derive(Clone, Copy, Debug)]
pub struct SeededState {
    seed: u64,
}

impl Default for SeededState {
    fn default() -> Self {
        SeededState {
            seed: std::collections::hash_map::RandomState::new().hash_one(0x6d63_u64),
        }
    }
}

impl BuildHasher for SeededState {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { h: self.seed }
    }
}

/// The hasher [`SeededState`] builds.
#[derive(Clone, Copy, Debug)]
pub struct FoldHasher {
    h: u64,
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ (rest.len() as u64) << 59);
        }
    }

    #[inline]
    fn write_u64(&mut self, w: u64) {
        self.h = fold(self.h ^ w, K0);
    }

    #[inline]
    fn write_u8(&mut self, w: u8) {
        self.write_u64(w.into());
    }

    #[inline]
    fn write_u16(&mut self, w: u16) {
        self.write_u64(w.into());
    }

    #[inline]
    fn write_u32(&mut self, w: u32) {
        self.write_u64(w.into());
    }

    #[inline]
    fn write_u128(&mut self, w: u128) {
        self.write_u64(w as u64);
        self.write_u64((w >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, w: usize) {
        self.write_u64(w as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold(self.h, K1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn spreads_close_keys_over_the_low_and_high_bits() {
        let s = SeededState::default();
        let low: HashSet<u64> = (0..4096u64).map(|i| s.hash_one(i) & 0xfff).collect();
        let high: HashSet<u64> = (0..4096u64).map(|i| s.hash_one(i) >> 57).collect();
        assert!(low.len() > 2400, "{}", low.len());
        assert_eq!(high.len(), 128);
        assert_ne!(
            s.hash_one(1u64),
            SeededState::default().hash_one(1u64),
            "seeded"
        );
    }
}
