//! LEB128 unsigned varints (7 bits a byte, low first) up to 128 bits: dictionary deltas and
//! posting lists. Decoding refuses overlong or overflowing encodings, so every value has one
//! encoding and a damaged byte cannot silently become another value's encoding.

/// Appends `v`.
pub fn put(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `put` writes for `v`.
pub fn len(v: u128) -> usize {
    let bits = 128 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Reads one varint at `*at`, advancing it; `None` when cut short, overlong (a final zero byte
/// after the first) or wider than 128 bits.
pub fn get(bytes: &[u8], at: &mut usize) -> Option<u128> {
    let mut v: u128 = 0;
    let mut shift = 0u32;
    loop {
        let b = *bytes.get(*at)?;
        *at += 1;
        let low = u128::from(b & 0x7f);
        if shift > 0 && b == 0 {
            return None; // overlong: a trailing zero group
        }
        if shift >= 128 || (shift > 121 && low >> (128 - shift) != 0) {
            return None;
        }
        v |= low << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_lengths() {
        for v in [
            0u128,
            1,
            127,
            128,
            300,
            1 << 32,
            u64::MAX as u128,
            u128::MAX - 1,
            u128::MAX,
        ] {
            let mut b = Vec::new();
            put(&mut b, v);
            assert_eq!(b.len(), len(v), "{v}");
            let mut at = 0;
            assert_eq!(get(&b, &mut at), Some(v), "{v}");
            assert_eq!(at, b.len());
            for cut in 0..b.len() {
                assert_eq!(get(&b[..cut], &mut 0), None, "{v} cut {cut}");
            }
        }
    }

    #[test]
    fn overlong_and_overflowing_are_refused() {
        assert_eq!(get(&[0x80, 0x00], &mut 0), None);
        assert_eq!(get(&[0x81, 0x80, 0x00], &mut 0), None);
        let mut max = Vec::new();
        put(&mut max, u128::MAX);
        assert_eq!(max.len(), 19);
        let last = max.len() - 1;
        max[last] = 0x7f; // bits past 128
        assert_eq!(get(&max, &mut 0), None);
        assert_eq!(get(&[0xff; 20], &mut 0), None);
    }
}
