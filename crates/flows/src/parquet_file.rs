//! Flow records as a Parquet file (`NAME.flows.parquet` beside a store file): one row group,
//! Snappy pages, the columns below, so `duckdb`, Athena and Spark read a store's flows with a
//! glob. Times are `TIMESTAMP(MICROS, UTC)`, the unit all three read (Spark refuses
//! nanoseconds by default); addresses are text, the form people type in a `WHERE`.

use crate::table::FlowRecord;
use crate::FlowsError;
use bytes::Bytes;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;
use std::net::IpAddr;
use std::sync::Arc;

/// The schema; `docs/flows.md` describes each column.
pub const SCHEMA: &str = "
message mirrorcap_flow {
  REQUIRED INT64 first_ts (TIMESTAMP(MICROS,true));
  REQUIRED INT64 last_ts (TIMESTAMP(MICROS,true));
  OPTIONAL INT32 vni;
  REQUIRED INT32 session_id;
  REQUIRED INT32 ether_type;
  OPTIONAL INT32 vlan;
  OPTIONAL INT32 ip_version;
  OPTIONAL INT32 protocol;
  OPTIONAL BYTE_ARRAY src_addr (UTF8);
  OPTIONAL BYTE_ARRAY dst_addr (UTF8);
  OPTIONAL INT32 src_port;
  OPTIONAL INT32 dst_port;
  REQUIRED INT64 packets;
  REQUIRED INT64 bytes;
  REQUIRED INT64 captured_bytes;
  REQUIRED INT32 tcp_flags;
  REQUIRED INT64 truncated;
}";

/// The key-value metadata entry that marks the file as mirrorcap's, with the format version.
pub const FORMAT_KEY: &str = "mirrorcap.flow_records";
pub const FORMAT_VERSION: &str = "1";

const COLUMNS: [&str; 17] = [
    "first_ts",
    "last_ts",
    "vni",
    "session_id",
    "ether_type",
    "vlan",
    "ip_version",
    "protocol",
    "src_addr",
    "dst_addr",
    "src_port",
    "dst_port",
    "packets",
    "bytes",
    "captured_bytes",
    "tcp_flags",
    "truncated",
];

fn perr(e: parquet::errors::ParquetError) -> FlowsError {
    FlowsError::Parquet(e.to_string())
}

/// An optional column: values of the present rows, and each row's definition level.
fn opt<T: Copy>(rows: &[FlowRecord], f: impl Fn(&FlowRecord) -> Option<T>) -> (Vec<T>, Vec<i16>) {
    let mut vals = Vec::with_capacity(rows.len());
    let defs = rows
        .iter()
        .map(|r| match f(r) {
            Some(v) => {
                vals.push(v);
                1
            }
            None => 0,
        })
        .collect();
    (vals, defs)
}

fn micros(ns: u64) -> i64 {
    (ns / 1000) as i64
}

/// The Parquet bytes of `rows`.
pub fn encode(rows: &[FlowRecord]) -> crate::Result<Vec<u8>> {
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(perr)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        // Dictionaries only where values repeat (sessions, protocols, the servers' side);
        // on times and counts they cost the store thread and save nothing.
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled("vni".into(), true)
        .set_column_dictionary_enabled("protocol".into(), true)
        .set_column_dictionary_enabled("dst_addr".into(), true)
        .set_column_dictionary_enabled("dst_port".into(), true)
        // Min/max per column chunk (one per file), which Athena and DuckDB skip files by;
        // per page they would only cost time.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("mirrorcap {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            FORMAT_KEY.to_string(),
            FORMAT_VERSION.to_string(),
        )]))
        .build();
    let mut out = Vec::new();
    let mut w = SerializedFileWriter::new(&mut out, schema, Arc::new(props)).map_err(perr)?;
    let mut rg = w.next_row_group().map_err(perr)?;
    let long = |f: &dyn Fn(&FlowRecord) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let int = |f: &dyn Fn(&FlowRecord) -> i32| rows.iter().map(f).collect::<Vec<i32>>();
    let addr = |a: Option<IpAddr>| a.map(|a| a.to_string());
    let mut col = 0;
    while let Some(mut c) = rg.next_column().map_err(perr)? {
        let written = match COLUMNS[col] {
            "first_ts" => {
                c.typed::<Int64Type>()
                    .write_batch(&long(&|r| micros(r.first_ts_ns)), None, None)
            }
            "last_ts" => {
                c.typed::<Int64Type>()
                    .write_batch(&long(&|r| micros(r.last_ts_ns)), None, None)
            }
            "session_id" => {
                c.typed::<Int32Type>()
                    .write_batch(&int(&|r| r.session_id.into()), None, None)
            }
            "ether_type" => {
                c.typed::<Int32Type>()
                    .write_batch(&int(&|r| r.ether_type.into()), None, None)
            }
            "tcp_flags" => {
                c.typed::<Int32Type>()
                    .write_batch(&int(&|r| r.tcp_flags.into()), None, None)
            }
            "packets" => {
                c.typed::<Int64Type>()
                    .write_batch(&long(&|r| r.packets as i64), None, None)
            }
            "bytes" => c
                .typed::<Int64Type>()
                .write_batch(&long(&|r| r.bytes as i64), None, None),
            "captured_bytes" => {
                c.typed::<Int64Type>()
                    .write_batch(&long(&|r| r.captured_bytes as i64), None, None)
            }
            "truncated" => {
                c.typed::<Int64Type>()
                    .write_batch(&long(&|r| r.truncated as i64), None, None)
            }
            name @ ("vni" | "vlan" | "ip_version" | "protocol" | "src_port" | "dst_port") => {
                let (v, d) = opt(rows, |r| match name {
                    "vni" => r.vni.map(|v| v as i32),
                    "vlan" => r.vlan.map(i32::from),
                    "ip_version" => r.ip_version.map(i32::from),
                    "protocol" => r.protocol.map(i32::from),
                    "src_port" => r.src_port.map(i32::from),
                    _ => r.dst_port.map(i32::from),
                });
                c.typed::<Int32Type>().write_batch(&v, Some(&d), None)
            }
            name => {
                let texts: Vec<Option<String>> = rows
                    .iter()
                    .map(|r| {
                        addr(if name == "src_addr" {
                            r.src_addr
                        } else {
                            r.dst_addr
                        })
                    })
                    .collect();
                let defs: Vec<i16> = texts.iter().map(|t| i16::from(t.is_some())).collect();
                let vals: Vec<ByteArray> = texts
                    .into_iter()
                    .flatten()
                    .map(|s| ByteArray::from(s.into_bytes()))
                    .collect();
                c.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&defs), None)
            }
        };
        written.map_err(perr)?;
        c.close().map_err(perr)?;
        col += 1;
    }
    rg.close().map_err(perr)?;
    w.close().map_err(perr)?;
    Ok(out)
}

