//! The command line (clap): `run`, `export`, `query`, `flows`, `tail`, `gen`. Bad usage exits with code 2 and
//! one line.
pub mod archive;
pub mod merge;

use clap::{Args, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "mirrorcap",
    version,
    about = "DPDK capture appliance for AWS VPC Traffic Mirroring"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once at start
pub enum Command {
    /// Receive mirrored traffic on a DPDK port and write the original frames to a pcap ring.
    Run(RunArgs),
    /// Merge every worker's ring and store into one pcap, ordered by timestamp (an optional
    /// tcpdump EXPR last keeps only what it matches, as query does).
    Export(ExportArgs),
    /// The packets a tcpdump expression matches (on the inner frame) from rings and stores,
    /// reading only the store blocks their flow index says may match.
    Query(QueryArgs),
    /// One row per inner flow (VNI, 5-tuple, times, packets, bytes, TCP flags) of rings and
    /// stores, from the stores' flow records where they cover the range.
    Flows(FlowsArgs),
    /// Follow the live ring and stream new packets, merged by timestamp, as pcap to stdout.
    Tail(TailArgs),
    /// Synthetic mirrored traffic (VXLAN, VXLAN6 or GWLB Geneve): transmitted over DPDK, or
    /// written to a pcap with -w.
    Gen(GenArgs),
    /// Validate a configuration file and print the effective configuration (exit 2 if invalid).
    CheckConfig(CheckConfigArgs),
}

#[derive(Args, Debug, Clone)]
pub struct CheckConfigArgs {
    /// The TOML file `run --config` would read.
    pub file: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// A TOML configuration file: `[run]` options (flags given here override them),
    /// `[[session]]`s and `[default]`; SIGHUP reloads its sessions.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// PCI address of the port to use (the mirror target ENI bound to vfio-pci/uio).
    #[arg(long = "device", value_name = "PCI")]
    pub devices: Vec<String>,
    /// A DPDK virtual device, e.g. net_pcap0,rx_pcap=mirror.pcap,infinite_rx=1.
    #[arg(long = "vdev", value_name = "SPEC")]
    pub vdevs: Vec<String>,
    /// Worker lcores, one per RX queue.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
    /// Where the pcap ring lives (one folder per worker).
    #[arg(long, default_value = "/var/lib/mirrorcap/ring", value_name = "DIR")]
    pub ring_dir: PathBuf,
    /// Size of each ring segment (bytes or 64MiB, 1GiB ...).
    #[arg(long, default_value = "64MiB", value_name = "SIZE")]
    pub segment_size: String,
    /// Segments per worker; the ring keeps the newest segments × size per worker.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub segments: u32,
    /// When the ring is full: overwrite the oldest segment, or stop (keep what is held and
    /// count new packets as ring_full drops).
    #[arg(long, default_value = "overwrite", value_parser = ["overwrite", "stop"])]
    pub ring_policy: String,
    /// Mbufs in each worker's pool (RX descriptors, bursts in flight, caches). Default 8191,
    /// or for a net_pcap vdev with infinite_rx, which keeps its whole file in them, the file's
    /// packet count more.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1023..=1048575))]
    pub mbufs: Option<u32>,
    /// Address of the /metrics and /healthz listener (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9200", value_name = "ADDR")]
    pub metrics_addr: String,
    /// Connections the metrics listener keeps open at once; more are closed on accept and
    /// counted (mirrorcap_http_connections_rejected_total{reason="cap"}).
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub metrics_max_connections: u32,
    /// A group that gets the ring: directories 0750 and files 0640 owned by it, so its
    /// members (e.g. an analyst running tcpdump) can read captures without root.
    #[arg(long, value_name = "NAME")]
    pub ring_group: Option<String>,
    /// UDP destination port of VXLAN (repeat for several; 8472 is Linux's old default).
    #[arg(long = "vxlan-port", value_name = "PORT", default_values_t = [4789u16])]
    pub vxlan_ports: Vec<u16>,
    /// UDP destination port of Geneve (Gateway Load Balancer endpoints send 6081).
    #[arg(long = "geneve-port", value_name = "PORT", default_values_t = [6081u16])]
    pub geneve_ports: Vec<u16>,
    /// Most tunnel headers removed from one packet (Geneve -> VXLAN is 2).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub max_depth: u8,
    /// Capture frames that are not mirror traffic as they are, instead of counting them as
    /// not_mirror drops.
    #[arg(long)]
    pub keep_unencapsulated: bool,
    /// Count loss, reordering and one-way latency per session from the stamps `mirrorcap gen`
    /// writes into each inner payload (mirrorcap_stamp_* metrics).
    #[arg(long)]
    pub stamps: bool,
    /// Stop cleanly once no packet has arrived for this long (500ms, 2s, 5m).
    #[arg(long, value_name = "DURATION")]
    pub exit_when_idle: Option<String>,
    /// Off a terminal (a service's journal), log the status line this often (on a terminal it
    /// is rewritten every second).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub log_interval: String,
    /// Keep the ring's sealed segments on disk in this directory (a store file per segment,
    /// one writer thread per worker on the control core; docs/store.md).
    #[arg(long, value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// Total size of the store, split evenly among the workers; the oldest store files are
    /// deleted past it (default: no size limit).
    #[arg(long, value_name = "SIZE")]
    pub store_size: Option<String>,
    /// Store files as independent zstd blocks (read with zstdcat FILE | tcpdump -r -) or
    /// plain pcaps [default: zstd].
    #[arg(long, value_name = "zstd|none", value_parser = ["zstd", "none"])]
    pub store_compress: Option<String>,
    /// Delete store files whose newest packet is older than this (e.g. 12h, 7d).
    #[arg(long, value_name = "DURATION")]
    pub store_max_age: Option<String>,
    /// Free space to leave on the store's file system: the oldest store files are deleted
    /// while it has less (a percentage of its size, or a size; 0 turns it off) [default: 10%].
    #[arg(long, value_name = "PCT%|SIZE")]
    pub store_min_free: Option<String>,
    /// Write each store file's flow index (NAME.fidx), which `query` narrows by; off stores
    /// faster when one core must keep up with a fast disk (docs/index.md) [default: on].
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub store_flow_index: Option<String>,
    /// Write each store file's flow records (NAME.flows.parquet: one row per inner flow),
    /// which `flows`, DuckDB and Athena read (docs/flows.md) [default: on].
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub store_flow_records: Option<String>,
    #[command(flatten)]
    pub archive: archive::ArchiveArgs,
    /// Arguments passed to the DPDK EAL as they are.
    #[arg(last = true, value_name = "EAL_ARGS")]
    pub eal_args: Vec<String>,
    /// The mirror sessions (from the configuration file).
    #[arg(skip)]
    pub sessions: crate::config::sessions::SessionSet,
}

impl Default for RunArgs {
    /// Every flag at its default, as `run` with no argument has them (`check-config` starts
    /// from these); the defaults live once, in the attributes above.
    fn default() -> Self {
        let cmd = Self::augment_args(clap::Command::new("run").no_binary_name(true));
        let m = cmd.get_matches_from(std::iter::empty::<String>());
        Self::from_arg_matches(&m).expect("run's flags all have defaults")
    }
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Ring directories (`run --ring-dir`) and store directories (`run --store-dir`), in any
    /// order: read as one timeline, every record once. A last argument that is not a
    /// directory is a tcpdump expression on the inner frame (as `query`).
    #[arg(required = true, num_args = 1.., value_name = "RING_DIR|STORE_DIR")]
    pub dirs: Vec<PathBuf>,
    /// Output pcap file ("-" for standard output).
    #[arg(short = 'w', long = "write", value_name = "OUT")]
    pub out: PathBuf,
    /// Only packets captured at or after T: RFC 3339 (2026-11-25T09:30:00Z), relative to now
    /// (-5m, -90s) or @UNIX_SECONDS.
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Only packets captured at or before T (same forms as --from).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Only packets of the mirror session with this VNI (repeat for several).
    #[arg(long = "vni", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=0xff_ffff))]
    pub vnis: Vec<u32>,
    /// Output format: pcap, or pcapng with one interface per mirror session.
    #[arg(long, default_value = "pcap", value_parser = ["pcap", "pcapng"])]
    pub format: String,
}

#[derive(Args, Debug, Clone)]
pub struct QueryArgs {
    /// Ring and store directories (any order, as export), then the tcpdump expression on the
    /// inner frame, e.g. 'host 10.0.0.1 and port 443'.
    #[arg(required = true, num_args = 2.., value_name = "RING_DIR|STORE_DIR... EXPR")]
    pub args: Vec<PathBuf>,
    /// Output pcap file ("-" for standard output).
    #[arg(short = 'w', long = "write", value_name = "OUT")]
    pub out: PathBuf,
    /// Only packets captured at or after T (as export --from).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Only packets captured at or before T (same forms as --from).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Only packets of the mirror session with this VNI (repeat for several).
    #[arg(long = "vni", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=0xff_ffff))]
    pub vnis: Vec<u32>,
    /// Output format: pcap, or pcapng with one interface per mirror session.
    #[arg(long, default_value = "pcap", value_parser = ["pcap", "pcapng"])]
    pub format: String,
}

impl QueryArgs {
    /// The export these arguments select from, and the expression.
    pub fn split(&self) -> (ExportArgs, String) {
        let (expr, dirs) = self.args.split_last().expect("clap: at least two");
        let a = ExportArgs {
            dirs: dirs.to_vec(),
            out: self.out.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            vnis: self.vnis.clone(),
            format: self.format.clone(),
        };
        (a, expr.to_string_lossy().into_owned())
    }
}

#[derive(Args, Debug, Clone)]
pub struct FlowsArgs {
    /// Ring and store directories (any order, as export), then optionally a tcpdump
    /// expression on the inner frame: only the flows of the packets it matches.
    #[arg(required = true, num_args = 1.., value_name = "RING_DIR|STORE_DIR... [EXPR]")]
    pub args: Vec<PathBuf>,
    /// Only packets captured at or after T (as export --from).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Only packets captured at or before T (same forms as --from).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Only packets of the mirror session with this VNI (repeat for several).
    #[arg(long = "vni", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=0xff_ffff))]
    pub vnis: Vec<u32>,
    /// The N flows with the most bytes (default: every flow, by first packet time).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// One JSON object per flow and line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct TailArgs {
    /// The ring directory given to `run --ring-dir`; with --from-start, also store directories
    /// (`run --store-dir`), in any order: their older packets come first, every record once.
    #[arg(required = true, num_args = 1.., value_name = "RING_DIR|STORE_DIR")]
    pub dirs: Vec<PathBuf>,
    /// First write every retained packet (the stores' too), then follow (default: start at
    /// the newest).
    #[arg(long)]
    pub from_start: bool,
    /// Reorder window: how long an idle worker may hold back the others' packets.
    #[arg(long, default_value = "200ms", value_name = "DURATION")]
    pub window: String,
    /// Only packets of the mirror session with this VNI (repeat for several).
    #[arg(long = "vni", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=0xff_ffff))]
    pub vnis: Vec<u32>,
    /// Output format: pcap, or pcapng with one interface per mirror session.
    #[arg(long, default_value = "pcap", value_parser = ["pcap", "pcapng"])]
    pub format: String,
}

#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true).args(["out", "vdevs", "devices"])))]
pub struct GenArgs {
    /// Write a pcap file directly (no DPDK; "-" for standard output).
    #[arg(short = 'w', long = "write", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Transmit over a DPDK virtual device, e.g. net_null0, or net_pcap0,tx_pcap=FILE to write
    /// a capture through DPDK (one tx_pcap per TX queue).
    #[arg(long = "vdev", value_name = "DEVARGS")]
    pub vdevs: Vec<String>,
    /// Transmit on this PCI device (bound to vfio-pci/uio).
    #[arg(long = "device", value_name = "PCI")]
    pub devices: Vec<String>,
    /// Mirrored frames to send (noise comes on top); default 1000 with -w, else --duration.
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Send for this long (10s, 500ms, 2m); default 10s when transmitting.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<String>,
    /// VNIs to spread the frames over, round-robin over flows (-w: over frames).
    #[arg(long = "vni", default_values_t = [100u32, 200, 300])]
    pub vnis: Vec<u32>,
    /// Inner frame size in bytes (Ethernet, no FCS): N, a range MIN-MAX drawn uniformly, or
    /// imix (60/566/1514 bytes 7:4:1); 60 to 9019 (a 9001-byte IP packet with Ethernet and VLAN headers).
    #[arg(long, default_value = "60-1514")]
    pub inner_size: String,
    /// Add one non-mirror or malformed frame after every N mirrored ones (0: none).
    #[arg(long, default_value_t = 0)]
    pub noise_every: u64,
    /// Seed of the deterministic generator (sizes of a range).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Encapsulation: vxlan (IPv4 outer), vxlan6 (IPv6 outer), gwlb (Geneve with AWS options
    /// around the mirror's IPv4/VXLAN packet, as a Gateway Load Balancer endpoint delivers it).
    #[arg(long, default_value = "vxlan")]
    pub encap: String,
    /// UDP destination port of the VXLAN header.
    #[arg(long, default_value_t = 4789, value_parser = clap::value_parser!(u16).range(1..))]
    pub vxlan_port: u16,
    /// Outer source MAC (default 02:00:00:00:0b:01).
    #[arg(long, value_name = "MAC")]
    pub outer_src_mac: Option<String>,
    /// Outer destination MAC (default 02:00:00:00:0a:01; on a real NIC: the target ENI's).
    #[arg(long, value_name = "MAC")]
    pub outer_dst_mac: Option<String>,
    /// Outer source IP, IPv4 (vxlan, gwlb) or IPv6 (vxlan6); default 198.51.100.10+ or
    /// 2001:db8::10+ per flow group.
    #[arg(long, value_name = "IP")]
    pub outer_src_ip: Option<std::net::IpAddr>,
    /// Outer destination IP (default 198.51.100.1 or 2001:db8::1).
    #[arg(long, value_name = "IP")]
    pub outer_dst_ip: Option<std::net::IpAddr>,
    /// Inner flows (distinct 5-tuples), each with its own sequence numbers.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub flows: u32,
    /// Inner transport: udp, tcp (PSH/ACK segments) or mix (--tcp-share percent of flows TCP).
    #[arg(long, default_value = "udp", value_parser = ["udp", "tcp", "mix"])]
    pub proto: String,
    /// With --proto mix: percent of flows that are TCP.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub tcp_share: u8,
    /// Transmit rate: max, N[k|M]pps, or N[k|M|G]bps in bits on the wire: the outer frame plus
    /// its FCS, preamble and inter-frame gap (24 bytes a packet). Paced with the TSC.
    #[arg(long, default_value = "max", value_name = "RATE")]
    pub rate: String,
    /// TX queues, one TX lcore each (EAL --lcores after -- overrides the default map).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub tx_queues: u16,
    /// Packets per rte_eth_tx_burst.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub burst: u16,
    /// Seconds between live progress lines on stderr (0: none).
    #[arg(long, default_value = "1", value_name = "SECS")]
    pub progress: String,
    /// Write the final report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Outer VLAN tags: 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub outer_vlans: u8,
    /// Put an 802.1Q tag with this VLAN id inside every mirrored frame.
    #[arg(long, value_parser = clap::value_parser!(u16).range(0..=4095))]
    pub inner_vlan: Option<u16>,
    /// Cut mirrored frames to at most this many bytes, as AWS truncates copies larger than the
    /// target's MTU (their inner IP length still says the original).
    #[arg(long, value_parser = clap::value_parser!(u32).range(14..=9000))]
    pub truncate: Option<u32>,
    /// Arguments passed to the DPDK EAL as they are.
    #[arg(last = true, value_name = "EAL_ARGS")]
    pub eal_args: Vec<String>,
}

/// Options that only mean something when transmitting (refused with -w): (GenArgs field, flag).
pub const GEN_DPDK_ONLY: &[(&str, &str)] = &[
    ("duration", "--duration"),
    ("vxlan_port", "--vxlan-port"),
    ("outer_src_mac", "--outer-src-mac"),
    ("outer_dst_mac", "--outer-dst-mac"),
    ("outer_src_ip", "--outer-src-ip"),
    ("outer_dst_ip", "--outer-dst-ip"),
    ("proto", "--proto"),
    ("tcp_share", "--tcp-share"),
    ("rate", "--rate"),
    ("tx_queues", "--tx-queues"),
    ("burst", "--burst"),
    ("report_json", "--report-json"),
    ("eal_args", "EAL arguments after --"),
];
