//! Mirror sessions as validated from the configuration file: which VNIs (and outer sources)
//! each takes, what it keeps (action, snaplen, 1-in-N sampling, a tcpdump-syntax filter on the
//! inner frame, de-duplication), and the default for VNIs no session names.
#![forbid(unsafe_code)]
use super::file::{ConfigError, Loaded};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;
use toml::Spanned;

/// Most configured sessions (their slot numbers 1..=254 are stored with each record).
pub const MAX_SESSIONS: usize = 254;
/// Largest snaplen (the ring's own).
pub const MAX_SNAPLEN: u32 = 262_144;
/// Longest de-duplication window.
pub const MAX_DEDUP: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Capture,
    Drop,
}

/// An address prefix (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address or prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                masked(u32::from(a) as u128, self.prefix, 32)
                    == masked(u32::from(b) as u128, self.prefix, 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                masked(u128::from(a), self.prefix, 128) == masked(u128::from(b), self.prefix, 128)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a session keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub action: Action,
    /// Bytes kept of each frame; 0 keeps whole frames.
    pub snaplen: u32,
    /// Keep 1 packet in `sample` (1 keeps all).
    pub sample: u32,
    /// tcpdump syntax, applied to the inner frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Window within which the same inner frame seen again is a duplicate.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_dur")]
    pub dedup: Option<Duration>,
}

fn ser_dur<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(&format!("{}us", d.as_micros())),
        None => s.serialize_none(),
    }
}

/// One configured session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    pub name: String,
    pub vni: Vec<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<Cidr>,
    #[serde(flatten)]
    pub policy: Policy,
}

/// Every session, in file order (first match wins), and the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionSet {
    #[serde(rename = "session", skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<Session>,
    pub default: Policy,
}

/// Checks a filter expression (libpcap compiles it) for a snaplen.
pub type FilterCheck<'a> = &'a dyn Fn(&str, u32) -> Result<(), String>;

/// Checks a session filter the way the workers will compile it, with libpcap alone (no DPDK,
/// so `check-config` works anywhere): for Ethernet inner frames. Only the Ethernet form must
/// compile: link-layer expressions (`ether host …`) match no bare-IP frame.
pub fn check_filter(expr: &str, _snaplen: u32) -> Result<(), String> {
    mirrorcap_filter::check(expr, mirrorcap_filter::LinkType::Ethernet)
}

struct PolicyFields<'a> {
    action: &'a Option<Spanned<String>>,
    snaplen: &'a Option<Spanned<u32>>,
    sample: &'a Option<Spanned<u32>>,
    filter: &'a Option<Spanned<String>>,
    dedup: &'a Option<Spanned<String>>,
}

