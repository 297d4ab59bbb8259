//! Why an S3 request failed, as the `cause` label of `mirrorcap_archive_failures_total`: what
//! an operator does about it differs (fix the role, create the bucket, wait for the network).

use std::fmt;

/// The kinds of failure told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// Refused credentials: unknown key, bad signature, access denied (401/403).
    Credentials,
    /// The bucket does not exist.
    Bucket,
    /// No answer: connection refused or reset, DNS, time-out.
    Network,
    /// The server answered with an error of its own (5xx, throttling).
    Server,
    /// A local file could not be read for upload.
    Local,
    Other,
}

impl Cause {
    pub const ALL: [Cause; 6] = [
        Cause::Credentials,
        Cause::Bucket,
        Cause::Network,
        Cause::Server,
        Cause::Local,
        Cause::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Credentials => "credentials",
            Cause::Bucket => "bucket",
            Cause::Network => "network",
            Cause::Server => "server",
            Cause::Local => "local",
            Cause::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        Cause::ALL.iter().position(|&c| c == self).unwrap_or(5)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cause of an `object_store` error. Its typed variants say 401/403/404; the rest is told
/// by the S3 error code or the transport's words in its message, which is all it keeps.
pub fn classify(e: &object_store::Error) -> Cause {
    use object_store::Error as E;
    let text = error_text(e);
    match e {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => Cause::Credentials,
        _ if text.contains("NoSuchBucket") => Cause::Bucket,
        _ if [
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "403 Forbidden",
        ]
        .iter()
        .any(|w| text.contains(w)) =>
        {
            Cause::Credentials
        }
        _ if [
            "error sending request",
            "onnection refused",
            "timed out",
            "connect",
            "dns",
        ]
        .iter()
        .any(|w| text.contains(w)) =>
        {
            Cause::Network
        }
        _ if ["500", "502", "503", "504", "SlowDown", "InternalError"]
            .iter()
            .any(|w| text.contains(w)) =>
        {
            Cause::Server
        }
        _ => Cause::Other,
    }
}

/// The error's text and, when deeper, the root cause's (each level of `object_store`'s
/// errors repeats the one below it, so the middle adds nothing).
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut root = None;
    let mut cur = e.source();
    while let Some(c) = cur {
        root = Some(c.to_string());
        cur = c.source();
    }
    if let Some(r) = root.filter(|r| !s.contains(r.as_str())) {
        s.push_str(": ");
        s.push_str(&r);
    }
    s
}

/// What a log line shows of an S3 error: the S3 error code and message when the server sent
/// them (errors carry whole XML bodies), else the first `max` characters of the text and its
/// root cause.
pub fn short(text: &str, max: usize) -> String {
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{t}>"))? + start;
        Some(text[start..end].to_string())
    };
    if let (Some(code), Some(msg)) = (tag("Code"), tag("Message")) {
        return format!("S3 error {code}: {msg}");
    }
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        return line.to_string();
    }
    let head: String = line.chars().take(max / 2).collect();
    let tail: String = {
        let v: Vec<char> = line.chars().collect();
        v[v.len() - max / 2..].iter().collect()
    };
    format!("{head} ... {tail}")
}
