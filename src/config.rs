//! Parsing and validating what the user asks for: sizes (`64MiB`), durations (`500ms`) and
//! the run options, each error naming the flag and the fix. Pure: no I/O, no DPDK.
#![forbid(unsafe_code)]
pub mod file;
pub mod run_config;
pub mod sessions;

pub use run_config::RunConfig;

use std::time::Duration;

/// Parses a byte size: plain bytes or a number with a binary (`KiB`, `MiB`, `GiB`, `TiB`) or
/// decimal (`KB`, `MB`, `GB`, `TB`) unit; `K`/`M`/`G`/`T` alone are binary.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size: use bytes or a unit such as 64MiB or 1GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        u => {
            return Err(format!(
                "'{s}': unknown size unit '{u}' (use B, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Parses a duration: a number with `us`, `ms`, `s`, `m`, `h` or `d` (`500ms`, `2s`, `5m`,
/// `7d`: store retention is counted in days); a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration: use e.g. 500ms, 2s, 5m"))?;
    let secs = match unit.trim() {
        "us" => n / 1e6,
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        u => {
            return Err(format!(
                "'{s}': unknown duration unit '{u}' (use us, ms, s, m, h, d)"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a byte count with a binary unit, for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("1.5d"), Ok(Duration::from_secs(36 * 3600)));
        assert!(parse_duration("7days").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}

use mirrorcap_archive::location::days_from_civil;

/// Parses a point in time into Unix nanoseconds: RFC 3339 (`2026-11-25T09:30:00Z`,
/// `2026-11-25T09:30:00.25+01:00`; a space may replace the `T`), or relative to `now_ns`
/// (`-5m`, `-90s`, `-2h`, `now`), or Unix seconds (`@1795599000`).
pub fn parse_time(s: &str, now_ns: u64) -> Result<u64, String> {
    let t = s.trim();
    let bad = || {
        format!("'{s}' is not a time: use RFC 3339 (2026-11-25T09:30:00Z), relative (-5m) or @UNIX_SECONDS")
    };
    if t == "now" {
        return Ok(now_ns);
    }
    if let Some(rel) = t.strip_prefix('-') {
        let d = parse_duration(rel).map_err(|_| bad())?;
        return Ok(now_ns.saturating_sub(d.as_nanos() as u64));
    }
    if let Some(secs) = t.strip_prefix('@') {
        // Integer arithmetic: f64 cannot hold Unix nanoseconds exactly.
        let (int, frac) = secs.split_once('.').unwrap_or((secs, ""));
        let whole: u64 = int.parse().map_err(|_| bad())?;
        if whole > 100_000_000_000 || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let frac_ns: u64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
        return Ok(whole * 1_000_000_000 + frac_ns);
    }
    let b = t.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        t.get(r).and_then(|x| x.parse::<i64>().ok()).ok_or_else(bad)
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let mut rest = &t[19..];
    let mut frac_ns: i64 = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let mut v = 0i64;
        for (i, c) in f[..digits].bytes().enumerate() {
            if i < 9 {
                v = v * 10 + (c - b'0') as i64;
            }
        }
        for _ in digits..9 {
            v *= 10;
        }
        frac_ns = v;
        rest = &f[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let oh: i64 = o[1..3].parse().map_err(|_| bad())?;
            let om: i64 = o[4..6].parse().map_err(|_| bad())?;
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return Err(bad()),
    };
    let secs =
        days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se - offset_s;
    if secs < 0 {
        return Err(format!("'{s}' is before 1970"));
    }
    Ok(secs as u64 * 1_000_000_000 + frac_ns as u64)
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn rfc3339_relative_and_unix() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z", 0), Ok(0));
        // date -u -d 2026-11-25T09:30:00Z +%s = 1795599000
        assert_eq!(
            parse_time("2026-11-25T09:30:00Z", 0),
            Ok(1_795_599_000_000_000_000)
        );
        assert_eq!(
            parse_time("2026-11-25 10:30:00+01:00", 0),
            Ok(1_795_599_000_000_000_000)
        );
        assert_eq!(
            parse_time("2026-11-25T09:30:00.25Z", 0),
            Ok(1_795_599_000_250_000_000)
        );
        assert_eq!(
            parse_time("2000-02-29T00:00:00Z", 0),
            Ok(951_782_400_000_000_000)
        );
        assert_eq!(parse_time("@1795599000", 0), Ok(1_795_599_000_000_000_000));
        assert_eq!(
            parse_time("@1795599002.746000001", 0),
            Ok(1_795_599_002_746_000_001)
        );
        let now = 1_000_000_000_000;
        assert_eq!(parse_time("-5m", now), Ok(now - 300_000_000_000));
        assert_eq!(parse_time("now", now), Ok(now));
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-25T09:30:00",
            "2026-11-25",
            "-5 parsecs",
            "@x",
        ] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }
}
