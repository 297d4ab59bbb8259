//! The transmitter's report: the live progress line, the final human line and the JSON file.
use super::plan::Rate;
use super::worker::QueueResult;
use std::fmt::Write as _;

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

    /// The JSON report (`--report-json`).
    pub fn json(&self) -> String {
        let (kind, value) = match self.target {
            None | Some(Rate::Max) => ("max", "null".to_string()),
            Some(Rate::Pps(v)) => ("pps", format!("{v}")),
            Some(Rate::Bps(v)) => ("bps", format!("{v}")),
        };
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\n  \"run_id\": {},\n  \"port\": \"{}\",\n  \"driver\": \"{}\",\n  \"encap\": \"{}\",\n  \"flows\": {},\n  \"target\": {{\"kind\": \"{kind}\", \"value\": {value}}},\n  \"sent_packets\": {},\n  \"noise_packets\": {},\n  \"bytes\": {},\n  \"wire_bits\": {},\n  \"duration_ns\": {},\n  \"achieved_pps\": {:.3},\n  \"achieved_bps\": {:.3},\n  \"tx_retries\": {},\n  \"tx_dropped\": {},\n",
            self.run_id,
            esc(&self.port),
            esc(&self.driver),
            esc(&self.encap),
            self.flows,
            self.packets(),
            self.noise(),
            self.bytes(),
            self.wire_bits(),
            self.duration_ns,
            self.pps(),
            self.bps(),
            self.retries(),
            self.dropped(),
        );
        s.push_str("  \"queues\": [");
        for (i, q) in self.queues.iter().enumerate() {
            let _ = write!(
                s,
                "{}\n    {{\"queue\": {}, \"packets\": {}, \"bytes\": {}, \"wire_bits\": {}, \"tx_retries\": {}, \"tx_dropped\": {}, \"no_mbuf\": {}}}",
                if i > 0 { "," } else { "" },
                q.queue, q.packets, q.bytes, q.wire_bits, q.retries, q.dropped, q.no_mbuf
            );
        }
        s.push_str("\n  ],\n  \"vnis\": [");
        for (i, (v, n)) in self.per_vni().into_iter().enumerate() {
            let _ = write!(
                s,
                "{}\n    {{\"vni\": {v}, \"packets\": {n}}}",
                if i > 0 { "," } else { "" }
            );
        }
        s.push_str("\n  ]\n}\n");
        s
    }
}

fn esc(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32).chars().collect(),
            c => vec![c],
        })
        .collect()
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
    }
}
