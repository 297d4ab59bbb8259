//! The metric catalogue: every family mirrorcap exports, with its type, labels and help text.
//! The registry is built from it, `docs/metrics.md` documents each entry (a test checks), and
//! the monitoring files under `ami/monitoring/` may name only these (another test checks).
#![forbid(unsafe_code)]

/// The Prometheus type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// When a family has samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// From the first scrape.
    Always,
    /// Once a mirrored frame has been captured (per-VNI counters, ring timestamps).
    AfterCapture,
    /// Once a scrape has seen a worker's received counter move (any packet, captured or not).
    AfterTraffic,
    /// Only on an ENA port (`net_ena`).
    Ena,
    /// Once a mirror session or a `[default]` policy is configured and has taken a packet.
    WithSessions,
    /// With `run --stamps`, once a session has seen a frame carrying a `mirrorcap gen` stamp.
    WithStamps,
    /// With `run --store-dir`, once each worker's store thread has polled.
    WithStore,
    /// With `run --archive`, once the uploader has made a pass over each worker's store.
    WithArchive,
}

/// One metric family.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
    pub presence: Presence,
}

const fn f(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
    presence: Presence,
) -> Family {
    Family {
        name,
        kind,
        labels,
        help,
        presence,
    }
}

use Kind::*;
use Presence::*;

const W: &[&str] = &["worker"];
const PORT: &[&str] = &["port"];