/// The rows of a flow records file's bytes. A file of another schema, or damaged, is an error.
pub fn decode(bytes: Vec<u8>) -> crate::Result<Vec<FlowRecord>> {
    let reader = SerializedFileReader::new(Bytes::from(bytes)).map_err(perr)?;
    let meta = reader.metadata().file_metadata();
    let ours = meta
        .key_value_metadata()
        .into_iter()
        .flatten()
        .any(|kv| kv.key == FORMAT_KEY);
    let names: Vec<&str> = meta
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name())
        .collect();
    if !ours || names != COLUMNS {
        return Err(FlowsError::Format(format!(
            "not mirrorcap flow records (columns {names:?})"
        )));
    }
    let mut rows = Vec::with_capacity(meta.num_rows().max(0) as usize);
    for row in reader.get_row_iter(None).map_err(perr)? {
        let row = row.map_err(perr)?;
        let mut f = row.get_column_iter().map(|(_, f)| f);
        let mut next = || f.next().cloned().unwrap_or(Field::Null);
        rows.push(FlowRecord {
            first_ts_ns: ts(next())?,
            last_ts_ns: ts(next())?,
            vni: int(next())?.map(|v| v as u32),
            session_id: req(int(next())?)? as u8,
            ether_type: req(int(next())?)? as u16,
            vlan: int(next())?.map(|v| v as u16),
            ip_version: int(next())?.map(|v| v as u8),
            protocol: int(next())?.map(|v| v as u8),
            src_addr: text(next())?,
            dst_addr: text(next())?,
            src_port: int(next())?.map(|v| v as u16),
            dst_port: int(next())?.map(|v| v as u16),
            packets: long(next())?,
            bytes: long(next())?,
            captured_bytes: long(next())?,
            tcp_flags: req(int(next())?)? as u8,
            truncated: long(next())?,
        });
    }
    Ok(rows)
}

fn bad(what: &str, f: &Field) -> FlowsError {
    FlowsError::Format(format!("{what} expected, found {f:?}"))
}

fn ts(f: Field) -> crate::Result<u64> {
    match f {
        Field::TimestampMicros(us) if us >= 0 => Ok(us as u64 * 1000),
        f => Err(bad("a timestamp", &f)),
    }
}

fn int(f: Field) -> crate::Result<Option<i64>> {
    match f {
        Field::Int(v) => Ok(Some(v.into())),
        Field::Null => Ok(None),
        f => Err(bad("an INT32", &f)),
    }
}

fn req(v: Option<i64>) -> crate::Result<i64> {
    v.ok_or_else(|| FlowsError::Format("a required column is null".into()))
}

fn long(f: Field) -> crate::Result<u64> {
    match f {
        Field::Long(v) if v >= 0 => Ok(v as u64),
        f => Err(bad("a count", &f)),
    }
}

fn text(f: Field) -> crate::Result<Option<IpAddr>> {
    match f {
        Field::Str(s) => s
            .parse()
            .map(Some)
            .map_err(|_| FlowsError::Format(format!("{s:?} is not an IP address"))),
        Field::Null => Ok(None),
        f => Err(bad("an address", &f)),
    }
}
