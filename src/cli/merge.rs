//! The effective `run` configuration: the file's `[run]` values under the command line's
//! (a flag given on the command line wins), each file value checked and reported with its
//! line; the merged flags checked once into a typed [`RunConfig`]; and the effective
//! configuration printed back as TOML (`check-config`).
#![forbid(unsafe_code)]
use super::RunArgs;
use crate::config::file::{ConfigError, Loaded};
use crate::config::run_config::StoreConfig;
use crate::config::sessions::SessionSet;
use crate::config::{parse_duration, parse_size, RunConfig};
use mirrorcap_decap::DecapConfig;
use mirrorcap_ring::{Geometry, RingPolicy};
use mirrorcap_store::Compression;
use serde::Serialize;
use std::path::PathBuf;
use toml::Spanned;

fn range<T: Copy + PartialOrd + std::fmt::Display>(
    l: &Loaded,
    v: &Spanned<T>,
    field: &str,
    lo: T,
    hi: T,
) -> Result<T, ConfigError> {
    let x = *v.get_ref();
    if x < lo || x > hi {
        return Err(l.error(v, field, format!("{x}: must be {lo} to {hi}")));
    }
    Ok(x)
}

/// Applies the file's `[run]` values to `a` where `on_cli(id)` says the flag was not given on
/// the command line (ids are `RunArgs` field names).
pub fn apply_run(
    l: &Loaded,
    a: &mut RunArgs,
    on_cli: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let r = &l.config.run;
    let take = |id: &str| !on_cli(id);
    if let (Some(v), true) = (&r.device, take("devices")) {
        a.devices = v.get_ref().clone();
    }
    if let (Some(v), true) = (&r.vdev, take("vdevs")) {
        a.vdevs = v.get_ref().clone();
    }
    if let (Some(v), true) = (&r.workers, take("workers")) {
        a.workers = range(l, v, "run.workers", 1, 64)?;
    }
    if let (Some(v), true) = (&r.ring_dir, take("ring_dir")) {
        a.ring_dir = v.get_ref().clone();
    }
    if let (Some(v), true) = (&r.segment_size, take("segment_size")) {
        let n = parse_size(v.get_ref()).map_err(|m| l.error(v, "run.segment_size", m))?;
        if !(Geometry::MIN_SEGMENT_SIZE..=Geometry::MAX_SEGMENT_SIZE).contains(&n) {
            return Err(l.error(v, "run.segment_size", "must be between 1MiB and 1TiB"));
        }
        a.segment_size = v.get_ref().clone();
    }
    if let (Some(v), true) = (&r.segments, take("segments")) {
        a.segments = range(l, v, "run.segments", 2, Geometry::MAX_SEGMENTS)?;
    }
    if let (Some(v), true) = (&r.ring_policy, take("ring_policy")) {
        if !matches!(v.get_ref().as_str(), "overwrite" | "stop") {
            return Err(l.error(
                v,
                "run.ring_policy",
                format!("{:?}: use \"overwrite\" or \"stop\"", v.get_ref()),
            ));
        }
        a.ring_policy = v.get_ref().clone();
    }
    if let (Some(v), true) = (&r.mbufs, take("mbufs")) {
        a.mbufs = Some(range(l, v, "run.mbufs", 1023, 1_048_575)?);
    }
    if let (Some(v), true) = (&r.metrics_addr, take("metrics_addr")) {
        v.get_ref().parse::<std::net::SocketAddr>().map_err(|_| {
            l.error(
                v,
                "run.metrics_addr",
                "use ADDRESS:PORT, e.g. \"127.0.0.1:9200\"",
            )
        })?;
        a.metrics_addr = v.get_ref().clone();
    }
    if let (Some(v), true) = (&r.metrics_max_connections, take("metrics_max_connections")) {
        a.metrics_max_connections = range(l, v, "run.metrics_max_connections", 1, 1024)?;
    }
    if let (Some(v), true) = (&r.ring_group, take("ring_group")) {
        if v.get_ref().is_empty() {
            return Err(l.error(v, "run.ring_group", "give a group name, e.g. \"adm\""));
        }
        a.ring_group = Some(v.get_ref().clone());
    }
    for (v, field, id, dst) in [
        (
            &r.vxlan_port,
            "run.vxlan_port",
            "vxlan_ports",
            &mut a.vxlan_ports,
        ),
        (
            &r.geneve_port,
            "run.geneve_port",
            "geneve_ports",
            &mut a.geneve_ports,
        ),
    ] {
        if let (Some(v), true) = (v, take(id)) {
            if v.get_ref().is_empty() || v.get_ref().contains(&0) {
                return Err(l.error(v, field, "list one or more UDP ports, 1 to 65535"));
            }
            *dst = v.get_ref().clone();
        }
    }
    if let (Some(v), true) = (&r.max_depth, take("max_depth")) {
        a.max_depth = range(l, v, "run.max_depth", 1, 8)?;
    }
    if let (Some(v), true) = (&r.keep_unencapsulated, take("keep_unencapsulated")) {
        a.keep_unencapsulated = *v.get_ref();
    }
    if let (Some(v), true) = (&r.stamps, take("stamps")) {
        a.stamps = *v.get_ref();
    }
    if let (Some(v), true) = (&r.exit_when_idle, take("exit_when_idle")) {
        parse_duration(v.get_ref()).map_err(|m| l.error(v, "run.exit_when_idle", m))?;
        a.exit_when_idle = Some(v.get_ref().clone());
    }
    if let (Some(v), true) = (&r.store_dir, take("store_dir")) {
        if v.get_ref().as_os_str().is_empty() {
            return Err(l.error(
                v,
                "run.store_dir",
                "give a directory, e.g. \"/var/lib/mirrorcap/store\"",
            ));
        }
        a.store_dir = Some(v.get_ref().clone());
    }
    if let (Some(v), true) = (&r.store_size, take("store_size")) {
        parse_size(v.get_ref()).map_err(|m| l.error(v, "run.store_size", m))?;
        a.store_size = Some(v.get_ref().clone());
    }
    if let (Some(v), true) = (&r.store_compress, take("store_compress")) {
        if !matches!(v.get_ref().as_str(), "zstd" | "none") {
            return Err(l.error(
                v,
                "run.store_compress",
                format!("{:?}: use \"zstd\" or \"none\"", v.get_ref()),
            ));
        }
        a.store_compress = Some(v.get_ref().clone());
    }
    if let (Some(v), true) = (&r.store_max_age, take("store_max_age")) {
        parse_duration(v.get_ref()).map_err(|m| l.error(v, "run.store_max_age", m))?;
        a.store_max_age = Some(v.get_ref().clone());
    }
    if let (Some(v), true) = (&r.store_min_free, take("store_min_free")) {
        parse_min_free(v.get_ref()).map_err(|m| l.error(v, "run.store_min_free", m))?;
        a.store_min_free = Some(v.get_ref().clone());
    }
    if let (Some(v), true) = (&r.store_flow_index, take("store_flow_index")) {
        a.store_flow_index = Some(if *v.get_ref() { "on" } else { "off" }.to_string());
    }
    if let (Some(v), true) = (&r.store_flow_records, take("store_flow_records")) {
        a.store_flow_records = Some(if *v.get_ref() { "on" } else { "off" }.to_string());
    }
    if let (Some(v), true) = (&r.eal_args, take("eal_args")) {
        a.eal_args = v.get_ref().clone();
    }
    Ok(())
}

