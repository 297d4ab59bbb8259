//! `run --archive s3://BUCKET/PREFIX` and its options, and the `[archive]` table of the
//! configuration file (a flag given on the command line wins), checked into an
//! [`ArchiveConfig`] (docs/archive.md).
#![forbid(unsafe_code)]
use crate::config::file::{ConfigError, Loaded};
use clap::Args;
use mirrorcap_archive::location::check_appliance_id;
use mirrorcap_archive::{ArchiveUrl, Settings};

/// The archive's flags of `run`.
#[derive(Args, Debug, Clone, Default)]
pub struct ArchiveArgs {
    /// Upload each complete store file (data, index, flow index, flow records) to S3 under
    /// s3://BUCKET/PREFIX/APPLIANCE/worker-NN/...; needs --store-dir (docs/archive.md).
    #[arg(long = "archive", value_name = "s3://BUCKET/PREFIX")]
    pub archive_url: Option<String>,
    /// This appliance's name in the archive's keys [default: the EC2 instance ID from IMDSv2
    /// on EC2, else the host name].
    #[arg(long, value_name = "ID")]
    pub appliance_id: Option<String>,
    /// on: a store file is deleted locally only once uploaded (an S3 outage then fills the
    /// store); off: local retention wins and files deleted before upload are counted
    /// [default: off].
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub archive_required: Option<String>,
    /// An S3-compatible server instead of AWS (http://HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub archive_endpoint: Option<String>,
    /// The bucket's region [default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub archive_region: Option<String>,
    /// A profile of the shared credentials file [default: environment keys, else the
    /// instance role].
    #[arg(long, value_name = "NAME")]
    pub archive_profile: Option<String>,
    /// S3 storage class of the uploaded objects (e.g. STANDARD_IA).
    #[arg(long, value_name = "CLASS")]
    pub archive_storage_class: Option<String>,
    /// Encrypt uploads with SSE-KMS under this key [default: the bucket's encryption].
    #[arg(long, value_name = "KEY_ID")]
    pub archive_kms_key: Option<String>,
}

/// The archive of a `run`, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveConfig {
    pub url: ArchiveUrl,
    /// `None`: found at start (EC2 instance ID, else host name).
    pub appliance_id: Option<String>,
    pub required: bool,
    pub settings: Settings,
}

impl ArchiveArgs {
    /// The typed archive; `store` says whether `--store-dir` is given (the archive uploads
    /// the store's files, so it needs one).
    pub fn to_config(&self, store: bool) -> Result<Option<ArchiveConfig>, String> {
        let Some(url) = &self.archive_url else {
            for (given, flag) in [
                (self.appliance_id.is_some(), "--appliance-id"),
                (self.archive_required.is_some(), "--archive-required"),
                (self.archive_endpoint.is_some(), "--archive-endpoint"),
                (self.archive_region.is_some(), "--archive-region"),
                (self.archive_profile.is_some(), "--archive-profile"),
                (
                    self.archive_storage_class.is_some(),
                    "--archive-storage-class",
                ),
                (self.archive_kms_key.is_some(), "--archive-kms-key"),
            ] {
                if given {
                    return Err(format!("{flag} needs --archive s3://BUCKET/PREFIX"));
                }
            }
            return Ok(None);
        };
        let url: ArchiveUrl = url.parse().map_err(|e| format!("--archive: {e}"))?;
        if !store {
            return Err(
                "--archive needs --store-dir DIR (the archive uploads the store's files)".into(),
            );
        }
        if let Some(id) = &self.appliance_id {
            check_appliance_id(id).map_err(|e| format!("--appliance-id: {e}"))?;
        }
        if let Some(e) = &self.archive_endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(format!(
                    "--archive-endpoint {e}: give http://HOST:PORT or https://..."
                ));
            }
        }
        Ok(Some(ArchiveConfig {
            url: url.clone(),
            appliance_id: self.appliance_id.clone(),
            required: self.archive_required.as_deref() == Some("on"),
            settings: Settings {
                url: Some(url),
                region: self.archive_region.clone(),
                endpoint: self.archive_endpoint.clone(),
                profile: self.archive_profile.clone(),
                storage_class: self.archive_storage_class.clone(),
                sse_kms_key_id: self.archive_kms_key.clone(),
            },
        }))
    }
}

/// Applies the file's `[archive]` values to `a` where the flag was not given (`on_cli` takes
/// `ArchiveArgs` field names).
pub fn apply_archive(
    l: &Loaded,
    a: &mut ArchiveArgs,
    on_cli: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let s = &l.config.archive;
    let take = |id: &str| !on_cli(id);
    if let (Some(v), true) = (&s.url, take("archive_url")) {
        v.get_ref()
            .parse::<ArchiveUrl>()
            .map_err(|m| l.error(v, "archive.url", m))?;
        a.archive_url = Some(v.get_ref().clone());
    }
    if let (Some(v), true) = (&s.appliance_id, take("appliance_id")) {
        check_appliance_id(v.get_ref()).map_err(|m| l.error(v, "archive.appliance_id", m))?;
        a.appliance_id = Some(v.get_ref().clone());
    }
    if let (Some(v), true) = (&s.required, take("archive_required")) {
        a.archive_required = Some(if *v.get_ref() { "on" } else { "off" }.into());
    }
    for (v, id, dst) in [
        (&s.endpoint, "archive_endpoint", &mut a.archive_endpoint),
        (&s.region, "archive_region", &mut a.archive_region),
        (&s.profile, "archive_profile", &mut a.archive_profile),
        (
            &s.storage_class,
            "archive_storage_class",
            &mut a.archive_storage_class,
        ),
        (&s.sse_kms_key_id, "archive_kms_key", &mut a.archive_kms_key),
    ] {
        if let (Some(v), true) = (v, take(id)) {
            if v.get_ref().trim().is_empty() {
                return Err(l.error(
                    v,
                    &format!("archive.{}", id.trim_start_matches("archive_")),
                    "must not be empty",
                ));
            }
            *dst = Some(v.get_ref().clone());
        }
    }
    Ok(())
}
