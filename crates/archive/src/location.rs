//! Where archived files go: the `s3://BUCKET/PREFIX` URL, the appliance id, and the object
//! key of each store file's objects.
//!
//! ```text
//! PREFIX/APPLIANCE/worker-NN/pcap/YYYY-MM-DD/NAME.pcap.zst   data (NAME.pcap uncompressed)
//! PREFIX/APPLIANCE/worker-NN/pcap/YYYY-MM-DD/NAME.fidx       flow index
//! PREFIX/APPLIANCE/worker-NN/pcap/YYYY-MM-DD/NAME.idx        store index, uploaded last
//! PREFIX/APPLIANCE/worker-NN/flows/YYYY-MM-DD/NAME.flows.parquet   flow records
//! ```
//! NAME is the store file's own name, which leads with its first packet's Unix ns (20 digits),
//! so keys sort by time within a worker; YYYY-MM-DD is that packet's UTC date, so a time range
//! lists only its days. The `.idx` goes last, so, as on disk, its presence marks a complete
//! file. The flow records have a tree of their own so that an Athena table over them never
//! meets a pcap object.

use std::fmt;
use std::str::FromStr;

/// `s3://BUCKET[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveUrl {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

/// Whether `s` names an archive rather than a directory.
pub fn is_archive_url(s: &str) -> bool {
    s.starts_with("s3://")
}

impl FromStr for ArchiveUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s:?}: an archive is s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        if bucket.len() < 3 || bucket.len() > 63 || !bucket.chars().all(ok) {
            return Err(format!(
                "{s:?}: bucket {bucket:?} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..")
            || prefix.contains("//")
            || prefix.chars().any(char::is_control)
        {
            return Err(format!(
                "{s:?}: prefix {prefix:?} is not a usable key prefix"
            ));
        }
        Ok(ArchiveUrl {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl fmt::Display for ArchiveUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl ArchiveUrl {
    /// `PREFIX/rest` (or `rest` with no prefix).
    pub fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }
}

/// Checks an appliance id: it is one path segment of every key.
pub fn check_appliance_id(id: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > 128 || !id.chars().all(ok) || id.starts_with('.') {
        return Err(format!(
            "appliance id {id:?}: 1-128 of A-Z a-z 0-9 - _ . (not starting with .)"
        ));
    }
    Ok(())
}

/// The tree a suffix's objects go to.
pub fn tree(suffix: &str) -> &'static str {
    if suffix == FLOWS_SUFFIX {
        "flows"
    } else {
        "pcap"
    }
}

/// The flow records' suffix (`mirrorcap_flows::FLOWS_SUFFIX`).
pub const FLOWS_SUFFIX: &str = ".flows.parquet";

/// `worker-NN`.
pub fn worker_segment(worker: usize) -> String {
    format!("worker-{worker:02}")
}

/// The key of store file `name`'s object with `suffix` (`.pcap.zst`, `.idx`, ...).
pub fn object_key(
    url: &ArchiveUrl,
    appliance: &str,
    worker: usize,
    name: &str,
    first_ts_ns: u64,
    suffix: &str,
) -> String {
    url.key(&format!(
        "{appliance}/{}/{}/{}/{name}{suffix}",
        worker_segment(worker),
        tree(suffix),
        utc_date(first_ts_ns)
    ))
}

/// The UTC date `YYYY-MM-DD` of Unix time `ns`.
pub fn utc_date(ns: u64) -> String {
    let (y, m, d) = civil_from_days((ns / 1_000_000_000 / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
pub fn days_of_date(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if s.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian, Howard Hinnant's
/// algorithm); the one the binary's time parsing and `flows` output use too.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_bad_ones_say_why() {
        let u: ArchiveUrl = "s3://my-bucket/a/b/".parse().unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("my-bucket", "a/b"));
        assert_eq!(u.to_string(), "s3://my-bucket/a/b");
        let bare: ArchiveUrl = "s3://bkt".parse().unwrap();
        assert_eq!(bare.key("x"), "x");
        for bad in [
            "s3://",
            "s3://A_B/x",
            "http://b/x",
            "s3://bk/../x",
            "s3://bk/a//b",
        ] {
            assert!(bad.parse::<ArchiveUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_sort_by_time_and_dates_round_trip() {
        let u: ArchiveUrl = "s3://bkt/p".parse().unwrap();
        let ts = 1_700_000_000_123_456_789;
        let k = object_key(&u, "i-0abc", 3, "NAME", ts, ".idx");
        assert_eq!(k, "p/i-0abc/worker-03/pcap/2023-11-14/NAME.idx");
        let f = object_key(&u, "i-0abc", 3, "NAME", ts, FLOWS_SUFFIX);
        assert_eq!(f, "p/i-0abc/worker-03/flows/2023-11-14/NAME.flows.parquet");
        assert_eq!(utc_date(0), "1970-01-01");
        for days in [0i64, 59, 60, 365, 10_957, 19_675, 20_000, 47_482] {
            let date = utc_date(days as u64 * 86_400_000_000_000);
            assert_eq!(days_of_date(&date), Some(days), "{date}");
        }
        assert_eq!(days_of_date("2024-02-29"), Some(19_782));
        assert_eq!(days_of_date("2024-13-01"), None);
        assert!(check_appliance_id("i-0123456789abcdef0").is_ok());
        assert!(check_appliance_id("a/b").is_err() && check_appliance_id("").is_err());
    }
}