/// What `check-config` prints: the configuration `run` would use.
#[derive(Serialize)]
pub struct Effective<'a> {
    pub run: EffectiveRun<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<EffectiveArchive<'a>>,
    #[serde(flatten)]
    pub sessions: &'a SessionSet,
}

#[derive(Serialize)]
pub struct EffectiveRun<'a> {
    pub device: &'a [String],
    pub vdev: &'a [String],
    pub workers: u16,
    pub ring_dir: &'a PathBuf,
    pub segment_size: &'a str,
    pub segments: u32,
    pub ring_policy: &'a str,
    /// Absent: sized at start (see `sizing::pool_mbufs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mbufs: Option<u32>,
    pub metrics_addr: &'a str,
    pub metrics_max_connections: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_group: Option<&'a str>,
    pub vxlan_port: &'a [u16],
    pub geneve_port: &'a [u16],
    pub max_depth: u8,
    pub keep_unencapsulated: bool,
    pub stamps: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_when_idle: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_dir: Option<&'a PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_size: Option<&'a str>,
    /// Printed with its default when a store is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_compress: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_max_age: Option<&'a str>,
    /// Printed with its default when a store is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_min_free: Option<&'a str>,
    /// Printed with its default when a store is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_flow_index: Option<bool>,
    /// Printed with its default when a store is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_flow_records: Option<bool>,
    pub eal_args: &'a [String],
}

