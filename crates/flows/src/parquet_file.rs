//! Flow records as a Parquet file (`NAME.flows.parquet` beside a store file): one row group,
//! Snappy pages, the columns below, so `duckdb`, Athena and Spark read a store's flows with a
//! glob. Times are `TIMESTAMP(MICROS, UTC)`, the unit all three read (Spark refuses
//! nanoseconds by default); addresses are text, the form people type in a `WHERE`.

use crate::table::FlowRecord;
use crate::FlowsError;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::reader::get_typed_column_reader;
use parquet::data_type::DataType;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::RowGroupReader;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
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

/// The integer columns without a dictionary, delta-packed.
const DELTA_COLUMNS: [&str; 12] = [
    "first_ts",
    "last_ts",
    "session_id",
    "ether_type",
    "vlan",
    "ip_version",
    "src_port",
    "packets",
    "bytes",
    "captured_bytes",
    "tcp_flags",
    "truncated",
];

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
        )]));
    // Rows go by first time: times, and counts of a few digits, delta-pack to a byte or two
    // where plain takes eight.
    let props = DELTA_COLUMNS
        .iter()
        .fold(props, |p, c| {
            p.set_column_encoding((*c).into(), Encoding::DELTA_BINARY_PACKED)
        })
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
    // The seal's place, right after the last column chunk (readers skip bytes no chunk
    // claims); filled in once the footer is written, as the seal covers it too.
    let at = w.bytes_written();
    w.write_all(&[0; SEAL_LEN])
        .map_err(|e| FlowsError::Parquet(e.to_string()))?;
    w.into_inner().map_err(perr)?;
    let sum = sealed_checksum(&out, at);
    out[at..at + 8].copy_from_slice(SEAL_MAGIC);
    out[at + 8..at + SEAL_LEN].copy_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// The rows of a flow records file's bytes. A file of another schema, or damaged, is an error.
/// Read column by column (the record API costs microseconds a row).
pub fn decode(bytes: Vec<u8>) -> crate::Result<Vec<FlowRecord>> {
    let len = bytes.len() as u64;
    let bytes = Bytes::from(bytes);
    let reader = SerializedFileReader::new(bytes.clone()).map_err(perr)?;
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
    let end = check_chunks(reader.metadata(), len)?;
    check_seal(&bytes, end)?;
    let mut rows = Vec::with_capacity(meta.num_rows().max(0) as usize);
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(perr)?;
        let n = rg.metadata().num_rows().max(0) as usize;
        let long =
            |i: usize| -> crate::Result<Vec<i64>> { required(column::<Int64Type>(&*rg, i, n)?, n) };
        let int =
            |i: usize| -> crate::Result<Vec<i32>> { required(column::<Int32Type>(&*rg, i, n)?, n) };
        let opt = |i: usize| -> crate::Result<Vec<Option<i32>>> {
            optional(column::<Int32Type>(&*rg, i, n)?, n)
        };
        let (first, last) = (long(0)?, long(1)?);
        let (vni, session, ether_type, vlan) = (opt(2)?, int(3)?, int(4)?, opt(5)?);
        let (ip_version, protocol) = (opt(6)?, opt(7)?);
        let src = optional(column::<ByteArrayType>(&*rg, 8, n)?, n)?;
        let dst = optional(column::<ByteArrayType>(&*rg, 9, n)?, n)?;
        let (src_port, dst_port) = (opt(10)?, opt(11)?);
        let (packets, bytes, captured, flags, truncated) =
            (long(12)?, long(13)?, long(14)?, int(15)?, long(16)?);
        for k in 0..n {
            rows.push(FlowRecord {
                first_ts_ns: ts(first[k])?,
                last_ts_ns: ts(last[k])?,
                vni: vni[k].map(|v| v as u32),
                session_id: session[k] as u8,
                ether_type: ether_type[k] as u16,
                vlan: vlan[k].map(|v| v as u16),
                ip_version: ip_version[k].map(|v| v as u8),
                protocol: protocol[k].map(|v| v as u8),
                src_addr: addr(src[k].as_ref())?,
                dst_addr: addr(dst[k].as_ref())?,
                src_port: src_port[k].map(|v| v as u16),
                dst_port: dst_port[k].map(|v| v as u16),
                packets: count(packets[k])?,
                bytes: count(bytes[k])?,
                captured_bytes: count(captured[k])?,
                tcp_flags: flags[k] as u8,
                truncated: count(truncated[k])?,
            });
        }
    }
    Ok(rows)
}

