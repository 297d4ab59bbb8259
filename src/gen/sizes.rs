//! Inner frame sizes of a run: one fixed size, a uniform range, or IMIX (7:4:1 of 60, 566 and
//! 1514 bytes, in a fixed cycle of 12 so the proportions are exact over any multiple of 12).
use super::{parse_inner_size, Rng};

/// The simple IMIX cycle: seven 60-byte, four 566-byte and one 1514-byte frame, interleaved.
pub const IMIX_CYCLE: [u16; 12] = [60, 566, 60, 60, 566, 60, 1514, 60, 566, 60, 60, 566];

/// How inner frame sizes are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizes {
    Fixed(usize),
    /// Uniform in MIN..=MAX, drawn from the run's seeded generator.
    Range(usize, usize),
    Imix,
}

impl Sizes {
    /// `N`, `MIN-MAX` (60..=9019) or `imix`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("imix") {
            return Ok(Sizes::Imix);
        }
        let (lo, hi) = parse_inner_size(s).map_err(|e| format!("{e}, or imix"))?;
        Ok(if lo == hi {
            Sizes::Fixed(lo)
        } else {
            Sizes::Range(lo, hi)
        })
    }

    /// The size of the `i`-th frame (of one transmit queue).
    #[inline]
    pub fn pick(&self, i: u64, rng: &mut Rng) -> usize {
        match *self {
            Sizes::Fixed(n) => n,
            Sizes::Range(lo, hi) => rng.range(lo, hi),
            Sizes::Imix => IMIX_CYCLE[(i % 12) as usize] as usize,
        }
    }

    /// The largest inner frame this can give.
    pub fn max(&self) -> usize {
        match *self {
            Sizes::Fixed(n) => n,
            Sizes::Range(_, hi) => hi,
            Sizes::Imix => 1514,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imix_cycle_is_seven_four_one() {
        let c = |n| IMIX_CYCLE.iter().filter(|&&s| s == n).count();
        assert_eq!((c(60), c(566), c(1514)), (7, 4, 1));
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(Sizes::parse("imix"), Ok(Sizes::Imix));
        assert_eq!(Sizes::parse("128"), Ok(Sizes::Fixed(128)));
        assert_eq!(Sizes::parse("60-1514"), Ok(Sizes::Range(60, 1514)));
        assert!(Sizes::parse("59").is_err());
        assert!(Sizes::parse("big").unwrap_err().contains("imix"));
    }
}