/// `[archive]` as `run` would use it (printed when an archive is configured).
#[derive(Serialize)]
pub struct EffectiveArchive<'a> {
    pub url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appliance_id: Option<&'a str>,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sse_kms_key_id: Option<&'a str>,
}

/// The effective configuration as TOML.
pub fn effective_toml(a: &RunArgs) -> String {
    let e = Effective {
        run: EffectiveRun {
            device: &a.devices,
            vdev: &a.vdevs,
            workers: a.workers,
            ring_dir: &a.ring_dir,
            segment_size: &a.segment_size,
            segments: a.segments,
            ring_policy: &a.ring_policy,
            mbufs: a.mbufs,
            metrics_addr: &a.metrics_addr,
            metrics_max_connections: a.metrics_max_connections,
            ring_group: a.ring_group.as_deref(),
            vxlan_port: &a.vxlan_ports,
            geneve_port: &a.geneve_ports,
            max_depth: a.max_depth,
            keep_unencapsulated: a.keep_unencapsulated,
            stamps: a.stamps,
            exit_when_idle: a.exit_when_idle.as_deref(),
            store_dir: a.store_dir.as_ref(),
            store_size: a.store_size.as_deref(),
            store_compress: a
                .store_compress
                .as_deref()
                .or(a.store_dir.as_ref().map(|_| "zstd")),
            store_max_age: a.store_max_age.as_deref(),
            store_min_free: a
                .store_min_free
                .as_deref()
                .or(a.store_dir.as_ref().map(|_| DEFAULT_MIN_FREE)),
            store_flow_index: a
                .store_dir
                .as_ref()
                .map(|_| a.store_flow_index.as_deref() != Some("off")),
            store_flow_records: a
                .store_dir
                .as_ref()
                .map(|_| a.store_flow_records.as_deref() != Some("off")),
            eal_args: &a.eal_args,
        },
        archive: a.archive.archive_url.as_deref().map(|url| {
            let r = &a.archive;
            EffectiveArchive {
                url,
                appliance_id: r.appliance_id.as_deref(),
                required: r.archive_required.as_deref() == Some("on"),
                endpoint: r.archive_endpoint.as_deref(),
                region: r.archive_region.as_deref(),
                profile: r.archive_profile.as_deref(),
                storage_class: r.archive_storage_class.as_deref(),
                sse_kms_key_id: r.archive_kms_key.as_deref(),
            }
        }),
        sessions: &a.sessions,
    };
    toml::to_string(&e).unwrap_or_else(|err| format!("# cannot print the configuration: {err}\n"))
}

