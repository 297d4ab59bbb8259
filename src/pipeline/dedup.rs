//! De-duplication of frames mirrored twice (both ends of a conversation are mirror sources):
//! a 64-bit hash of the inner frame that ignores what differs between the two copies — the
//! Ethernet addresses (the VPC router rewrites them between the ENIs), the IPv4 TTL and
//! header checksum or the IPv6 hop limit, and the TCP/UDP checksum — and a direct-mapped
//! table of recent hashes per session and worker. A frame whose hash was seen within the
//! window is a duplicate. No allocation after the table is built.
#![forbid(unsafe_code)]

/// Entries per table (a power of two): 16384 × 16 bytes.
pub const DEDUP_ENTRIES: usize = 1 << 14;
/// Bytes of headers normalised before hashing.
const HEAD: usize = 128;

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31)
}

fn hash_bytes(mut h: u64, b: &[u8]) -> u64 {
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        h = mix(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(w) ^ (rest.len() as u64) << 56);
    }
    h
}

/// The hash of a frame that starts with Ethernet (`ethernet`) or with an IP header.
pub fn frame_hash(frame: &[u8], ethernet: bool) -> u64 {
    let n = frame.len().min(HEAD);
    let mut head = [0u8; HEAD];
    head[..n].copy_from_slice(&frame[..n]);
    let mut l3 = 0;
    let mut ethertype = 0u16;
    if ethernet {
        head[..12.min(n)].fill(0);
        l3 = 12;
        while let Some(t) = frame.get(l3..l3 + 2) {
            ethertype = u16::from_be_bytes([t[0], t[1]]);
            l3 += 2;
            if matches!(ethertype, 0x8100 | 0x88a8) {
                l3 += 2;
            } else {
                break;
            }
        }
    } else if let Some(&v) = frame.first() {
        ethertype = match v >> 4 {
            4 => 0x0800,
            6 => 0x86dd,
            _ => 0,
        };
    }
    let mut zero = |at: usize, len: usize| {
        if at + len <= n {
            head[at..at + len].fill(0);
        }
    };
    let (l4, proto) = match ethertype {
        0x0800 => {
            let ihl = frame.get(l3).map_or(20, |b| ((b & 0x0f) as usize) * 4);
            zero(l3 + 8, 1); // TTL
            zero(l3 + 10, 2); // header checksum
            (l3 + ihl, frame.get(l3 + 9).copied().unwrap_or(0))
        }
        0x86dd => {
            zero(l3 + 7, 1); // hop limit
            (l3 + 40, frame.get(l3 + 6).copied().unwrap_or(0))
        }
        _ => (0, 0),
    };
    match proto {
        6 => zero(l4 + 16, 2),
        17 => zero(l4 + 6, 2),
        _ => {}
    }
    let h = hash_bytes(0x6d63_6170_6465_6475, &head[..n]);
    hash_bytes(h, &frame[n..]) ^ frame.len() as u64
}

/// Recently seen frame hashes with the time they were seen.
pub struct DedupTable {
    entries: Box<[(u64, u64)]>,
    window_ns: u64,
}

impl DedupTable {
    pub fn new(window_ns: u64) -> Self {
        DedupTable {
            entries: vec![(0, 0); DEDUP_ENTRIES].into_boxed_slice(),
            window_ns,
        }
    }

    /// Whether a frame of hash `h` was seen within the window before `now_ns`; records it.
    #[inline]
    pub fn seen(&mut self, h: u64, now_ns: u64) -> bool {
        let e = &mut self.entries[(h as usize) & (DEDUP_ENTRIES - 1)];
        let dup = e.0 == h && e.1 != 0 && now_ns.saturating_sub(e.1) <= self.window_ns;
        *e = (h, now_ns);
        dup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/TCP frame as seen at the source ENI, and the same packet at the
    /// destination ENI: other MACs, TTL one lower, both checksums different.
    fn pair() -> (Vec<u8>, Vec<u8>) {
        let mut a = vec![0u8; 14 + 20 + 20 + 10];
        a[12..14].copy_from_slice(&[0x08, 0x00]);
        a[14] = 0x45;
        a[14 + 8] = 64;
        a[14 + 9] = 6;
        a[14 + 10..14 + 12].copy_from_slice(&[0x12, 0x34]);
        a[14 + 12..14 + 20].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        a[34 + 16..34 + 18].copy_from_slice(&[0xab, 0xcd]);
        a[54..].copy_from_slice(b"0123456789");
        let mut b = a.clone();
        b[..12].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        b[14 + 8] = 63;
        b[14 + 10] = 0x99;
        b[34 + 17] = 0x01;
        (a, b)
    }

    #[test]
    fn copies_from_both_ends_hash_alike_and_other_frames_do_not() {
        let (a, b) = pair();
        assert_eq!(frame_hash(&a, true), frame_hash(&b, true));
        let mut c = a.clone();
        c[60] ^= 1;
        assert_ne!(
            frame_hash(&a, true),
            frame_hash(&c, true),
            "payload differs"
        );
        let mut d = a.clone();
        d[14 + 15] ^= 1;
        assert_ne!(
            frame_hash(&a, true),
            frame_hash(&d, true),
            "source address differs"
        );
        // Bare IP (no Ethernet) behaves the same.
        assert_eq!(frame_hash(&a[14..], false), frame_hash(&b[14..], false));
        // Tagged frames, short frames, IPv6.
        let mut v = vec![0u8; 14 + 40 + 8 + 4];
        v[12..14].copy_from_slice(&[0x86, 0xdd]);
        v[14] = 0x60;
        v[14 + 6] = 17;
        v[14 + 7] = 64;
        v[54 + 6] = 0x55;
        let mut w = v.clone();
        w[54 + 6] = 0x66;
        w[14 + 7] = w[14 + 7].wrapping_sub(1);
        assert_eq!(frame_hash(&v, true), frame_hash(&w, true));
        assert_ne!(frame_hash(&[1, 2, 3], false), frame_hash(&[1, 2, 4], false));
        assert_eq!(
            frame_hash(&[1, 2, 3], true),
            frame_hash(&[1, 2, 4], true),
            "MAC bytes only"
        );
    }

    #[test]
    fn the_table_flags_repeats_within_the_window_only() {
        let mut t = DedupTable::new(1_000_000);
        let h = frame_hash(&pair().0, true);
        assert!(!t.seen(h, 10_000_000));
        assert!(t.seen(h, 10_500_000));
        assert!(!t.seen(h, 12_000_000), "outside the window");
        assert!(!t.seen(h ^ 1, 12_000_001));
    }
}
