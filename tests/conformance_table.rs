//! The table of docs/conformance.md: every row of the conformance table run in one test
//! (ignored by default, it takes the whole corpus):
//! `cargo nextest run --test conformance_table --run-ignored ignored-only --no-capture`.
mod conformance;
mod support;
use conformance::*;

/// Runs every row and prints the markdown table of docs/conformance.md (then fails if any row
/// did not conform, so a pasted table always comes from a conforming run, or says it did not).
#[test]
#[ignore = "slow: runs the whole corpus in one test to print docs/conformance.md's table"]
fn conformance_table() {
    let mut out = String::from(
        "| file | run flags | packets | captured | dropped (reason=count) | truncated | VNIs (vni×frames) | reserved bits | conforms | note |\n\
         |------|-----------|--------:|---------:|------------------------|----------:|-------------------|--------------:|----------|------|\n",
    );
    let mut bad = Vec::new();
    for row in ROWS {
        let rep = run_row(row);
        let s = &rep.observed;
        let drops = if s.drops.is_empty() {
            "—".to_string()
        } else {
            join(s.drops.iter().map(|(k, v)| format!("`{k}`={v}")))
        };
        let vnis = if s.vnis.is_empty() {
            "—".to_string()
        } else {
            join(s.vnis.iter().map(|(k, v)| format!("{k}×{}", v.0)))
        };
        let flags = if row.args.is_empty() {
            "—".to_string()
        } else {
            format!("`{}`", row.args.join(" "))
        };
        let ok = if rep.failures.is_empty() {
            "yes".to_string()
        } else {
            bad.push(format!(
                "{} {:?}:\n  {}",
                row.file,
                row.args,
                rep.failures.join("\n  ")
            ));
            format!("**NO** ({} mismatches)", rep.failures.len())
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.file,
            flags,
            s.rx_packets,
            s.captured,
            drops,
            s.truncated,
            vnis,
            s.reserved_bits,
            ok,
            row.note
        ));
    }
    println!("{out}");
    assert!(
        bad.is_empty(),
        "rows that do not conform:\n{}",
        bad.join("\n")
    );
}

fn join(it: impl Iterator<Item = String>) -> String {
    it.collect::<Vec<_>>().join(", ")
}
