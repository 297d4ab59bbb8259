//! The transmitter's report: the live progress line, the final human line and the JSON file.
use super::plan::Rate;
use super::worker::QueueResult;
use serde::Serialize;

/// The outcome of a run over DPDK.
#[derive(Clone, Debug, Default)]
pub struct TxReport {
    pub run_id: u32,
    pub port: String,
    pub driver: String,
    pub encap: String,
    pub flows: u32,
    pub target: Option<Rate>,
    pub duration_ns: u64,
    pub queues: Vec<QueueResult>,
    /// The VNIs in `--vni` order (per-VNI counts in each queue follow it).
    pub vnis: Vec<u32>,
}

impl TxReport {
    pub fn packets(&self) -> u64 {
        self.queues.iter().map(|q| q.packets).sum()
    }
    pub fn bytes(&self) -> u64 {
        self.queues.iter().map(|q| q.bytes).sum()
    }
    pub fn wire_bits(&self) -> u64 {
        self.queues.iter().map(|q| q.wire_bits).sum()
    }
    pub fn noise(&self) -> u64 {
        self.queues.iter().map(|q| q.noise).sum()
    }
    pub fn retries(&self) -> u64 {
        self.queues.iter().map(|q| q.retries).sum()
    }
    pub fn dropped(&self) -> u64 {
        self.queues.iter().map(|q| q.dropped).sum()
    }
    fn secs(&self) -> f64 {
        (self.duration_ns as f64 / 1e9).max(1e-9)
    }
    pub fn pps(&self) -> f64 {
        self.packets() as f64 / self.secs()
    }
    pub fn bps(&self) -> f64 {
        self.wire_bits() as f64 / self.secs()
    }
    /// Packets per VNI over all queues, in `--vni` order.
    pub fn per_vni(&self) -> Vec<(u32, u64)> {
        self.vnis
            .iter()
            .enumerate()
            .map(|(i, &v)| (v, self.queues.iter().map(|q| q.per_vni[i]).sum()))
            .collect()
    }

    /// The final line on stderr.
    pub fn human(&self) -> String {
        format!(
            "mirrorcap: gen sent {} packets ({} bytes, {} wire bits) on {} ({}) in {:.3} s: {:.0} pps, {:.3} Gbit/s on the wire (target {}); tx retries {}, dropped {}; {} queue(s), {} flow(s), run id {:08x}",
            self.packets(),
            self.bytes(),
            self.wire_bits(),
            self.port,
            self.driver,
            self.secs(),
            self.pps(),
            self.bps() / 1e9,
            self.target.map_or("max".into(), |r| r.describe()),
            self.retries(),
            self.dropped(),
            self.queues.len(),
            self.flows,
            self.run_id,
        )
    }

    /// The JSON report (`--report-json`): [`JsonReport`] as pretty JSON, newline-terminated.
    pub fn json(&self) -> String {
        // Serialising plain numbers and strings cannot fail; a panic here is a bug.
        let mut s = serde_json::to_string_pretty(&self.json_report()).expect("report serialises");
        s.push('\n');
        s
    }

    /// What `--report-json` writes, borrowed from this report.
    pub fn json_report(&self) -> JsonReport<'_> {
        let (kind, value) = match self.target {
            None | Some(Rate::Max) => ("max", None),
            Some(Rate::Pps(v)) => ("pps", Some(v)),
            Some(Rate::Bps(v)) => ("bps", Some(v)),
        };
        JsonReport {
            run_id: self.run_id,
            port: &self.port,
            driver: &self.driver,
            encap: &self.encap,
            flows: self.flows,
            target: JsonTarget { kind, value },
            sent_packets: self.packets(),
            noise_packets: self.noise(),
            bytes: self.bytes(),
            wire_bits: self.wire_bits(),
            duration_ns: self.duration_ns,
            achieved_pps: self.pps(),
            achieved_bps: self.bps(),
            tx_retries: self.retries(),
            tx_dropped: self.dropped(),
            queues: self
                .queues
                .iter()
                .map(|q| JsonQueue {
                    queue: q.queue,
                    packets: q.packets,
                    bytes: q.bytes,
                    wire_bits: q.wire_bits,
                    tx_retries: q.retries,
                    tx_dropped: q.dropped,
                    no_mbuf: q.no_mbuf,
                })
                .collect(),
            vnis: self
                .per_vni()
                .into_iter()
                .map(|(vni, packets)| JsonVni { vni, packets })
                .collect(),
        }
    }
}

