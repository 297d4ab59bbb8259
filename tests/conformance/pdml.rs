//! tshark's PDML dissection of a capture, and the capture's bytes read with `pcap-file`.
use crate::support::*;
use std::path::Path;

#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub show: String,
    pub value: String,
    pub pos: usize,
    pub size: usize,
}

impl Field {
    pub fn num(&self) -> Option<u64> {
        let s = self.show.as_str();
        match s {
            "True" => Some(1),
            "False" => Some(0),
            _ => match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            },
        }
    }
}

#[derive(Debug)]
pub struct Proto {
    pub name: String,
    pub pos: usize,
    pub fields: Vec<Field>,
}

impl Proto {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
    pub fn num(&self, name: &str) -> Option<u64> {
        self.field(name).and_then(Field::num)
    }
    pub fn show(&self, name: &str) -> Option<String> {
        self.field(name).map(|f| f.show.clone())
    }
}

/// One packet as tshark dissects it: its layers in document order, each with its own fields.
#[derive(Debug)]
pub struct Dissection {
    pub number: usize,
    pub cap_len: usize,
    pub len: usize,
    pub protos: Vec<Proto>,
}

impl Dissection {
    pub fn proto_at(&self, names: &[&str], pos: usize) -> Option<&Proto> {
        self.protos
            .iter()
            .find(|p| p.pos == pos && names.contains(&p.name.as_str()))
    }
}

pub fn attr<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=\"");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    Some(&rest[..rest.find('"')?])
}

pub fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// `tshark -T pdml` of `path`, parsed line by line (tshark writes one element per line).
pub fn pdml(path: &Path, decode_as: &[String]) -> Vec<Dissection> {
    let mut args = vec!["-n", "-r", path.to_str().unwrap(), "-T", "pdml"];
    for d in decode_as {
        args.extend(["-d", d.as_str()]);
    }
    let (ok, out, err) = tool("tshark", &args);
    assert!(ok, "tshark {args:?}: {err}");
    let mut packets: Vec<Dissection> = Vec::new();
    // Indices of the open <proto> elements of the current packet.
    let mut open: Vec<usize> = Vec::new();
    for line in out.lines().map(str::trim_start) {
        if line.starts_with("<packet") {
            packets.push(Dissection {
                number: packets.len() + 1,
                cap_len: 0,
                len: 0,
                protos: Vec::new(),
            });
            open.clear();
        } else if line.starts_with("</proto>") {
            open.pop();
        } else if line.starts_with("<proto ") {
            let pkt = packets.last_mut().expect("<proto> inside <packet>");
            pkt.protos.push(Proto {
                name: attr(line, "name").unwrap_or("").to_string(),
                pos: attr(line, "pos").and_then(|v| v.parse().ok()).unwrap_or(0),
                fields: Vec::new(),
            });
            if !line.ends_with("/>") {
                open.push(pkt.protos.len() - 1);
            }
        } else if line.starts_with("<field ") {
            let pkt = packets.last_mut().expect("<field> inside <packet>");
            let fld = Field {
                name: attr(line, "name").unwrap_or("").to_string(),
                show: attr(line, "show").unwrap_or("").to_string(),
                value: attr(line, "value").unwrap_or("").to_string(),
                pos: attr(line, "pos").and_then(|v| v.parse().ok()).unwrap_or(0),
                size: attr(line, "size").and_then(|v| v.parse().ok()).unwrap_or(0),
            };
            match fld.name.as_str() {
                "frame.len" => pkt.len = fld.num().unwrap_or(0) as usize,
                "frame.cap_len" => pkt.cap_len = fld.num().unwrap_or(0) as usize,
                _ => {}
            }
            if let Some(&i) = open.last() {
                pkt.protos[i].fields.push(fld);
            }
        }
    }
    packets
}

/// A record of a capture file.
pub struct Record {
    pub data: Vec<u8>,
    pub orig_len: u32,
}

/// Cuts every record of the pcap at `path` to `snaplen` bytes, keeping its original length.
pub fn cut_records(path: &Path, snaplen: usize) {
    use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
    let bytes = std::fs::read(path).unwrap();
    let mut r = PcapReader::new(&bytes[..]).expect("pcap header");
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    while let Some(p) = r.next_packet() {
        let p = p.expect("pcap record");
        let keep = p.data.len().min(snaplen);
        w.write_packet(&PcapPacket::new(p.timestamp, p.orig_len, &p.data[..keep]))
            .unwrap();
    }
}

/// Every packet of a pcap or pcapng file, read with the `pcap-file` crate.
pub fn read_capture(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        use pcap_file::pcapng::{Block, PcapNgReader};
        let mut r = PcapNgReader::new(&bytes[..]).expect("pcapng header");
        while let Some(b) = r.next_block() {
            match b.expect("pcapng block") {
                Block::EnhancedPacket(p) => out.push(Record {
                    orig_len: p.original_len,
                    data: p.data.into_owned(),
                }),
                Block::SimplePacket(p) => out.push(Record {
                    orig_len: p.original_len,
                    data: p.data.into_owned(),
                }),
                Block::Packet(_) => panic!("{}: obsolete pcapng Packet block", path.display()),
                _ => {}
            }
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).expect("pcap header");
        while let Some(p) = r.next_packet() {
            let p = p.expect("pcap record");
            out.push(Record {
                orig_len: p.orig_len,
                data: p.data.into_owned(),
            });
        }
    }
    out
}
