//! `gen`'s options checked and turned into a plan before DPDK starts: the rate, when to stop,
//! the frames (a [`FactorySpec`]) and the sizes. Every mistake is one message naming the flag.
use crate::cli::GenArgs;
use crate::config::parse_duration;
use crate::gen::factory::{FactorySpec, OuterOverride};
use crate::gen::sizes::Sizes;
use crate::gen::Encap;
use std::time::Duration;

/// Transmit rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// As fast as the device takes packets.
    Max,
    /// Packets per second.
    Pps(f64),
    /// Bits per second on the wire (frame + FCS + preamble + inter-frame gap).
    Bps(f64),
}

/// Bytes a packet occupies on the wire besides its frame: FCS (4), preamble and start
/// delimiter (8), inter-frame gap (12).
pub const WIRE_OVERHEAD: u64 = 24;

impl Rate {
    /// `max`, `N[k|M]pps` or `N[k|M|G]bps` (N may have decimals).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        let bad =
            || format!("--rate '{s}': use max, N[k|M]pps or N[k|M|G]bps, e.g. 100kpps, 2.5Gbps");
        let (num, unit, pps) = if let Some(n) = t.strip_suffix("pps") {
            (n, "", true)
        } else if let Some(n) = t.strip_suffix("bps") {
            (n, "", false)
        } else {
            return Err(bad());
        };
        let (num, mult) = match num.chars().last() {
            Some('k') | Some('K') => (&num[..num.len() - 1], 1e3),
            Some('M') => (&num[..num.len() - 1], 1e6),
            Some('G') if !pps => (&num[..num.len() - 1], 1e9),
            _ => (num, 1.0),
        };
        let _ = unit;
        let v: f64 = num.trim().parse().map_err(|_| bad())?;
        let v = v * mult;
        if !v.is_finite() || v <= 0.0 {
            return Err(format!("--rate '{s}': the rate must be above 0 (or max)"));
        }
        if pps && v > 1e9 || !pps && v > 1e13 {
            return Err(format!("--rate '{s}': out of range"));
        }
        Ok(if pps { Rate::Pps(v) } else { Rate::Bps(v) })
    }

    /// For the report: "max", "100000 pps", "1e9 bit/s".
    pub fn describe(&self) -> String {
        match self {
            Rate::Max => "max".into(),
            Rate::Pps(v) => format!("{v} pps"),
            Rate::Bps(v) => format!("{v} bit/s"),
        }
    }
}

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Count(u64),
    Duration(Duration),
}

/// A checked `gen` over DPDK.
#[derive(Clone, Debug)]
pub struct Plan {
    pub factory: FactorySpec,
    pub sizes: Sizes,
    pub rate: Rate,
    pub limit: Limit,
    pub tx_queues: u16,
    pub burst: u16,
    pub seed: u64,
    /// One noise frame (non-mirror or malformed, kinds in turn) after every N mirrored ones.
    pub noise_every: u64,
    /// None: no progress line.
    pub progress: Option<Duration>,
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(flag: &str, s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    let mut m = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!(
            "{flag} '{s}': use six hex bytes, e.g. 02:00:00:00:0a:01"
        ));
    }
    for (o, p) in m.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16)
            .map_err(|_| format!("{flag} '{s}': use six hex bytes, e.g. 02:00:00:00:0a:01"))?;
    }
    Ok(m)
}

/// Checks the options for transmitting; `run_id` goes into every stamp.
pub fn plan(a: &GenArgs, run_id: u32) -> Result<Plan, String> {
    let encap = Encap::parse(&a.encap)?;
    if let Some(v) = a.vnis.iter().find(|&&v| v > 0x00ff_ffff) {
        return Err(format!("--vni {v}: a VNI has 24 bits (0 to 16777215)"));
    }
    let sizes = Sizes::parse(&a.inner_size)?;
    let rate = Rate::parse(&a.rate)?;
    let limit = match (a.count, &a.duration) {
        (Some(_), Some(_)) => return Err("give --count or --duration, not both".into()),
        (Some(0), None) => return Err("--count 0: nothing to send".into()),
        (Some(n), None) => Limit::Count(n),
        (None, Some(d)) => {
            let d = parse_duration(d).map_err(|e| format!("--duration {e}"))?;
            if d.is_zero() {
                return Err("--duration 0: nothing to send".into());
            }
            Limit::Duration(d)
        }
        (None, None) => Limit::Duration(Duration::from_secs(10)),
    };
    let progress = parse_duration(&a.progress).map_err(|e| format!("--progress {e}"))?;
    let progress = (!progress.is_zero()).then_some(progress.max(Duration::from_millis(100)));
    if u32::from(a.tx_queues) > a.flows {
        return Err(format!(
            "--tx-queues {} needs at least as many --flows (each queue sends its own flows), got {}",
            a.tx_queues, a.flows
        ));
    }
    let want_v6 = encap == Encap::Vxlan6;
    for (flag, ip) in [
        ("--outer-src-ip", a.outer_src_ip),
        ("--outer-dst-ip", a.outer_dst_ip),
    ] {
        if let Some(ip) = ip {
            if ip.is_ipv6() != want_v6 {
                return Err(format!(
                    "{flag} {ip}: --encap {} needs an {} address",
                    a.encap,
                    if want_v6 { "IPv6" } else { "IPv4" }
                ));
            }
        }
    }
    let outer = OuterOverride {
        src_mac: a
            .outer_src_mac
            .as_deref()
            .map(|m| parse_mac("--outer-src-mac", m))
            .transpose()?,
        dst_mac: a
            .outer_dst_mac
            .as_deref()
            .map(|m| parse_mac("--outer-dst-mac", m))
            .transpose()?,
        src_ip: a.outer_src_ip,
        dst_ip: a.outer_dst_ip,
    };
    let tcp_share = match a.proto.as_str() {
        "udp" => 0,
        "tcp" => 100,
        "mix" => a.tcp_share,
        p => return Err(format!("--proto '{p}': use udp, tcp or mix")),
    };
    Ok(Plan {
        factory: FactorySpec {
            encap,
            outer_vlans: a.outer_vlans,
            inner_vlan: a.inner_vlan,
            truncate: a.truncate.map(|t| t as usize),
            outer,
            vxlan_port: a.vxlan_port,
            flows: a.flows,
            tcp_share,
            vnis: a.vnis.clone(),
            run_id,
        },
        sizes,
        rate,
        limit,
        tx_queues: a.tx_queues,
        burst: a.burst,
        seed: a.seed,
        noise_every: a.noise_every,
        progress,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units() {
        assert_eq!(Rate::parse("max"), Ok(Rate::Max));
        assert_eq!(Rate::parse("100kpps"), Ok(Rate::Pps(100e3)));
        assert_eq!(Rate::parse("1Mpps"), Ok(Rate::Pps(1e6)));
        assert_eq!(Rate::parse("2.5Gbps"), Ok(Rate::Bps(2.5e9)));
        assert_eq!(Rate::parse("800bps"), Ok(Rate::Bps(800.0)));
        for bad in ["0pps", "0kpps", "-5pps", "fast", "10", "1Gpps", "kpps"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("--x", "02:00:00:00:0a:ff"),
            Ok([2, 0, 0, 0, 0x0a, 0xff])
        );
        assert!(parse_mac("--x", "02:00:00:00:0a").is_err());
        assert!(parse_mac("--x", "zz:00:00:00:0a:01").is_err());
    }
}