/// The `--report-json` file, key for key (docs/loadtest.md, "Report", lists them; the load
/// test's scripts/loadtest_trials.py reads `sent_packets`, `bytes`, `duration_ns`,
/// `achieved_pps` and `achieved_bps`). Field names are the JSON keys: renaming one breaks
/// every reader of the file.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// The stamps' run id (the stderr line prints it in hex).
    pub run_id: u32,
    pub port: &'a str,
    pub driver: &'a str,
    pub encap: &'a str,
    pub flows: u32,
    pub target: JsonTarget,
    /// Every frame sent, noise included.
    pub sent_packets: u64,
    pub noise_packets: u64,
    /// Frame bytes without FCS.
    pub bytes: u64,
    /// Bits on the wire: frame + FCS, preamble and inter-frame gap.
    pub wire_bits: u64,
    /// The longest queue's time from its start to its last burst.
    pub duration_ns: u64,
    pub achieved_pps: f64,
    /// Wire bits per second.
    pub achieved_bps: f64,
    pub tx_retries: u64,
    pub tx_dropped: u64,
    pub queues: Vec<JsonQueue>,
    pub vnis: Vec<JsonVni>,
}

/// The rate asked for: `kind` "max" (then `value` is null), "pps" or "bps".
#[derive(Debug, Serialize)]
pub struct JsonTarget {
    pub kind: &'static str,
    pub value: Option<f64>,
}

/// One TX queue's counts.
#[derive(Debug, Serialize)]
pub struct JsonQueue {
    pub queue: u16,
    pub packets: u64,
    pub bytes: u64,
    pub wire_bits: u64,
    pub tx_retries: u64,
    pub tx_dropped: u64,
    pub no_mbuf: u64,
}

/// Mirrored packets sent with one VNI (noise frames carry none).
#[derive(Debug, Serialize)]
pub struct JsonVni {
    pub vni: u32,
    pub packets: u64,
}

/// The live line: elapsed time, packets, and the rates since the previous line.
pub fn progress_line(elapsed_s: f64, packets: u64, dpkts: u64, dbytes: u64, dt_s: f64) -> String {
    let dt = dt_s.max(1e-9);
    format!(
        "mirrorcap: gen {elapsed_s:.1} s: {packets} packets, {:.0} pps, {:.3} Gbit/s of frames",
        dpkts as f64 / dt,
        dbytes as f64 * 8.0 / dt / 1e9
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_valid_and_sums_queues() {
        let q = |queue, packets| QueueResult {
            queue,
            packets,
            bytes: packets * 100,
            wire_bits: packets * 124 * 8,
            per_vni: vec![packets / 2, packets - packets / 2],
            ..QueueResult::default()
        };
        let r = TxReport {
            run_id: 7,
            port: "net_null0".into(),
            driver: "net_null".into(),
            encap: "vxlan".into(),
            flows: 4,
            target: Some(Rate::Pps(1000.0)),
            duration_ns: 2_000_000_000,
            queues: vec![q(0, 10), q(1, 20)],
            vnis: vec![5, 6],
        };
        let v: serde_json::Value = serde_json::from_str(&r.json()).expect("valid JSON");
        assert_eq!(v["sent_packets"], 30);
        assert_eq!(v["bytes"], 3000);
        assert_eq!(v["achieved_pps"], 15.0);
        assert_eq!(v["target"]["kind"], "pps");
        assert_eq!(v["queues"][1]["packets"], 20);
        assert_eq!(v["vnis"][0]["packets"], 15);
        assert!(r.human().contains("sent 30 packets"));
        assert_eq!(v["target"]["value"], 1000.0);
        let max = TxReport {
            target: Some(Rate::Max),
            ..r.clone()
        };
        let v: serde_json::Value = serde_json::from_str(&max.json()).unwrap();
        assert_eq!(
            v["target"],
            serde_json::json!({"kind": "max", "value": null})
        );
    }

    /// The keys of a JSON value, nested ones as "outer.inner" (an array's from its elements).
    fn key_paths(
        v: &serde_json::Value,
        prefix: &str,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{prefix}{k}");
                    out.insert(p.clone());
                    key_paths(x, &format!("{p}."), out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| key_paths(x, prefix, out)),
            _ => {}
        }
    }

    /// The load test's accounting is tested (scripts/test_loadtest_trials.py) on a report gen
    /// wrote; that file must keep exactly the keys gen writes, or the test proves nothing.
    #[test]
    fn the_load_test_fixture_has_exactly_the_keys_gen_writes() {
        let r = TxReport {
            target: Some(Rate::Pps(1.0)),
            queues: vec![QueueResult {
                per_vni: vec![0],
                ..QueueResult::default()
            }],
            vnis: vec![100],
            ..TxReport::default()
        };
        let written: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/loadtest/gen-report.json"))
                .expect("the fixture is JSON");
        let (mut a, mut b) = (Default::default(), Default::default());
        key_paths(&written, "", &mut a);
        key_paths(&fixture, "", &mut b);
        assert_eq!(
            a, b,
            "regenerate tests/data/loadtest/ (its README.md says how)"
        );
        assert!(a.contains("sent_packets") && a.contains("queues.no_mbuf"));
    }
}
