//! The 64-bit checksum the index keeps per block, over the block's *uncompressed* bytes.
//! Compressed blocks also carry zstd's own content checksum, but a plain pcap has none, and a
//! flipped payload bit must give an error, not a wrong packet. This is a corruption check, not
//! a hash table hash: one multiply-rotate step per 8-byte word, and since each step is a
//! bijection of the state, any change confined to one word always changes the result.
//!
//! [`checksum`] runs one chain of steps (about 2.5 GB/s here: each step waits for the one
//! before); [`checksum_lanes`], used for blocks since index version 2, runs four independent
//! chains over interleaved words and then combines them with steps that are bijections in each
//! lane, so the same guarantee holds at four times the speed: it was a third of the store
//! writer's time per segment. [`block_checksum`] picks the one of an index's version.

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The block checksum of index `version` (1: [`checksum`], 2: [`checksum_lanes`]).
pub fn block_checksum(version: u32, bytes: &[u8]) -> u64 {
    if version >= 2 {
        checksum_lanes(bytes)
    } else {
        checksum(bytes)
    }
}

#[inline(always)]
fn step(h: u64, w: &[u8]) -> u64 {
    let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
    (h ^ w).wrapping_mul(K).rotate_left(29)
}

/// Four chains: word `i` of each 32-byte stride goes to lane `i`; the words of a last partial
/// stride go to lanes 0, 1, 2 in turn, and the last partial word (zero-padded, possibly empty)
/// to the next lane. Length included, as in [`checksum`].
pub fn checksum_lanes(bytes: &[u8]) -> u64 {
    let mut l = [
        0x243f_6a88_85a3_08d3 ^ bytes.len() as u64,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let mut strides = bytes.chunks_exact(32);
    for s in &mut strides {
        l[0] = step(l[0], &s[0..8]);
        l[1] = step(l[1], &s[8..16]);
        l[2] = step(l[2], &s[16..24]);
        l[3] = step(l[3], &s[24..32]);
    }
    let mut words = strides.remainder().chunks_exact(8);
    let mut lane = 0;
    for w in &mut words {
        l[lane] = step(l[lane], w);
        lane += 1;
    }
    let rest = words.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    l[lane] = step(l[lane], &last);
    let mut h = l[0];
    for &x in &l[1..] {
        h = (h.rotate_left(23) ^ x).wrapping_mul(K);
    }
    h ^ (h >> 32)
}

/// Checksum of `bytes` (length included, so a truncation to a word boundary also shows): the
/// flow index's own trailing checksum, the one function both indexes share.
pub use mirrorcap_index::checksum::checksum;

#[cfg(test)]
mod tests {
    use super::{checksum, checksum_lanes};

    #[test]
    fn any_single_byte_change_or_truncation_changes_it() {
        for f in [checksum, checksum_lanes] {
            let data: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
            let c = f(&data);
            for i in 0..data.len() {
                let mut d = data.clone();
                d[i] ^= 0x10;
                assert_ne!(f(&d), c, "byte {i}");
                assert_ne!(f(&data[..i]), c, "truncated to {i}");
            }
        }
    }

    #[test]
    fn words_swapped_between_lanes_change_it() {
        let mut d = vec![0u8; 64];
        d[0] = 1;
        let mut e = vec![0u8; 64];
        e[8] = 1;
        assert_ne!(checksum_lanes(&d), checksum_lanes(&e));
    }
}
