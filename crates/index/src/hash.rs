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
    /// Secret words for both operands of each multiply ([`SeededState::hash_words`],
    /// `write_u128`): a known operand could be chosen to cancel the other one.
    secret: [u64; 8],
}

impl Default for SeededState {
    fn default() -> Self {
        let r = std::collections::hash_map::RandomState::new();
        let mut secret = [0u64; 8];
        for (i, s) in secret.iter_mut().enumerate() {
            *s = r.hash_one(0x6d63_0100_u64 + i as u64);
        }
        SeededState {
            seed: r.hash_one(0x6d63_u64),
            secret,
        }
    }
}

impl SeededState {
    /// The hash of four 128-bit words (a flow key's, `FlowKey::words`): four independent
    /// multiplies, each of a word's halves with secret words, then one to fold them. About a
    /// quarter of the latency of the same bytes through [`Hasher::write_u64`] one after the
    /// other.
    #[inline]
    pub fn hash_words(&self, w: &[u128; 4]) -> u64 {
        let s = &self.secret;
        let half = |x: u128, i: usize| fold(x as u64 ^ s[i], (x >> 64) as u64 ^ s[i + 1]);
        let (a, b, c, d) = (half(w[0], 0), half(w[1], 2), half(w[2], 4), half(w[3], 6));
        fold(a ^ c ^ self.seed, b ^ d ^ K1)
    }
}

impl BuildHasher for SeededState {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher {
            h: self.seed,
            s: self.secret[0],
        }
    }
}

/// The hasher [`SeededState`] builds.
#[derive(Clone, Copy, Debug)]
pub struct FoldHasher {
    h: u64,
    /// A secret word for `write_u128`'s second operand.
    s: u64,
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

    /// One multiply for both halves (an IPv6 address, a dictionary key's value), each side
    /// with a secret.
    #[inline]
    fn write_u128(&mut self, w: u128) {
        self.h = fold(self.h ^ w as u64, (w >> 64) as u64 ^ self.s);
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
        // The same over 128-bit values and flow key words, whichever word differs.
        let low: HashSet<u64> = (0..4096u128).map(|i| s.hash_one(i << 64) & 0xfff).collect();
        assert!(low.len() > 2400, "{}", low.len());
        for at in 0..4 {
            for shift in [0, 64] {
                let w = |i: u128| {
                    let mut w = [7u128; 4];
                    w[at] ^= i << shift;
                    w
                };
                let low: HashSet<u64> =
                    (0..4096u128).map(|i| s.hash_words(&w(i)) & 0xfff).collect();
                let high: HashSet<u64> = (0..4096u128).map(|i| s.hash_words(&w(i)) >> 57).collect();
                assert!(low.len() > 2400, "word {at} << {shift}: {}", low.len());
                assert_eq!(high.len(), 128, "word {at} << {shift}");
            }
        }
        assert_ne!(
            s.hash_words(&[1; 4]),
            SeededState::default().hash_words(&[1; 4])
        );
    }
}
