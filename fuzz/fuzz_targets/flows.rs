//! Fuzzes the flow records reader and the flow tuple: any bytes given as a `.flows.parquet`
//! are rows or an error, never a panic (a damaged file in a store must not take `flows` down),
//! and rows that decode encode and decode to themselves; any bytes as an inner frame give a
//! tuple, and the table's row for it counts the frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mirrorcap_flows::{decode, encode, FlowTable};

fuzz_target!(|data: &[u8]| {
    if let Ok(rows) = decode(data.to_vec()) {
        let again = decode(encode(&rows).expect("rows that decode encode")).expect("and decode");
        assert_eq!(again, rows);
    }
    let mut t = FlowTable::new();
    t.push(1_000, data, data.len() as u32 + 1, 42);
    let rows = t.take();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].packets, rows[0].truncated), (1, 1));
    // A parquet file's magic at both ends steers the fuzzer into the reader.
    let mut framed = b"PAR1".to_vec();
    framed.extend_from_slice(data);
    framed.extend_from_slice(b"PAR1");
    let _ = decode(framed);
    // A real file, damaged where the input says: reaches the reader's depths at once.
    let mut t = FlowTable::new();
    for (i, chunk) in data.chunks(48).enumerate() {
        t.push(i as u64 * 1_000, chunk, chunk.len() as u32, i as u32);
    }
    let mut file = encode(&t.take()).expect("encode");
    if let [a, b, x, cut, ..] = *data {
        let at = usize::from(u16::from_le_bytes([a, b])) % file.len();
        file[at] ^= x | 1;
        if cut & 1 == 1 {
            file.truncate(at.max(8));
        }
    }
    let _ = decode(file);
});
