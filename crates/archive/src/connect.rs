//! Connecting to the archive: credentials, region, endpoint, encryption and storage class,
//! as `[archive]` and the environment give them.
//!
//! Credentials, first found wins: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! (/`AWS_SESSION_TOKEN`) in the environment; a named profile (`profile` or `AWS_PROFILE`)
//! of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`);
//! else the instance role, from IMDSv2 (EC2) or the container's endpoint (ECS), which
//! `object_store` fetches and refreshes itself.

use crate::location::ArchiveUrl;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{Attribute, Attributes, ClientConfigKey, ObjectStore, RetryConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach the archive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub url: Option<ArchiveUrl>,
    /// Default: `AWS_REGION` / `AWS_DEFAULT_REGION`, else us-east-1.
    pub region: Option<String>,
    /// An S3-compatible server instead of AWS (`http://` allowed).
    pub endpoint: Option<String>,
    pub profile: Option<String>,
    /// S3 storage class of uploaded objects (STANDARD_IA, INTELLIGENT_TIERING, ...).
    pub storage_class: Option<String>,
    /// SSE-KMS with this key; else the bucket's default encryption.
    pub sse_kms_key_id: Option<String>,
}

/// A connected archive: the object store and what every upload carries.
#[derive(Debug)]
pub struct Archive {
    pub store: Arc<dyn ObjectStore>,
    pub url: ArchiveUrl,
    /// The storage class, if one is set.
    pub attributes: Attributes,
}

/// Builds the client for `url` (no request is made: see [`crate::check`]). The error is one
/// line for the user: a profile that does not exist, an endpoint that does not parse.
pub fn connect(url: &ArchiveUrl, s: &Settings) -> Result<Archive, String> {
    let mut b = AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(r) = s.region.clone().or_else(|| env("AWS_REGION")) {
        b = b.with_region(r);
    }
    if let Some(e) = &s.endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(format!(
                "archive endpoint {e:?}: give http://HOST:PORT or https://..."
            ));
        }
        b = b
            .with_endpoint(e)
            .with_allow_http(e.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    let have_env_keys = env("AWS_ACCESS_KEY_ID").is_some();
    if let Some(p) = s.profile.clone().or_else(|| env("AWS_PROFILE")) {
        if !have_env_keys {
            let (id, secret, token) = profile_keys(&p)?;
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(t) = token {
                b = b.with_token(t);
            }
        }
    }
    if let Some(k) = &s.sse_kms_key_id {
        b = b.with_sse_kms_encryption(k);
    }
    // object_store retries a failed request itself (with backoff) before the uploader's own,
    // slower, retries take over; a query gives up within a minute on a dead endpoint.
    let retry = RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..RetryConfig::default()
    };
    // Through the config keys, not `with_client_options`, which would replace the options
    // `from_env` and `with_allow_http` set.
    let store = b
        .with_retry(retry)
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5s",
        )
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "120s")
        .build()
        .map_err(|e| format!("archive {url}: {}", crate::cause::error_text(&e)))?;
    let mut attributes = Attributes::new();
    if let Some(c) = &s.storage_class {
        attributes.insert(Attribute::StorageClass, c.clone().into());
    }
    Ok(Archive {
        store: Arc::new(store),
        url: url.clone(),
        attributes,
    })
}

/// The shared credentials file.
fn credentials_file() -> PathBuf {
    match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".aws/credentials"),
    }
}

/// (key id, secret, session token) of profile `name` in the shared credentials file.
fn profile_keys(name: &str) -> Result<(String, String, Option<String>), String> {
    let path = credentials_file();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("archive profile {name:?}: {}: {e}", path.display()))?;
    let keys = parse_profile(&text, name).ok_or_else(|| {
        format!(
            "archive profile {name:?}: not in {} (or without aws_access_key_id and aws_secret_access_key)",
            path.display()
        )
    })?;
    Ok(keys)
}

/// The keys of section `[name]` of an INI credentials file.
fn parse_profile(text: &str, name: &str) -> Option<(String, String, Option<String>)> {
    let (mut inside, mut id, mut secret, mut token) = (false, None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(sec) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = sec.trim() == name;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_string());
            match k.trim() {
                "aws_access_key_id" => id = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some((id?, secret?, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_their_section_only() {
        let ini = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n# c\n[lab]\naws_access_key_id=C\naws_secret_access_key= D\naws_session_token =E\n";
        assert_eq!(
            parse_profile(ini, "default"),
            Some(("A".into(), "B".into(), None))
        );
        assert_eq!(
            parse_profile(ini, "lab"),
            Some(("C".into(), "D".into(), Some("E".into())))
        );
        assert_eq!(parse_profile(ini, "none"), None);
        assert_eq!(parse_profile("[x]\naws_access_key_id=A\n", "x"), None);
    }
}