/// Every column chunk lies inside the file; returns where the last one ends. The parquet
/// crate asserts this (a panic, which in this program's release build is an abort) where a
/// damaged footer says otherwise (found by the `flows` fuzz target).
fn check_chunks(meta: &ParquetMetaData, len: u64) -> crate::Result<u64> {
    let mut last = 4;
    for rg in meta.row_groups() {
        for c in rg.columns() {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            let size = c.compressed_size();
            let end = u64::try_from(start)
                .ok()
                .zip(u64::try_from(size).ok())
                .and_then(|(s, n)| s.checked_add(n));
            match end {
                Some(e) if e <= len => last = last.max(e),
                _ => {
                    return Err(FlowsError::Format(format!(
                        "column chunk at {start} of {size} bytes outside the file's {len}"
                    )))
                }
            }
        }
    }
    Ok(last)
}

/// The seal: [`SEAL_MAGIC`] and the checksum of every other byte of the file, written right
/// after the last column chunk, where Parquet readers skip it. `flows` checks it before it
/// decodes a page: the parquet crate's decoders panic (abort, here) on some damaged pages
/// (the fuzz target found them within seconds), so a file is decoded only if it is byte for
/// byte what the store writer wrote.
const SEAL_MAGIC: &[u8; 8] = b"MCFLOWS1";
const SEAL_LEN: usize = 16;

/// The checksum of a file's bytes but the seal's checksum field at `at + 8`.
fn sealed_checksum(file: &[u8], at: usize) -> u64 {
    let mut covered = Vec::with_capacity(file.len());
    covered.extend_from_slice(&file[..at]);
    covered.extend_from_slice(SEAL_MAGIC);
    covered.extend_from_slice(&file[at + SEAL_LEN..]);
    mirrorcap_index::checksum::checksum(&covered)
}

fn check_seal(file: &[u8], at: u64) -> crate::Result<()> {
    let at = usize::try_from(at).unwrap_or(usize::MAX);
    let seal = at
        .checked_add(SEAL_LEN)
        .and_then(|end| file.get(at..end))
        .ok_or_else(|| FlowsError::Format("no seal after the column chunks".into()))?;
    if &seal[..8] != SEAL_MAGIC {
        return Err(FlowsError::Format(
            "no seal after the column chunks (not written by mirrorcap, or damaged)".into(),
        ));
    }
    let want = u64::from_le_bytes(seal[8..].try_into().expect("8 bytes"));
    if sealed_checksum(file, at) != want {
        return Err(FlowsError::Format(
            "checksum mismatch (the file is damaged)".into(),
        ));
    }
    Ok(())
}

/// Column `i` of a row group of `n` rows: its values (present ones only) and definition levels.
fn column<T: DataType>(
    rg: &dyn RowGroupReader,
    i: usize,
    n: usize,
) -> crate::Result<(Vec<T::T>, Vec<i16>)> {
    let mut r = get_typed_column_reader::<T>(rg.get_column_reader(i).map_err(perr)?);
    let (mut vals, mut defs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut records = 0;
    while records < n {
        let (got, _, _) = r
            .read_records(n - records, Some(&mut defs), None, &mut vals)
            .map_err(perr)?;
        if got == 0 {
            break;
        }
        records += got;
    }
    if records != n {
        return Err(FlowsError::Format(format!(
            "column {}: {records} of {n} rows",
            COLUMNS[i]
        )));
    }
    Ok((vals, defs))
}

fn required<V>((vals, _): (Vec<V>, Vec<i16>), n: usize) -> crate::Result<Vec<V>> {
    if vals.len() != n {
        return Err(FlowsError::Format("a required column has nulls".into()));
    }
    Ok(vals)
}

fn optional<V>((vals, defs): (Vec<V>, Vec<i16>), n: usize) -> crate::Result<Vec<Option<V>>> {
    if defs.len() != n || defs.iter().filter(|&&d| d == 1).count() != vals.len() {
        return Err(FlowsError::Format(
            "an optional column's levels and values disagree".into(),
        ));
    }
    let mut vals = vals.into_iter();
    Ok(defs
        .iter()
        .map(|&d| if d == 1 { vals.next() } else { None })
        .collect())
}

fn ts(us: i64) -> crate::Result<u64> {
    u64::try_from(us)
        .ok()
        .and_then(|us| us.checked_mul(1000))
        .ok_or_else(|| FlowsError::Format(format!("timestamp {us} us out of range")))
}

fn count(v: i64) -> crate::Result<u64> {
    u64::try_from(v).map_err(|_| FlowsError::Format(format!("negative count {v}")))
}

fn addr(b: Option<&ByteArray>) -> crate::Result<Option<IpAddr>> {
    let Some(b) = b else {
        return Ok(None);
    };
    std::str::from_utf8(b.data())
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| FlowsError::Format(format!("{:?} is not an IP address", b.data())))
}