impl RunArgs {
    /// The merged flags, checked and typed: each error names the flag and the fix.
    pub fn to_config(&self) -> Result<RunConfig, String> {
        let geometry = Geometry {
            segments: self.segments,
            segment_size: parse_size(&self.segment_size)
                .map_err(|e| format!("--segment-size: {e}"))?,
        };
        geometry.validate()?;
        let log_interval = parse_duration(&self.log_interval)
            .ok()
            .filter(|d| *d >= std::time::Duration::from_secs(1))
            .ok_or_else(|| {
                format!(
                    "--log-interval {}: give a duration of at least 1s, e.g. 30s, 5m",
                    self.log_interval
                )
            })?;
        let exit_when_idle = match &self.exit_when_idle {
            Some(s) => Some(parse_duration(s).map_err(|e| format!("--exit-when-idle: {e}"))?),
            None => None,
        };
        let store = self.store_config()?;
        let archive = self.archive.to_config(store.is_some())?;
        let c = RunConfig {
            config_file: self.config.clone(),
            devices: self.devices.clone(),
            vdevs: self.vdevs.clone(),
            eal_args: self.eal_args.clone(),
            workers: self.workers.into(),
            ring_dir: self.ring_dir.clone(),
            geometry,
            ring_policy: match self.ring_policy.as_str() {
                "stop" => RingPolicy::Stop,
                _ => RingPolicy::Overwrite,
            },
            ring_group: self.ring_group.clone(),
            mbufs: self.mbufs,
            metrics_addr: self.metrics_addr.clone(),
            metrics_max_connections: self.metrics_max_connections as usize,
            decap: DecapConfig {
                vxlan_ports: self.vxlan_ports.clone(),
                geneve_ports: self.geneve_ports.clone(),
                max_depth: self.max_depth,
            },
            keep_unencapsulated: self.keep_unencapsulated,
            stamps: self.stamps,
            exit_when_idle,
            log_interval,
            sessions: self.sessions.clone(),
            store,
            archive,
        };
        c.validate()?;
        Ok(c)
    }

    /// The store options, typed; each needs `--store-dir`.
    fn store_config(&self) -> Result<Option<StoreConfig>, String> {
        let Some(dir) = &self.store_dir else {
            for (given, flag) in [
                (self.store_size.is_some(), "--store-size"),
                (self.store_compress.is_some(), "--store-compress"),
                (self.store_max_age.is_some(), "--store-max-age"),
                (self.store_min_free.is_some(), "--store-min-free"),
                (self.store_flow_index.is_some(), "--store-flow-index"),
                (self.store_flow_records.is_some(), "--store-flow-records"),
            ] {
                if given {
                    return Err(format!(
                        "{flag} needs --store-dir DIR (where the store keeps its files)"
                    ));
                }
            }
            return Ok(None);
        };
        if dir.as_os_str().is_empty() {
            return Err("--store-dir: give a directory, e.g. /var/lib/mirrorcap/store".into());
        }
        let size = match &self.store_size {
            Some(s) => Some(parse_size(s).map_err(|e| format!("--store-size: {e}"))?),
            None => None,
        };
        let max_age = match &self.store_max_age {
            Some(s) => Some(parse_duration(s).map_err(|e| format!("--store-max-age: {e}"))?),
            None => None,
        };
        let min_free = parse_min_free(self.store_min_free.as_deref().unwrap_or(DEFAULT_MIN_FREE))
            .map_err(|e| format!("--store-min-free: {e}"))?;
        let compression = match self.store_compress.as_deref() {
            None | Some("zstd") => Compression::DEFAULT_ZSTD,
            Some("none") => Compression::None,
            Some(o) => return Err(format!("--store-compress {o}: use zstd or none")),
        };
        Ok(Some(StoreConfig {
            dir: dir.clone(),
            size,
            compression,
            max_age,
            min_free,
            flow_index: self.store_flow_index.as_deref() != Some("off"),
            flow_records: self.store_flow_records.as_deref() != Some("off"),
        }))
    }
}

/// The store's free-space floor when none is given: Stenographer's default too.
pub const DEFAULT_MIN_FREE: &str = "10%";

/// `--store-min-free`: `N%` of the file system (1 to 90), a size, or 0 (no floor).
pub fn parse_min_free(s: &str) -> Result<Option<mirrorcap_store::MinFree>, String> {
    use mirrorcap_store::MinFree;
    if let Some(p) = s.trim().strip_suffix('%') {
        return match p.trim().parse::<u8>() {
            Ok(0) => Ok(None),
            Ok(p @ 1..=90) => Ok(Some(MinFree::Percent(p))),
            _ => Err(format!(
                "{s:?}: a percentage from 0% to 90%, or a size (20GiB)"
            )),
        };
    }
    match parse_size(s)? {
        0 => Ok(None),
        b => Ok(Some(MinFree::Bytes(b))),
    }
}