/// Every family, grouped as in `docs/metrics.md`.
#[rustfmt::skip]
pub const CATALOGUE: &[Family] = &[
    // Traffic through the workers.
    f("mirrorcap_rx_packets_total", Counter, &["worker", "queue"], "Packets received from the NIC by each worker (outer frames).", Always),
    f("mirrorcap_rx_bytes_total", Counter, &["worker", "queue"], "Bytes received from the NIC by each worker (outer frames).", Always),
    f("mirrorcap_last_packet_timestamp_seconds", Gauge, W, "When each worker last received a packet (captured or dropped), Unix seconds, to within the time between scrapes: the first scrape that saw its received counter move. time() minus the newest over workers is how long the appliance has received nothing.", AfterTraffic),
    f("mirrorcap_captured_packets_total", Counter, W, "Mirrored frames written to the ring.", Always),
    f("mirrorcap_captured_bytes_total", Counter, W, "Bytes of mirrored frames written to the ring (inner frames, as stored).", Always),
    f("mirrorcap_dropped_packets_total", Counter, &["worker", "stage", "reason"], "Packets received but not captured, by stage and reason (docs/drop-reasons.md).", Always),
    f("mirrorcap_truncated_packets_total", Counter, W, "Captured frames AWS truncated (inner IP length beyond the bytes present: target MTU or the session's PacketLength).", Always),
    f("mirrorcap_vxlan_reserved_nonzero_packets_total", Counter, W, "Captured frames whose VXLAN header had reserved bits set (tolerated).", Always),
    f("mirrorcap_unencapsulated_captured_packets_total", Counter, W, "Frames that were not mirror traffic, captured as they are (--keep-unencapsulated).", Always),
    // Per mirror session (by VNI; a session label joins with session names).
    f("mirrorcap_vni_captured_packets_total", Counter, &["vni"], "Captured frames per mirror session VNI, all workers (vni=\"other\" once a worker tracks 1024 VNIs).", AfterCapture),
    f("mirrorcap_vni_captured_bytes_total", Counter, &["vni"], "Captured bytes per mirror session VNI, all workers.", AfterCapture),
    f("mirrorcap_vni_truncated_packets_total", Counter, &["vni"], "Captured frames per mirror session VNI that AWS truncated.", AfterCapture),
    // Mirror sessions (docs/sessions.md).
    f("mirrorcap_session_matched_packets_total", Counter, &["session"], "Decapsulated packets each mirror session took (session=\"default\": VNIs no session names).", WithSessions),
    f("mirrorcap_session_packets_total", Counter, &["session", "outcome"], "What each session did with the packets it took: captured, filtered, sampled_out, duplicate, dropped; truncated counts captured frames AWS truncated.", WithSessions),
    f("mirrorcap_session_captured_bytes_total", Counter, &["session"], "Bytes each session wrote to the ring (inner frames, after its snaplen).", WithSessions),
    // The ring.
    f("mirrorcap_ring_written_bytes_total", Counter, W, "Bytes appended to ring segments, pcap record headers included.", Always),
    f("mirrorcap_ring_segments_sealed_total", Counter, W, "Ring segments completed and trimmed to a standalone pcap.", Always),
    f("mirrorcap_ring_segments_overwritten_total", Counter, W, "Ring segments reused, discarding the oldest captured data.", Always),
    f("mirrorcap_ring_rotations_unprepared_total", Counter, W, "Rotations where the next segment was not prepared (extended, pre-faulted) by the ring's helper thread in time, so the worker waited or extended it itself.", Always),
    f("mirrorcap_ring_segments_recovered_total", Counter, W, "Segments found live at start (after a crash) and trimmed to their committed records.", Always),
    f("mirrorcap_ring_capacity_bytes", Gauge, W, "Bytes of pcap segments each worker's ring holds when full (segments x size).", Always),
    f("mirrorcap_ring_oldest_timestamp_seconds", Gauge, W, "Capture time of the oldest packet still in the ring, Unix seconds (time() minus this is how far back the ring reaches).", AfterCapture),
    f("mirrorcap_ring_newest_timestamp_seconds", Gauge, W, "Capture time of the newest committed packet, Unix seconds.", AfterCapture),
    f("mirrorcap_ring_retention_seconds", Gauge, W, "Time span the ring holds: newest minus oldest retained packet.", AfterCapture),
    f("mirrorcap_ring_writable", Gauge, W, "1 when the ring takes new packets: its control file opens for writing and no ring_write_error or ring_full drop rose in the last second.", Always),
    // The disk store behind the ring (`run --store-dir`; docs/store.md).
    f("mirrorcap_store_segments_total", Counter, W, "Ring segments (or continued parts of one) written to the store as store files.", WithStore),
    f("mirrorcap_store_packets_total", Counter, W, "Packets written to the store.", WithStore),
    f("mirrorcap_store_bytes_total", Counter, &["worker", "kind"], "Bytes stored: kind=\"captured\" the pcap records taken from the ring (headers included), kind=\"disk\" the data and index files written (captured / disk is the compression ratio), kind=\"flow_index\" the flow index sidecars for query (docs/index.md), kind=\"flow_records\" the flow records for flows, DuckDB and Athena (docs/flows.md).", WithStore),
    f("mirrorcap_store_lag_segments", Gauge, W, "Sealed ring segments not yet in the store; if the ring overwrites them first they become store overruns.", WithStore),
    f("mirrorcap_store_lag_bytes", Gauge, W, "Bytes of sealed ring segments not yet in the store.", WithStore),
    f("mirrorcap_store_lag_seconds", Gauge, W, "Capture time the store is behind the ring's sealed segments: newest sealed packet not yet stored minus newest stored (0 when caught up). Must stay below the ring's retention, or segments overrun.", WithStore),
    f("mirrorcap_store_overrun_segments_total", Counter, W, "Ring segments overwritten before the store took them: their packets are in neither (counted in mirrorcap_dropped_packets_total{stage=\"store\",reason=\"store_overrun\"}).", WithStore),
    f("mirrorcap_store_compression_ratio", Gauge, W, "Captured bytes stored per byte written to disk (data and index files), since start: 1 or a little less with --store-compress none.", WithStore),
    f("mirrorcap_store_deleted_files_total", Counter, W, "Store files deleted by retention (--store-size, --store-max-age, --store-min-free), oldest first.", WithStore),
    f("mirrorcap_store_retention_seconds", Gauge, W, "Time span the store holds: newest minus oldest stored packet.", WithStore),
    // The S3 archive behind the store (`run --archive`; docs/archive.md).
    f("mirrorcap_archive_files_total", Counter, W, "Store files completely uploaded to the archive (every object of the file, its index last).", WithArchive),
    f("mirrorcap_archive_objects_total", Counter, &["worker", "kind"], "Objects uploaded to the archive, by kind: data (the store file), flow_index (.fidx), flow_records (.flows.parquet), index (.idx).", WithArchive),
    f("mirrorcap_archive_bytes_total", Counter, W, "Bytes uploaded to the archive (all kinds of object).", WithArchive),
    f("mirrorcap_archive_pending_files", Gauge, W, "Complete store files not yet uploaded, after the uploader's last pass.", WithArchive),
    f("mirrorcap_archive_lag_seconds", Gauge, W, "Capture time the archive is behind the store: the newest stored file's first packet minus the newest uploaded one's (0 when nothing is pending). Grows while S3 is unreachable or slower than the store.", WithArchive),
    f("mirrorcap_archive_failures_total", Counter, &["cause"], "Failed upload attempts (and a failed start-up check) by cause: credentials (refused keys or role), bucket (does not exist), network (no answer), server (5xx, throttling), local (a store file unreadable), other. The file is retried, backing off to 30 s.", WithArchive),
    f("mirrorcap_archive_dropped_files_total", Counter, W, "Store files retention deleted before they were uploaded (an archive that is not required: local retention wins). With archive.required = true retention waits instead.", WithArchive),
    f("mirrorcap_store_errors_total", Counter, W, "Store polls that failed (disk full, directory removed or read-only...): capture goes on, the segment is retried at the next poll; the log names each distinct error once.", WithStore),
    // Generator stamps (`run --stamps`; docs/loadtest.md).
    f("mirrorcap_stamp_packets_total", Counter, &["session"], "Frames carrying a mirrorcap gen stamp, per session (counted before the session's policy).", WithStamps),
    f("mirrorcap_stamp_gaps_total", Counter, &["session"], "Sequence numbers a flow skipped: frames lost before the appliance, unless they arrive late (lost = gaps - late when nothing is duplicated).", WithStamps),
    f("mirrorcap_stamp_late_total", Counter, &["session"], "Stamped frames that arrived after a higher sequence number of their flow (reordered or duplicated).", WithStamps),
    f("mirrorcap_stamp_skewed_total", Counter, &["session"], "Stamped frames whose TX timestamp is later than their RX time (generator and appliance clocks not shared); not in the latency histogram.", WithStamps),
    f("mirrorcap_stamp_latency_seconds", Histogram, &["session"], "One-way latency per stamped frame: RX burst time minus the generator's TX timestamp (meaningful when both share a clock).", WithStamps),
    // The NIC, polled from the control core once a second.
    f("mirrorcap_nic_rx_packets_total", Counter, PORT, "Packets the NIC received (rte_eth_stats ipackets).", Always),
    f("mirrorcap_nic_rx_bytes_total", Counter, PORT, "Bytes the NIC received (rte_eth_stats ibytes).", Always),
    f("mirrorcap_port_resets_total", Counter, PORT, "Device resets the driver asked for (RTE_ETH_EVENT_INTR_RESET: ENA's watchdog saw no keep-alive, no TX completion or an admin queue error) that mirrorcap carried out: workers parked at a burst boundary, the port reset and set up again as at start, the ring kept. Each is one log line.", Always),
    f("mirrorcap_port_link_changes_total", Counter, PORT, "Link status changes seen by the control loop (it reads the link every 50 ms, on every driver): a peer or cable going away and coming back. Each is one log line with the new state.", Always),
    f("mirrorcap_nic_rx_missed_packets_total", Counter, PORT, "Packets the NIC dropped because no RX descriptor was free: workers too slow (imissed).", Always),
    f("mirrorcap_nic_rx_errors_total", Counter, PORT, "Erroneous packets the NIC received (ierrors).", Always),
    f("mirrorcap_nic_rx_nombuf_total", Counter, PORT, "RX mbuf allocation failures: the worker's mempool was empty (rx_nombuf).", Always),
    f("mirrorcap_nic_xstat", Gauge, &["port", "name"], "Every extended statistic of the port as the driver names it (rte_eth_xstats).", Always),
    f("mirrorcap_ena_allowance_exceeded_total", Counter, &["port", "allowance"], "Packets an ENA queued or dropped because the instance exceeded an AWS allowance: bw_in, bw_out, pps, conntrack, linklocal.", Ena),
    f("mirrorcap_port_link_up", Gauge, PORT, "1 when the port's link is up.", Always),
    f("mirrorcap_mempool_mbufs_in_use", Gauge, W, "Mbufs taken from each worker's pool (RX descriptors, bursts in flight, per-core caches).", Always),
    f("mirrorcap_mempool_mbufs_capacity", Gauge, W, "Mbufs in each worker's pool.", Always),
    // Latency, from the workers' hdrhistograms.
    f("mirrorcap_packet_latency_seconds", Histogram, W, "Per packet, time from rx_burst returning to the packet's record being committed to the ring.", Always),
    f("mirrorcap_burst_duration_seconds", Histogram, W, "Processing time of each received burst (decap, copy to the ring, commit).", Always),
    // The process.
    f("mirrorcap_workers_running", Gauge, &[], "Worker lcores currently polling.", Always),
    f("mirrorcap_healthy", Gauge, &[], "1 when /healthz answers 200: port link up, every worker polling, every ring writable, every store storing.", Always),
    f("mirrorcap_build_info", Gauge, &["version", "dpdk", "driver"], "Build and runtime facts (mirrorcap version, DPDK version, the port's PMD); always 1.", Always),
    f("mirrorcap_start_time_seconds", Gauge, &[], "When the appliance started, Unix seconds.", Always),
    f("mirrorcap_config_reload_failures_total", Counter, &[], "SIGHUP reloads refused (unreadable or invalid configuration file): the running sessions were kept.", Always),
    // The metrics listener itself.
    f("mirrorcap_http_requests_total", Counter, &["code"], "Requests the metrics listener answered, by HTTP status code (200, 404, 405, 413, 500, 503).", Always),
    f("mirrorcap_http_connections_rejected_total", Counter, &["reason"], "Connections the metrics listener closed early: cap (listener full, and no waiting connection the newcomer's source may take), per_source (its source already held its share), evicted (waiting for a request head, closed for a newcomer from a source holding fewer), timeout (no complete request head in time), oversize (request head over the size limit), lifetime (open past the lifetime limit).", Always),
    f("mirrorcap_http_connections_open", Gauge, &[], "Connections the metrics listener has open.", Always),
];

