//! What `export` and `tail` write: classic nanosecond pcap, or pcapng with one interface per
//! mirror session (named `vni-<n>`, a configured session's name, or `untagged`) so Wireshark
//! shows which session each frame came from. Also the per-record session selection (`--vni`).
use super::pcapfmt::{file_header, RecordHeader, LINKTYPE_ETHERNET, SNAPLEN};
use super::reader::Record;
use super::record_meta::RecordMeta;
use std::collections::HashMap;
use std::io::{self, Write};

/// Output file format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Pcap,
    Pcapng,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pcap" => Ok(Format::Pcap),
            "pcapng" => Ok(Format::Pcapng),
            _ => Err(format!("unknown format {s:?}: use pcap or pcapng")),
        }
    }
}

/// Which sessions to keep: every record when `vnis` is empty, else those whose VNI is listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub vnis: Vec<u32>,
}

impl SessionFilter {
    #[inline]
    pub fn keeps(&self, meta: RecordMeta) -> bool {
        self.vnis.is_empty() || meta.vni().is_some_and(|v| self.vnis.contains(&v))
    }
}

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_END: u16 = 0;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

fn put_option(b: &mut Vec<u8>, code: u16, value: &[u8]) {
    b.extend_from_slice(&code.to_le_bytes());
    b.extend_from_slice(&(value.len() as u16).to_le_bytes());
    b.extend_from_slice(value);
    b.resize(pad4(b.len()), 0);
}

/// Wraps `body` (block fields after the length word) into a whole block.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + pad4(body.len())) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(pad4(b.len()), 0);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

fn section_header() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    let app = format!("mirrorcap {}", env!("CARGO_PKG_VERSION"));
    put_option(&mut body, SHB_USERAPPL, app.as_bytes());
    put_option(&mut body, OPT_END, &[]);
    block(SHB, &body)
}

fn interface(name: &str, description: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(LINKTYPE_ETHERNET as u16).to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&SNAPLEN.to_le_bytes());
    put_option(&mut body, IF_NAME, name.as_bytes());
    put_option(&mut body, IF_DESCRIPTION, description.as_bytes());
    put_option(&mut body, IF_TSRESOL, &[9]);
    put_option(&mut body, OPT_END, &[]);
    block(IDB, &body)
}

fn enhanced_packet(interface: u32, r: &Record) -> Vec<u8> {
    let mut body = Vec::with_capacity(20 + pad4(r.data.len()));
    body.extend_from_slice(&interface.to_le_bytes());
    body.extend_from_slice(&((r.ts_ns >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(r.ts_ns as u32).to_le_bytes());
    body.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
    body.extend_from_slice(&r.orig_len.max(r.data.len() as u32).to_le_bytes());
    body.extend_from_slice(&r.data);
    block(EPB, &body)
}

/// Names configured sessions by slot (1..=254); None falls back to `vni-<n>`.
pub type SessionNames<'a> = dyn Fn(u8) -> Option<String> + 'a;

/// Writes records in one format, declaring pcapng interfaces as sessions first appear.
pub struct Sink<'a> {
    format: Format,
    interfaces: HashMap<u32, u32>,
    names: Option<&'a SessionNames<'a>>,
}

impl<'a> Sink<'a> {
    pub fn new(format: Format) -> Self {
        Sink {
            format,
            interfaces: HashMap::new(),
            names: None,
        }
    }

    /// Names configured sessions' interfaces (pcapng).
    pub fn with_names(mut self, names: &'a SessionNames<'a>) -> Self {
        self.names = Some(names);
        self
    }

    /// Interfaces declared so far (pcapng), one per session seen.
    pub fn interfaces(&self) -> usize {
        self.interfaces.len()
    }

    /// The file header (pcap) or section header (pcapng).
    pub fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Pcap => out.write_all(&file_header()),
            Format::Pcapng => out.write_all(&section_header()),
        }
    }

    pub fn write(&mut self, out: &mut dyn Write, r: &Record) -> io::Result<()> {
        match self.format {
            Format::Pcap => {
                let h = RecordHeader {
                    ts_ns: r.ts_ns,
                    incl_len: r.data.len() as u32,
                    orig_len: r.orig_len,
                };
                out.write_all(&h.encode())?;
                out.write_all(&r.data)
            }
            Format::Pcapng => {
                let id = self.interface_of(out, r.meta)?;
                out.write_all(&enhanced_packet(id, r))
            }
        }
    }

    /// The interface of `meta`'s session, declared on first use. A configured session is
    /// one interface whatever its VNIs; otherwise each VNI is its own.
    fn interface_of(&mut self, out: &mut dyn Write, meta: RecordMeta) -> io::Result<u32> {
        let configured = (1..=254).contains(&meta.session());
        let key = if configured {
            (meta.session() as u32) << 24
        } else {
            meta.0
        };
        if let Some(&id) = self.interfaces.get(&key) {
            return Ok(id);
        }
        let name = configured
            .then(|| self.names.and_then(|n| n(meta.session())))
            .flatten()
            .unwrap_or_else(|| meta.default_name());
        let description = match meta.vni() {
            Some(_) if configured => format!("mirror session {name}"),
            Some(v) => format!("mirror session VNI {v}"),
            None => "frames captured without a tunnel".to_string(),
        };
        out.write_all(&interface(&name, &description))?;
        let id = self.interfaces.len() as u32;
        self.interfaces.insert(key, id);
        Ok(id)
    }
}
