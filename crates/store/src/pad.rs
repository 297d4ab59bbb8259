//! The zstd skippable frame that pads each compressed block to the next [`ALIGN`] boundary.
//! A skippable frame is `magic (0x184D2A50..=0x184D2A5F, LE) | length (u32 LE) | length bytes`;
//! every zstd decoder (zstdcat included) skips it, so padding costs nothing to stock tools.

use crate::ALIGN;

/// Our pad frames' magic. Not 0x184D2A5E, which the zstd seekable format uses for its seek
/// table, so no seekable-format reader mistakes a pad for one.
pub const PAD_MAGIC: u32 = 0x184d_2a5c;
/// A skippable frame's header: magic and length.
pub const SKIPPABLE_HEADER_LEN: usize = 8;

/// Bytes of padding (a whole skippable frame, or nothing) that bring `len` to a multiple of
/// [`ALIGN`]. A gap of 1..=7 bytes cannot hold a frame header, so it grows by one ALIGN.
pub fn pad_len(len: usize) -> usize {
    let gap = (ALIGN - len % ALIGN) % ALIGN;
    if gap != 0 && gap < SKIPPABLE_HEADER_LEN {
        gap + ALIGN
    } else {
        gap
    }
}

/// Appends to `buf` the pad frame that makes its length a multiple of [`ALIGN`].
pub fn pad_frame(buf: &mut Vec<u8>) {
    let pad = pad_len(buf.len());
    if pad == 0 {
        return;
    }
    buf.extend_from_slice(&PAD_MAGIC.to_le_bytes());
    buf.extend_from_slice(&((pad - SKIPPABLE_HEADER_LEN) as u32).to_le_bytes());
    buf.resize(buf.len() + pad - SKIPPABLE_HEADER_LEN, 0);
    debug_assert_eq!(buf.len() % ALIGN, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_every_length_to_alignment_with_a_valid_frame() {
        for len in [
            0,
            1,
            ALIGN - 8,
            ALIGN - 7,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            3 * ALIGN - 3,
        ] {
            let mut b = vec![1u8; len];
            pad_frame(&mut b);
            assert_eq!(b.len() % ALIGN, 0, "len {len}");
            assert!(b.len() >= len && b.len() < len + 2 * ALIGN);
            if b.len() > len {
                let magic = u32::from_le_bytes(b[len..len + 4].try_into().unwrap());
                let size = u32::from_le_bytes(b[len + 4..len + 8].try_into().unwrap()) as usize;
                assert_eq!(magic, PAD_MAGIC);
                assert_eq!(len + 8 + size, b.len());
            }
        }
    }
}
