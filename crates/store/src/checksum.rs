//! The 64-bit checksum the index keeps per block, over the block's *uncompressed* bytes.
//! Compressed blocks also carry zstd's own content checksum, but a plain pcap has none, and a
//! flipped payload bit must give an error, not a wrong packet. This is a corruption check, not
//! a hash table hash: one multiply-rotate step per 8-byte word (several GB/s), and since each
//! step is a bijection of the state, any change confined to one word always changes the result.

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Checksum of `bytes` (length included, so a truncation to a word boundary also shows).
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let rest = words.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::checksum;

    #[test]
    fn any_single_byte_change_or_truncation_changes_it() {
        let data: Vec<u8> = (0..100u32).map(|i| (i * 7) as u8).collect();
        let c = checksum(&data);
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0x10;
            assert_ne!(checksum(&d), c, "byte {i}");
            assert_ne!(checksum(&data[..i]), c, "truncated to {i}");
        }
    }
}