fn policy(
    l: &Loaded,
    at: &str,
    f: PolicyFields,
    check: FilterCheck,
) -> Result<Policy, ConfigError> {
    let mut p = Policy {
        sample: 1,
        ..Policy::default()
    };
    if let Some(a) = f.action {
        p.action = match a.get_ref().as_str() {
            "capture" => Action::Capture,
            "drop" => Action::Drop,
            other => {
                return Err(l.error(
                    a,
                    &format!("{at}.action"),
                    format!("{other:?}: use \"capture\" or \"drop\""),
                ))
            }
        };
    }
    if let Some(s) = f.snaplen {
        let v = *s.get_ref();
        if v != 0 && !(14..=MAX_SNAPLEN).contains(&v) {
            return Err(l.error(
                s,
                &format!("{at}.snaplen"),
                format!("{v}: use 0 (whole frames) or 14 to {MAX_SNAPLEN}"),
            ));
        }
        p.snaplen = v;
    }
    if let Some(s) = f.sample {
        if *s.get_ref() == 0 {
            return Err(l.error(
                s,
                &format!("{at}.sample"),
                "0: keep 1 packet in N needs N >= 1 (1 keeps all)",
            ));
        }
        p.sample = *s.get_ref();
    }
    if let Some(e) = f.filter {
        let expr = e.get_ref().trim();
        if expr.is_empty() {
            return Err(l.error(
                e,
                &format!("{at}.filter"),
                "empty filter: leave the key out to keep every packet",
            ));
        }
        let snap = if p.snaplen == 0 {
            MAX_SNAPLEN
        } else {
            p.snaplen
        };
        check(expr, snap).map_err(|m| l.error(e, &format!("{at}.filter"), m))?;
        p.filter = Some(expr.to_string());
    }
    if let Some(d) = f.dedup {
        let w = super::parse_duration(d.get_ref())
            .map_err(|m| l.error(d, &format!("{at}.dedup"), m))?;
        if w.is_zero() || w > MAX_DEDUP {
            return Err(l.error(
                d,
                &format!("{at}.dedup"),
                "the window must be above 0 and at most 1s (e.g. \"2ms\")",
            ));
        }
        p.dedup = Some(w);
    }
    Ok(p)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Validates the sessions and the default of a loaded file.
pub fn sessions(l: &Loaded, check: FilterCheck) -> Result<SessionSet, ConfigError> {
    let c = &l.config;
    let d = &c.default;
    let default = policy(
        l,
        "default",
        PolicyFields {
            action: &d.action,
            snaplen: &d.snaplen,
            sample: &d.sample,
            filter: &d.filter,
            dedup: &d.dedup,
        },
        check,
    )?;
    let mut out = Vec::with_capacity(c.sessions.len());
    for (i, s) in c.sessions.iter().enumerate() {
        let at = format!("session[{i}]");
        if i >= MAX_SESSIONS {
            return Err(l.error(&s.name, &at, format!("at most {MAX_SESSIONS} sessions")));
        }
        let name = s.name.get_ref().clone();
        if !valid_name(&name) || name.starts_with("vni-") || name == "untagged" {
            return Err(l.error(
                &s.name,
                &format!("{at}.name"),
                format!("{name:?}: use 1-64 letters, digits, '-', '_' or '.', not starting with \"vni-\" nor \"untagged\" (those name unconfigured traffic)"),
            ));
        }
        if out.iter().any(|o: &Session| o.name == name) {
            return Err(l.error(
                &s.name,
                &format!("{at}.name"),
                format!("{name:?} is the name of an earlier session"),
            ));
        }
        let vni = s.vni.get_ref().to_vec();
        if vni.is_empty() {
            return Err(l.error(&s.vni, &format!("{at}.vni"), "name at least one VNI"));
        }
        if let Some(v) = vni.iter().find(|&&v| v > 0x00ff_ffff) {
            return Err(l.error(
                &s.vni,
                &format!("{at}.vni"),
                format!("{v}: a VNI has 24 bits (0 to 16777215)"),
            ));
        }
        let mut source = Vec::new();
        if let Some(src) = &s.source {
            for a in src.get_ref() {
                source.push(Cidr::parse(a).map_err(|m| l.error(src, &format!("{at}.source"), m))?);
            }
        }
        let policy = policy(
            l,
            &at,
            PolicyFields {
                action: &s.action,
                snaplen: &s.snaplen,
                sample: &s.sample,
                filter: &s.filter,
                dedup: &s.dedup,
            },
            check,
        )?;
        out.push(Session {
            name,
            vni,
            source,
            policy,
        });
    }
    Ok(SessionSet {
        sessions: out,
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(s: &str) -> Result<SessionSet, ConfigError> {
        let l = Loaded::parse(Path::new("m.toml"), s.to_string())?;
        let check = |e: &str, _snap: u32| {
            if e.contains("bogus") {
                Err("syntax error".to_string())
            } else {
                Ok(())
            }
        };
        sessions(&l, &check)
    }

    #[test]
    fn sessions_validate_with_defaults() {
        let s =
            load("[[session]]\nname = \"web\"\nvni = 7\nsource = [\"10.1.0.0/16\", \"fd00::1\"]\n")
                .unwrap();
        assert_eq!(s.sessions[0].policy.sample, 1);
        assert_eq!(s.sessions[0].source[1].prefix, 128);
        assert_eq!(s.default.action, Action::Capture);
        let c = s.sessions[0].source[0];
        assert!(c.contains("10.1.255.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(!c.contains("fd00::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn bad_values_name_line_and_field() {
        for (text, line, field, needle) in [
            (
                "[[session]]\nname = \"a\"\nvni = 1\naction = \"keep\"\n",
                4,
                "session[0].action",
                "capture",
            ),
            (
                "[[session]]\nname = \"a\"\nvni = 1\nsnaplen = 10\n",
                4,
                "session[0].snaplen",
                "14 to",
            ),
            (
                "[[session]]\nname = \"a\"\nvni = 1\nsample = 0\n",
                4,
                "session[0].sample",
                "N >= 1",
            ),
            (
                "[[session]]\nname = \"a\"\nvni = 1\nfilter = \"bogus\"\n",
                4,
                "session[0].filter",
                "syntax error",
            ),
            (
                "[[session]]\nname = \"a\"\nvni = 1\ndedup = \"5s\"\n",
                4,
                "session[0].dedup",
                "at most 1s",
            ),
            (
                "[[session]]\nname = \"a\"\nvni = 16777216\n",
                3,
                "session[0].vni",
                "24 bits",
            ),
            (
                "[[session]]\nname = \"a\"\nvni = 1\nsource = [\"10.0.0.0/33\"]\n",
                4,
                "session[0].source",
                "prefix",
            ),
            (
                "[[session]]\nname = \"vni-3\"\nvni = 1\n",
                2,
                "session[0].name",
                "vni-",
            ),
            (
                "[[session]]\nname = \"a\"\nvni = 1\n[[session]]\nname = \"a\"\nvni = 2\n",
                5,
                "session[1].name",
                "earlier",
            ),
            (
                "[default]\naction = \"capture\"\nfilter = \"  \"\n",
                3,
                "default.filter",
                "empty",
            ),
        ] {
            let e = load(text).unwrap_err();
            assert_eq!((e.line, e.field.as_str()), (line, field), "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
        }
    }
}