/// The catalogue entry named `name`. Panics on an unknown name: the registry is built from
/// this table, so a miss is a programming error caught by the first test that builds it.
pub fn family(name: &str) -> &'static Family {
    CATALOGUE
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the metric catalogue"))
}

/// Whether `series` (a metric name as it appears in a query or a scrape) belongs to a
/// catalogue family, histogram `_bucket`/`_sum`/`_count` series included.
pub fn is_exported(series: &str) -> bool {
    CATALOGUE.iter().any(|f| {
        f.name == series
            || (f.kind == Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| series.strip_suffix(s) == Some(f.name)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for f in CATALOGUE {
            assert!(seen.insert(f.name), "{} listed twice", f.name);
            assert!(f.name.starts_with("mirrorcap_"), "{}", f.name);
            assert!(
                f.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                f.name
            );
            assert_eq!(
                f.kind == Counter,
                f.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                f.name
            );
            for word in f.name.split('_') {
                assert!(
                    ![
                        "ms",
                        "us",
                        "ns",
                        "milliseconds",
                        "microseconds",
                        "kb",
                        "mb",
                        "kilobytes",
                        "megabytes",
                        "bits"
                    ]
                    .contains(&word),
                    "{}: use base units (seconds, bytes)",
                    f.name
                );
            }
            assert!(!f.help.is_empty());
        }
        assert!(is_exported("mirrorcap_packet_latency_seconds_bucket"));
        assert!(!is_exported("mirrorcap_rx_packets_total_bucket"));
        assert!(!is_exported("mirrorcap_nope"));
    }
}
