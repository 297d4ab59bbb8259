//! The workers' latency histograms as Prometheus histogram families, built at scrape time
//! from the buckets each worker publishes ([`crate::pipeline::PublishedLatency`]).
#![forbid(unsafe_code)]
use super::catalogue::{family, Kind};
use crate::pipeline::{HistSnapshot, PublishedHistogram, PublishedStats, LATENCY_BOUNDS_NS};
use prometheus::proto::{Bucket, Histogram, LabelPair, Metric, MetricFamily, MetricType};

/// Which of a slot's histograms a family shows.
type Pick = fn(&PublishedStats) -> &PublishedHistogram;

/// `mirrorcap_packet_latency_seconds` and `mirrorcap_burst_duration_seconds`, one series
/// per worker.
pub fn families(slots: &[PublishedStats]) -> Vec<MetricFamily> {
    let pick: [(&str, Pick); 2] = [
        ("mirrorcap_packet_latency_seconds", |s| &s.latency.packet),
        ("mirrorcap_burst_duration_seconds", |s| &s.latency.burst),
    ];
    pick.iter()
        .map(|(name, get)| {
            family_of(
                name,
                slots
                    .iter()
                    .enumerate()
                    .map(|(w, s)| metric("worker", &w.to_string(), &get(s).read()))
                    .collect(),
            )
        })
        .collect()
}

/// A histogram family named `name` (a catalogue histogram) with these series.
pub fn family_of(name: &str, metrics: Vec<Metric>) -> MetricFamily {
    let f = family(name);
    debug_assert_eq!(f.kind, Kind::Histogram);
    let mut mf = MetricFamily::default();
    mf.set_name(f.name.to_string());
    mf.set_help(f.help.to_string());
    mf.set_field_type(MetricType::HISTOGRAM);
    mf.set_metric(metrics);
    mf
}

/// One series (`label`=`value`: a worker, a session): cumulative buckets in seconds, count
/// and sum.
pub fn metric(label: &str, value: &str, s: &HistSnapshot) -> Metric {
    let mut cumulative = 0;
    let buckets = LATENCY_BOUNDS_NS
        .iter()
        .zip(s.buckets.iter())
        .map(|(le, n)| {
            cumulative += n;
            let mut b = Bucket::default();
            b.set_upper_bound(*le as f64 / 1e9);
            b.set_cumulative_count(cumulative);
            b
        })
        .collect();
    let mut h = Histogram::default();
    h.set_bucket(buckets);
    h.set_sample_count(s.count());
    h.set_sample_sum(s.sum_ns as f64 / 1e9);
    let mut l = LabelPair::default();
    l.set_name(label.into());
    l.set_value(value.into());
    let mut m = Metric::default();
    m.set_label(vec![l]);
    m.set_histogram(h);
    m
}
