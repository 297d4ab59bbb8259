//! The index's trailing checksum, also the store index's (`mirrorcap-store`'s `checksum.rs`
//! re-exports it; this crate sits below the store): one multiply-rotate step per 8-byte word, a bijection of the state, so any change confined to
//! one word, and any change of length, changes the result.

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Checksum of `bytes` (length included).
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(K).rotate_left(29);
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

    #[test]
    fn is_the_store_index_checksum() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 13 + 5) as u8).collect();
        for len in [0, 1, 7, 8, 9, 100, 1000] {
            assert_eq!(
                checksum(&data[..len]),
                mirrorcap_store::checksum::checksum(&data[..len]),
                "len {len}"
            );
        }
    }
}
