//! The TOML configuration file (`--config FILE`): every `run` option under `[run]` (keys are
//! the flags' names with `_`), the mirror sessions as `[[session]]` tables, and `[default]` for
//! VNIs no session names. Unknown keys and bad values are refused with the file, line and
//! field named. Command-line flags override the file.
#![forbid(unsafe_code)]
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A configuration error: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.field,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// `[run]`: the `run` flags, each optional (absent keeps the flag's default).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub device: Option<Spanned<Vec<String>>>,
    pub vdev: Option<Spanned<Vec<String>>>,
    pub workers: Option<Spanned<u16>>,
    pub ring_dir: Option<Spanned<PathBuf>>,
    pub segment_size: Option<Spanned<String>>,
    pub segments: Option<Spanned<u32>>,
    pub ring_policy: Option<Spanned<String>>,
    pub mbufs: Option<Spanned<u32>>,
    pub metrics_addr: Option<Spanned<String>>,
    pub metrics_max_connections: Option<Spanned<u32>>,
    pub ring_group: Option<Spanned<String>>,
    pub vxlan_port: Option<Spanned<Vec<u16>>>,
    pub geneve_port: Option<Spanned<Vec<u16>>>,
    pub max_depth: Option<Spanned<u8>>,
    pub keep_unencapsulated: Option<Spanned<bool>>,
    pub stamps: Option<Spanned<bool>>,
    pub exit_when_idle: Option<Spanned<String>>,
    pub store_dir: Option<Spanned<PathBuf>>,
    pub store_size: Option<Spanned<String>>,
    pub store_compress: Option<Spanned<String>>,
    pub store_max_age: Option<Spanned<String>>,
    pub store_min_free: Option<Spanned<String>>,
    pub store_flow_index: Option<Spanned<bool>>,
    pub store_flow_records: Option<Spanned<bool>>,
    pub eal_args: Option<Spanned<Vec<String>>>,
}

/// `[archive]`: `run --archive` and its options (docs/archive.md).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSection {
    pub url: Option<Spanned<String>>,
    pub appliance_id: Option<Spanned<String>>,
    pub required: Option<Spanned<bool>>,
    pub endpoint: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub profile: Option<Spanned<String>>,
    pub storage_class: Option<Spanned<String>>,
    pub sse_kms_key_id: Option<Spanned<String>>,
}

/// One VNI or a list of them.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Vnis {
    One(u32),
    Many(Vec<u32>),
}

impl Vnis {
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            Vnis::One(v) => vec![*v],
            Vnis::Many(v) => v.clone(),
        }
    }
}

/// `[[session]]`: one mirror session.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSection {
    pub name: Spanned<String>,
    pub vni: Spanned<Vnis>,
    /// Outer source addresses (CIDR) the session is limited to; any when absent.
    pub source: Option<Spanned<Vec<String>>>,
    pub action: Option<Spanned<String>>,
    pub snaplen: Option<Spanned<u32>>,
    pub sample: Option<Spanned<u32>>,
    pub filter: Option<Spanned<String>>,
    pub dedup: Option<Spanned<String>>,
}

/// `[default]`: what happens to packets of a VNI no session names.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSection {
    pub action: Option<Spanned<String>>,
    pub snaplen: Option<Spanned<u32>>,
    pub sample: Option<Spanned<u32>>,
    pub filter: Option<Spanned<String>>,
    pub dedup: Option<Spanned<String>>,
}

/// The whole file as written.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub run: RunSection,
    #[serde(default)]
    pub archive: ArchiveSection,
    #[serde(default)]
    pub default: DefaultSection,
    #[serde(default, rename = "session")]
    pub sessions: Vec<SessionSection>,
}

/// A parsed file and its text (to turn spans into line numbers).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub config: FileConfig,
}

impl Loaded {
    /// Reads and parses `path`; syntax errors, unknown keys and wrong types are refused here.
    pub fn read(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(path, text)
    }

    pub fn parse(path: &Path, text: String) -> Result<Loaded, ConfigError> {
        match toml::from_str::<FileConfig>(&text) {
            Ok(config) => Ok(Loaded {
                path: path.to_path_buf(),
                text,
                config,
            }),
            Err(e) => {
                let at = e.span().map_or(0, |s| s.start);
                Err(ConfigError {
                    file: path.to_path_buf(),
                    line: line_of(&text, at),
                    field: field_at(&text, at),
                    message: e.message().trim().replace('\n', " "),
                })
            }
        }
    }

    /// An error about the value at `span`, in field `field` (e.g. `session[2].filter`).
    pub fn error<T>(&self, v: &Spanned<T>, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            line: line_of(&self.text, v.span().start),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// 1-based line of byte `at`.
pub fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// `table.key` for the key on the line holding byte `at` (best effort, for parse errors).
fn field_at(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .unwrap_or_default();
    let table = text[..start]
        .lines()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            (l.starts_with('[') && l.ends_with(']')).then(|| l.trim_matches(['[', ']']).to_string())
        })
        .unwrap_or_default();
    match (table.is_empty(), key.is_empty()) {
        (_, true) => table,
        (true, false) => key,
        (false, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Loaded, ConfigError> {
        Loaded::parse(Path::new("m.toml"), s.to_string())
    }

    #[test]
    fn a_full_file_parses() {
        let l = parse(
            r#"
[run]
vdev = ["net_null0"]
workers = 2
segment_size = "16MiB"

[default]
action = "drop"

[[session]]
name = "web"
vni = [100, 101]
source = ["10.0.0.0/8"]
filter = "tcp port 443"
snaplen = 128
sample = 4

[[session]]
name = "db"
vni = 200
"#,
        )
        .unwrap();
        let c = &l.config;
        assert_eq!(c.run.workers.as_ref().map(|w| *w.get_ref()), Some(2));
        assert_eq!(c.sessions.len(), 2);
        assert_eq!(c.sessions[0].vni.get_ref().to_vec(), vec![100, 101]);
        assert_eq!(c.sessions[1].vni.get_ref().to_vec(), vec![200]);
        assert_eq!(line_of(&l.text, c.sessions[1].vni.span().start), 20);
    }

    #[test]
    fn unknown_keys_and_types_name_file_line_and_field() {
        let e = parse("[run]\nworkers = 2\nsegmnets = 4\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "run.segmnets"));
        assert!(e.message.contains("unknown field `segmnets`"), "{e}");
        assert!(e
            .to_string()
            .starts_with("m.toml:3: run.segmnets: unknown field"));
        let e = parse("[run]\nworkers = \"two\"\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "run.workers"), "{e}");
        let e = parse("[[session]]\nname = \"a\"\nvni = 1\ncolour = 3\n").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("colour"), "{e}");
        let e = parse("[run\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        let e = parse("[[session]]\nvni = 1\n").unwrap_err();
        assert!(e.message.contains("missing field `name`"), "{e}");
    }
}
